// Package pgcluster starts throwaway PostgreSQL clusters (version 10 or later)
// from the installed server binaries, for tests and for `pgmedic demo`.
//
// A cluster lives entirely in a fresh temporary directory: the data directory,
// the unix socket directory and the server log. Start runs initdb, writes the
// configuration and starts the postmaster; Stop kills it and removes the
// directory.
//
// When the calling process is root, initdb and postgres run as the "postgres"
// user (or "nobody"), because both refuse to run as root.
//
// The postmaster is started directly, as a child of the calling process,
// instead of through `pg_ctl start`. pg_ctl daemonizes the postmaster, which
// then becomes a child of init; where init does not reap orphans (common in
// containers) every stopped cluster would leave a zombie behind. As our own
// child the postmaster is always reaped, Stop knows exactly when it has gone,
// and on Linux the kernel shuts it down if the calling process dies first.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configures Start.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres; "" means FindBinDir().
	BinDir string
	// Settings are extra postgresql.conf settings, e.g.
	// {"max_connections": "20"}. They override the package defaults, except
	// "port" and "unix_socket_directories", which the cluster manages itself.
	// Values are written quoted, so units ("64MB") and lists are fine.
	Settings map[string]string
	// Password is the password of the bootstrap superuser "postgres", needed
	// for TCP connections; "" generates a random one (see Cluster.Password).
	Password string
	// Logf, if set, receives progress messages and, when something fails, the
	// tail of the server log. t.Logf fits.
	Logf func(format string, args ...any)
}

// Cluster is a running throwaway PostgreSQL cluster. Its exported fields are
// read-only.
type Cluster struct {
	BinDir    string
	Dir       string // temporary root; removed by Stop
	DataDir   string // Dir/data
	SocketDir string // Dir/sock
	Port      int
	Superuser string // always "postgres"
	Password  string // the superuser's password, for TCP connections
	Version   string // e.g. "15.18", from `postgres --version`
	Major     int    // e.g. 15

	logf     func(format string, args ...any)
	runAs    *osUser           // nil: run children as the current user
	logPath  string            // Dir/server.log: the postmaster's stdout and stderr
	settings map[string]string // Options.Settings plus Restart settings

	mu      sync.Mutex // serialises Stop and Restart
	srv     *server    // nil while the server is not running
	removed bool       // Stop has run
}

// server is one run of the postmaster.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's result; read only after done is closed
}

const (
	superuser        = "postgres"
	maxPortAttempts  = 3
	startTimeout     = 60 * time.Second // when the caller's context has no deadline
	logTailLines     = 30
	confIncludeFile  = "pgmedic.conf"
	fastStopTimeout  = 30 * time.Second
	forceStopTimeout = 10 * time.Second
)

// errPortInUse marks a start failure caused by another process taking the
// port between our probe and the postmaster's bind.
var errPortInUse = errors.New("port already in use")

// Start runs initdb in a fresh temporary directory, writes the configuration
// and starts the server, returning once it accepts connections. If the port
// it picked is taken meanwhile it retries with another one. On failure it
// removes everything it created, and the error includes the tail of the
// server log. A missing BinDir yields a *NotFoundError.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := platformCheck(); err != nil {
		return nil, err
	}
	if err := validateSettings(opts.Settings); err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.Password, "\n\r\x00") {
		// initdb reads the password as the first line of a file.
		return nil, errors.New("pgcluster: Options.Password must not contain line breaks or NUL bytes")
	}

	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if missing := missingBinaries(binDir); len(missing) > 0 {
		return nil, fmt.Errorf("pgcluster: Options.BinDir %q: missing %s", binDir, strings.Join(missing, ", "))
	}

	version, major, err := serverVersion(ctx, binDir)
	if err != nil {
		return nil, err
	}
	if major < 10 {
		// Older servers lack initdb --no-sync and the "ready" status in
		// postmaster.pid that startServer waits for.
		return nil, fmt.Errorf("pgcluster: PostgreSQL %s in %s is too old; version 10 or later is required", version, binDir)
	}
	runAs, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := makeTempRoot(runAs)
	if err != nil {
		return nil, err
	}

	c := &Cluster{
		BinDir:    binDir,
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "sock"),
		Superuser: superuser,
		Password:  opts.Password,
		Version:   version,
		Major:     major,
		logf:      opts.Logf,
		runAs:     runAs,
		logPath:   filepath.Join(dir, "server.log"),
		settings:  make(map[string]string, len(opts.Settings)),
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if c.Password == "" {
		c.Password = rand.Text()
	}
	for k, v := range opts.Settings {
		c.settings[k] = v
	}

	began := time.Now()
	if err := c.initAndStart(ctx); err != nil {
		err = c.withLogTail(err)
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	c.logf("pgcluster: PostgreSQL %s running as %s on port %d in %s (%.1fs)",
		c.Version, c.runAs, c.Port, c.Dir, time.Since(began).Seconds())
	return c, nil
}

func (c *Cluster) initAndStart(ctx context.Context) error {
	if err := os.Mkdir(c.SocketDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	pwfile := filepath.Join(c.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.Remove(pwfile)
	if err := chownTree(c.Dir, c.runAs); err != nil {
		return fmt.Errorf("pgcluster: handing %s to %s: %w", c.Dir, c.runAs, err)
	}

	c.logf("pgcluster: initdb %s (PostgreSQL %s, as %s)", c.DataDir, c.Version, c.runAs)
	cmd := c.command(ctx, "initdb",
		"-D", c.DataDir,
		"-U", superuser,
		"--pwfile="+pwfile,
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"-E", "UTF8",
		"--no-locale",
		// Durability of a throwaway cluster is irrelevant; skipping the
		// fsyncs makes initdb several times faster.
		"--no-sync",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, bytes.TrimSpace(out))
	}

	if err := c.writeFile(filepath.Join(c.DataDir, "pg_hba.conf"), hbaConf); err != nil {
		return err
	}
	// Our settings live in an include file so that Restart can rewrite them
	// wholesale; being included last, they override initdb's choices.
	// postgresql.auto.conf (ALTER SYSTEM) is still read after it.
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	_, err = fmt.Fprintf(f, "\n# Added by pgmedic's pgcluster.\ninclude '%s'\n", confIncludeFile)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return c.startOnFreePort(ctx)
}

// startOnFreePort picks a free port, writes the configuration with it and
// starts the server; if another process takes the port between the probe
// and the postmaster's bind, it tries another one.
func (c *Cluster) startOnFreePort(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		var err error
		if c.Port, err = freePort(); err != nil {
			return err
		}
		if err := c.writeConf(); err != nil {
			return err
		}
		err = c.startServer(ctx)
		if err == nil || !errors.Is(err, errPortInUse) || attempt == maxPortAttempts {
			return err
		}
		c.logf("pgcluster: port %d was taken before the server could bind it; retrying with another port", c.Port)
	}
}

// hbaConf trusts local (unix socket) connections and requires the password
// over TCP, so that tests can exercise both.
const hbaConf = `# Written by pgmedic's pgcluster.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  trust
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
`

// freePort asks the kernel for an unused TCP port on 127.0.0.1. Another
// process can grab it before the postmaster binds it; Start retries then.
// Ephemeral ports are handed out in a randomised order, so concurrent callers
// rarely get the same one.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// settingName matches PostgreSQL parameter names, including custom ones
// ("auto_explain.log_min_duration").
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func validateSettings(settings map[string]string) error {
	for k, v := range settings {
		if !settingName.MatchString(k) {
			return fmt.Errorf("pgcluster: invalid setting name %q", k)
		}
		switch strings.ToLower(k) {
		case "port", "unix_socket_directories":
			return fmt.Errorf("pgcluster: setting %q is managed by pgcluster and cannot be overridden", k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("pgcluster: value of setting %q must not contain line breaks or NUL bytes", k)
		}
	}
	return nil
}

// writeConf writes the include file: the package defaults, then the caller's
// settings (later lines win in postgresql.conf).
func (c *Cluster) writeConf() error {
	defaults := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(c.Port),
		"unix_socket_directories": c.SocketDir,
		// Throwaway data: trade durability for speed.
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"shared_buffers":     "32MB",
		"max_connections":    "50",
		// Keep slots free for the superuser so tests that exhaust
		// max_connections can still inspect and clean up.
		"superuser_reserved_connections": "3",
		// Tests stage prepared transactions.
		"max_prepared_transactions": "10",
		// The postmaster's stderr is Dir/server.log, read on failures.
		"logging_collector": "off",
		"log_line_prefix":   "%m [%p] %e %q%u@%d ",
		// The default only from PostgreSQL 14 on; makes CREATE ROLE ...
		// PASSWORD usable with the scram-sha-256 pg_hba.conf lines.
		"password_encryption": "scram-sha-256",
	}
	var b strings.Builder
	b.WriteString("# Written by pgmedic's pgcluster; rewritten on every start.\n")
	for _, set := range []map[string]string{defaults, c.settings} {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %s\n", k, quoteConfValue(set[k]))
		}
	}
	return c.writeFile(filepath.Join(c.DataDir, confIncludeFile), b.String())
}

// quoteConfValue quotes v as a postgresql.conf string; the server accepts a
// quoted value for parameters of every type.
func quoteConfValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(v) + "'"
}

// writeFile writes a file the server must be able to read.
func (c *Cluster) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := chownFile(path, c.runAs); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// command prepares one of the server binaries to run in the cluster's
// environment: as the server user, in its own process group, with a neutral
// environment (no PG* variables, C locale, UTC) and HOME inside the cluster
// so nothing reads the caller's home directory.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir
	cmd.SysProcAttr = sysProcAttr(c.runAs)
	// If ctx is cancelled while initdb runs, its bootstrap backend may still
	// hold the output pipe; don't let Wait block on it for long.
	cmd.WaitDelay = 5 * time.Second
	env := make([]string, 0, len(os.Environ())+4)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"),
			k == "LANG", k == "LANGUAGE", k == "TZ", k == "HOME":
			continue
		case c.runAs != nil && (k == "USER" || k == "LOGNAME"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+c.Dir, "LC_ALL=C", "TZ=UTC")
	if c.runAs != nil {
		env = append(env, "USER="+c.runAs.name, "LOGNAME="+c.runAs.name)
	}
	cmd.Env = env
	return cmd
}

// startServer starts the postmaster and waits until it accepts connections.
// It must be called with the server stopped.
func (c *Cluster) startServer(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}

	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}

	// Not CommandContext: ctx bounds the start-up only, not the server's life.
	cmd := c.command(context.Background(), "postgres", "-D", c.DataDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: starting postgres: %w", err)
	}
	srv := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		srv.err = cmd.Wait()
		close(srv.done)
	}()
	c.srv = srv

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c.ready(cmd.Process.Pid) {
			return nil
		}
		select {
		case <-srv.done:
			c.srv = nil
			status := "exit status 0"
			if srv.err != nil {
				status = srv.err.Error()
			}
			cause := fmt.Errorf("pgcluster: postgres exited during start-up (%s)", status)
			if newLog, err := readFrom(c.logPath, logStart); err == nil && portInUse(newLog) {
				cause = fmt.Errorf("%w: %w", cause, errPortInUse)
			}
			return cause
		case <-ctx.Done():
			_ = c.stopServer(sigImmediateShutdown)
			return fmt.Errorf("pgcluster: waiting for postgres to accept connections: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// ready reports whether postmaster.pid says the postmaster with the given
// pid accepts connections. This is what `pg_ctl start -w` checks too.
func (c *Cluster) ready(pid int) bool {
	data, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	// Line 1 is the pid, line 8 the status, e.g. "ready   ".
	lines := strings.Split(string(data), "\n")
	return len(lines) >= 8 &&
		strings.TrimSpace(lines[0]) == strconv.Itoa(pid) &&
		strings.TrimSpace(lines[7]) == "ready"
}

func portInUse(log []byte) bool {
	return bytes.Contains(log, []byte("Address already in use")) ||
		bytes.Contains(log, []byte("could not create any TCP/IP sockets"))
}

// stopServer sends sig to the postmaster and waits for it to exit, escalating
// to SIGQUIT and then SIGKILL if it takes too long. The postmaster waits for
// all its children before exiting, so once it has gone, they have too.
func (c *Cluster) stopServer(sig os.Signal) error {
	srv := c.srv
	if srv == nil {
		return nil
	}
	c.srv = nil
	timeout := forceStopTimeout
	if sig == sigFastShutdown {
		timeout = fastStopTimeout
	}
	signals := []os.Signal{sig}
	if sig != sigImmediateShutdown {
		signals = append(signals, sigImmediateShutdown)
	}
	for _, s := range append(signals, os.Kill) {
		select {
		case <-srv.done:
			return nil
		default:
		}
		if err := srv.cmd.Process.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pgcluster: signalling postmaster %d: %w", srv.cmd.Process.Pid, err)
		}
		select {
		case <-srv.done:
			return nil
		case <-time.After(timeout):
			c.logf("pgcluster: postmaster %d did not exit within %v of %v; escalating", srv.cmd.Process.Pid, timeout, s)
			timeout = forceStopTimeout
		}
	}
	return fmt.Errorf("pgcluster: postmaster %d did not exit even after SIGKILL", srv.cmd.Process.Pid)
}

// Stop stops the server (immediate shutdown) and removes Dir. It is safe to
// call more than once; later calls do nothing and return nil.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return nil
	}
	c.removed = true
	err := c.stopServer(sigImmediateShutdown)
	if rmErr := os.RemoveAll(c.Dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("pgcluster: removing %s: %w", c.Dir, rmErr))
	}
	if err == nil {
		c.logf("pgcluster: stopped the server and removed %s", c.Dir)
	}
	return err
}

// Restart stops the server (fast shutdown) and starts it again on the same
// port, after merging settings into the cluster's configuration. Settings
// from Start and earlier Restarts persist unless overridden. If the server
// does not come back, the cluster stays stopped (Stop still cleans up) and the
// error includes the tail of the server log.
func (c *Cluster) Restart(ctx context.Context, settings map[string]string) error {
	if err := validateSettings(settings); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return errors.New("pgcluster: Restart called after Stop")
	}
	for k, v := range settings {
		c.settings[k] = v
	}
	if err := c.writeConf(); err != nil {
		return err
	}
	if err := c.stopServer(sigFastShutdown); err != nil {
		return c.withLogTail(err)
	}
	began := time.Now()
	if err := c.startServer(ctx); err != nil {
		return c.withLogTail(err)
	}
	c.logf("pgcluster: restarted the server on port %d (%.1fs)", c.Port, time.Since(began).Seconds())
	return nil
}

// PID returns the postmaster's process id, or 0 if the server is not running.
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return 0
	}
	return c.srv.cmd.Process.Pid
}

// ConnString returns a libpq keyword/value connection string for the unix
// socket. user "" means the superuser, db "" means "postgres". Local
// connections are trusted, so no password is needed.
func (c *Cluster) ConnString(db, user string) string {
	return c.connString(c.SocketDir, db, user, "")
}

// TCPConnString is like ConnString but connects over TCP to 127.0.0.1, which
// requires a password (scram-sha-256); password "" omits it.
func (c *Cluster) TCPConnString(db, user, password string) string {
	return c.connString("127.0.0.1", db, user, password)
}

func (c *Cluster) connString(host, db, user, password string) string {
	if user == "" {
		user = c.Superuser
	}
	if db == "" {
		db = "postgres"
	}
	s := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		quoteConnValue(host), c.Port, quoteConnValue(user), quoteConnValue(db))
	if password != "" {
		s += " password=" + quoteConnValue(password)
	}
	return s
}

// quoteConnValue quotes a libpq connection string value when needed: empty
// values and values with whitespace, quotes or backslashes go in single
// quotes, with ' and \ backslash-escaped.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\v\f'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Exec runs sql (which may hold several statements) as the superuser in
// database db ("" means "postgres"), over the unix socket.
func (c *Cluster) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, c.ConnString(db, ""))
	if err != nil {
		return fmt.Errorf("pgcluster: connecting to %s: %w", c.SocketDir, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Without arguments pgx uses the simple protocol, which accepts several
	// statements in one string.
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgcluster: exec: %w", err)
	}
	return nil
}

// withLogTail appends the end of the server log to err (and hands it to
// Logf), since that is where PostgreSQL explains why it failed.
func (c *Cluster) withLogTail(err error) error {
	tail := logTail(c.logPath, logTailLines)
	if tail == "" {
		return err
	}
	c.logf("pgcluster: server log tail:\n%s", tail)
	return fmt.Errorf("%w\nserver log (last lines):\n%s", err, tail)
}

// logTail returns the last n lines of the file at path, or "" if it cannot be
// read.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func readFrom(path string, offset int64) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	return data[offset:], nil
}

// versionRE matches `postgres --version` output such as
// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" or "... 18beta1".
var versionRE = regexp.MustCompile(`\(PostgreSQL\) ((\d+)\S*)`)

func serverVersion(ctx context.Context, binDir string) (string, int, error) {
	// --version is answered before postgres's refusal to run as root.
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", 0, fmt.Errorf("pgcluster: %s --version: %w", filepath.Join(binDir, "postgres"), err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", 0, fmt.Errorf("pgcluster: unrecognised postgres --version output %q", bytes.TrimSpace(out))
	}
	major, err := strconv.Atoi(string(m[2]))
	if err != nil {
		return "", 0, fmt.Errorf("pgcluster: unrecognised postgres --version output %q", bytes.TrimSpace(out))
	}
	return string(m[1]), major, nil
}

// maxTempBaseLen keeps the socket path, <base>/pgmedic-<10 digits>/sock/
// .s.PGSQL.<port>.lock, within the 104 bytes macOS allows (Linux: 108).
const maxTempBaseLen = 60

// makeTempRoot creates the cluster's root directory under os.TempDir(), or
// under /tmp when TMPDIR is unsuitable: too long for a unix socket path,
// containing characters unix_socket_directories cannot take, or (as root) not
// traversable by the server user.
func makeTempRoot(runAs *osUser) (string, error) {
	base := os.TempDir()
	if len(base) > maxTempBaseLen || strings.ContainsAny(base, `,"`) || !searchable(base, runAs) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgmedic-")
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	return dir, nil
}
