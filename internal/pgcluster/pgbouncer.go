package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Bouncer is a private PgBouncer in front of a Cluster, so that pgmedic
// can be tested the way many production servers are reached.
type Bouncer struct {
	Port     int
	PoolMode string
	Dir      string // Cluster.Dir/bouncer-N; removed with the cluster

	cmd  *exec.Cmd
	done chan struct{}
	c    *Cluster
}

// BouncerOptions configures StartBouncer.
type BouncerOptions struct {
	// PoolMode is "session" or "transaction".
	PoolMode string
	// PoolSize is default_pool_size; 0 means 2, small enough that
	// pgmedic and an application share server connections.
	PoolSize int
	// Users may log in through the bouncer (auth_type=trust still wants
	// them listed); the superuser always may.
	Users []string
}

// FindPgBouncer locates the pgbouncer binary: in PATH, or where Debian
// installs it.
func FindPgBouncer() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer", "/usr/local/bin/pgbouncer"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("pgbouncer not found in PATH or /usr/sbin (Debian: apt-get install pgbouncer; scripts/ensure-pgbouncer does it)")
}

// StartBouncer runs PgBouncer in the foreground, as the user the cluster
// runs as (PgBouncer refuses root), listening on 127.0.0.1 and a socket
// directory of its own, with trust authentication towards clients and the
// cluster's unix socket towards the server. It returns once a client can
// log in through it.
func (c *Cluster) StartBouncer(ctx context.Context, bin string, opts BouncerOptions) (*Bouncer, error) {
	if opts.PoolMode == "" {
		opts.PoolMode = "transaction"
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 2
	}
	dir, err := os.MkdirTemp(c.Dir, "bouncer-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := chownTree(dir, c.runAs); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	var users strings.Builder
	for _, u := range append([]string{c.Superuser}, opts.Users...) {
		fmt.Fprintf(&users, "%q \"\"\n", u)
	}
	if err := c.writeFile(filepath.Join(dir, "userlist.txt"), users.String()); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < maxPortAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		b, err := c.runBouncer(ctx, bin, dir, port, opts)
		if err == nil {
			return b, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (c *Cluster) runBouncer(ctx context.Context, bin, dir string, port int, opts BouncerOptions) (*Bouncer, error) {
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir = %s
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 100
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, c.SocketDir, c.Port, port, dir, filepath.Join(dir, "userlist.txt"), c.Superuser, opts.PoolMode, opts.PoolSize,
		filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := c.writeFile(iniPath, ini); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, iniPath)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr(c.runAs)
	cmd.Env = []string{"HOME=" + dir, "LC_ALL=C", "TZ=UTC", "PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgcluster: starting pgbouncer: %w", err)
	}
	b := &Bouncer{Port: port, PoolMode: opts.PoolMode, Dir: dir, cmd: cmd, done: make(chan struct{}), c: c}
	go func() {
		_ = cmd.Wait()
		close(b.done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-b.done:
			return nil, fmt.Errorf("pgcluster: pgbouncer exited during start-up:\n%s", logTail(filepath.Join(dir, "pgbouncer.log"), logTailLines))
		default:
		}
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			return b, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Stop()
	return nil, fmt.Errorf("pgcluster: pgbouncer did not listen on port %d:\n%s", port, logTail(filepath.Join(dir, "pgbouncer.log"), logTailLines))
}

// ConnString is a connection string through the bouncer, over TCP.
func (b *Bouncer) ConnString(db, user string) string {
	if user == "" {
		user = b.c.Superuser
	}
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable",
		b.Port, quoteConnValue(user), quoteConnValue(db))
}

// Stop ends PgBouncer (SIGTERM: at once; SIGINT would wait for clients) and waits for it.
func (b *Bouncer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}
