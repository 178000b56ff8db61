//go:build unix

package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, ctx context.Context, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect %q: %v", connString, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// processGone reports whether no live process has the given pid. A zombie
// counts as gone: it has exited and merely awaits reaping.
func processGone(pid int) bool {
	if runtime.GOOS == "linux" {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// The state follows the parenthesised command name.
		i := strings.LastIndexByte(string(stat), ')')
		return i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z")
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// TestCluster exercises one cluster through its whole life: connections over
// the socket and TCP, Exec, Restart and Stop.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const password = `s3cret 'pw' \x`
	c := startForTest(t, Options{
		Settings: map[string]string{"max_connections": "20"},
		Password: password,
	})

	if c.Superuser != "postgres" || c.Password != password {
		t.Errorf("Superuser, Password = %q, %q", c.Superuser, c.Password)
	}
	if c.Major < 10 || !strings.HasPrefix(c.Version, strconv.Itoa(c.Major)) {
		t.Errorf("Version %q, Major %d", c.Version, c.Major)
	}
	if c.DataDir != filepath.Join(c.Dir, "data") || c.SocketDir != filepath.Join(c.Dir, "sock") {
		t.Errorf("DataDir %q, SocketDir %q, Dir %q", c.DataDir, c.SocketDir, c.Dir)
	}

	t.Run("socket", func(t *testing.T) {
		conn := connect(t, ctx, c.ConnString("postgres", ""))
		for setting, want := range map[string]string{
			"max_connections":           "20", // from Options.Settings
			"max_prepared_transactions": "10",
			"fsync":                     "off",
			"listen_addresses":          "127.0.0.1",
			"port":                      strconv.Itoa(c.Port),
			"unix_socket_directories":   c.SocketDir,
			"server_encoding":           "UTF8",
		} {
			if got := queryString(t, ctx, conn, "SELECT current_setting('"+setting+"')"); got != want {
				t.Errorf("%s = %q, want %q", setting, got, want)
			}
		}
		if got := queryString(t, ctx, conn, "SELECT current_user"); got != "postgres" {
			t.Errorf("current_user = %q", got)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		conn := connect(t, ctx, c.TCPConnString("", "", c.Password))
		if got := queryString(t, ctx, conn, "SELECT host(inet_server_addr())"); got != "127.0.0.1" {
			t.Errorf("inet_server_addr() = %q", got)
		}
	})

	t.Run("tcp wrong password", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, c.TCPConnString("", "", "wrong"))
		if err == nil {
			conn.Close(ctx)
			t.Fatal("connected with a wrong password")
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Fatalf("got %v, want SQLSTATE 28P01", err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if err := c.Exec(ctx, "", "CREATE DATABASE app"); err != nil {
			t.Fatal(err)
		}
		// Several statements at once, including a prepared transaction.
		err := c.Exec(ctx, "app", `CREATE TABLE t (a int);
			BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'staged';`)
		if err != nil {
			t.Fatal(err)
		}
		conn := connect(t, ctx, c.ConnString("app", ""))
		if got := queryString(t, ctx, conn, "SELECT gid FROM pg_prepared_xacts"); got != "staged" {
			t.Errorf("prepared transaction = %q", got)
		}
		if err := c.Exec(ctx, "app", "COMMIT PREPARED 'staged'"); err != nil {
			t.Fatal(err)
		}
		var pgErr *pgconn.PgError
		if err := c.Exec(ctx, "app", "SELECT * FROM missing"); !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
			t.Errorf("Exec of a bad query: %v, want SQLSTATE 42P01", err)
		}
	})

	t.Run("restart", func(t *testing.T) {
		port, pid := c.Port, c.PID()
		if err := c.Restart(ctx, map[string]string{"max_connections": "25", "work_mem": "7MB"}); err != nil {
			t.Fatal(err)
		}
		if c.Port != port || c.PID() == pid || !processGone(pid) {
			t.Errorf("port %d -> %d, pid %d -> %d", port, c.Port, pid, c.PID())
		}
		conn := connect(t, ctx, c.ConnString("app", ""))
		for setting, want := range map[string]string{
			"max_connections":           "25",
			"work_mem":                  "7MB",
			"max_prepared_transactions": "10", // defaults survive
		} {
			if got := queryString(t, ctx, conn, "SELECT current_setting('"+setting+"')"); got != want {
				t.Errorf("%s = %q, want %q", setting, got, want)
			}
		}
		if got := queryString(t, ctx, conn, "SELECT a::text FROM t"); got != "1" {
			t.Errorf("data after restart: %q", got)
		}
		if err := c.Restart(ctx, map[string]string{"port": "1"}); err == nil {
			t.Error("Restart accepted a port setting")
		}
	})

	t.Run("stop", func(t *testing.T) {
		pidFile, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
		if err != nil {
			t.Fatal(err)
		}
		postmaster, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
		if err != nil || postmaster != c.PID() {
			t.Fatalf("postmaster.pid says %d (%v), PID() = %d", postmaster, err, c.PID())
		}
		// Keep a session open: Stop must not wait for clients, and the
		// backend and the auxiliary processes must go too.
		conn := connect(t, ctx, c.ConnString("", ""))
		rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity")
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(pids) < 2 {
			t.Fatalf("server pids %v: %v", pids, err)
		}

		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Dir %s still exists (%v)", c.Dir, err)
		}
		if !processGone(postmaster) {
			t.Errorf("postmaster %d still alive", postmaster)
		}
		if runtime.GOOS == "linux" {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", postmaster)); err == nil {
				t.Errorf("/proc/%d still exists", postmaster)
			}
		}
		for _, pid := range pids {
			if !processGone(int(pid)) {
				t.Errorf("server process %d still alive", pid)
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
		if err := c.Restart(ctx, nil); err == nil {
			t.Error("Restart after Stop succeeded")
		}
	})
}

// TestConcurrentClusters starts two clusters at the same moment, as parallel
// test packages would, and checks they do not get in each other's way.
func TestConcurrentClusters(t *testing.T) {
	t.Parallel()
	if _, err := FindBinDir(); err != nil {
		startForTest(t, Options{}) // applies the skip-or-fail rule
	}
	ctx := testContext(t)
	var (
		logMu    sync.Mutex
		clusters [2]*Cluster
		errs     [2]error
		started  sync.WaitGroup
	)
	for i := range clusters {
		started.Go(func() {
			c, err := Start(ctx, Options{Logf: func(format string, args ...any) {
				logMu.Lock()
				defer logMu.Unlock()
				t.Logf("cluster %d: "+format, append([]any{i}, args...)...)
			}})
			clusters[i], errs[i] = c, err
		})
	}
	started.Wait()
	for i, c := range clusters {
		if errs[i] != nil {
			t.Fatalf("cluster %d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	if clusters[0].Port == clusters[1].Port {
		t.Fatalf("both clusters got port %d", clusters[0].Port)
	}
	for _, c := range clusters {
		conn := connect(t, ctx, c.TCPConnString("", "", c.Password))
		if got := queryString(t, ctx, conn, "SELECT current_setting('data_directory')"); got != c.DataDir {
			t.Errorf("port %d serves %s, want %s", c.Port, got, c.DataDir)
		}
	}
}

// TestStartRetriesTakenPort makes the first port Start picks unavailable.
// Not parallel: it replaces freePort.
func TestStartRetriesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	orig := freePort
	t.Cleanup(func() { freePort = orig })
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return orig()
	}

	var logMu sync.Mutex
	var logged strings.Builder
	c := startForTest(t, Options{Logf: func(format string, args ...any) {
		t.Logf(format, args...)
		logMu.Lock()
		fmt.Fprintf(&logged, format+"\n", args...)
		logMu.Unlock()
	}})
	if c.Port == taken || calls != 2 {
		t.Errorf("port %d (taken: %d), freePort called %d times", c.Port, taken, calls)
	}
	if !strings.Contains(logged.String(), "retrying with another port") {
		t.Errorf("no retry logged:\n%s", logged.String())
	}
	if err := c.Exec(testContext(t), "", "SELECT 1"); err != nil {
		t.Error(err)
	}
}

// TestStartFailureCleansUp checks that a server that does not start leaves
// nothing behind and that the error carries the server's explanation.
func TestStartFailureCleansUp(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		startForTest(t, Options{}) // applies the skip-or-fail rule
	}
	base := t.TempDir()
	// As root the server user must be able to traverse TMPDIR, or Start
	// would fall back to /tmp and this test could not see what it left.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TMPDIR", base)

	c, err := Start(testContext(t), Options{
		Settings: map[string]string{"shared_buffers": "banana"},
		Logf:     t.Logf,
	})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with shared_buffers=banana")
	}
	if !strings.Contains(err.Error(), `"banana"`) {
		t.Errorf("error lacks the server log tail: %v", err)
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("Start left %v in %s", entries, base)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	ctx := testContext(t)
	for _, opts := range []Options{
		{Settings: map[string]string{"port": "5432"}},
		{Settings: map[string]string{"unix_socket_directories": "/tmp"}},
		{Settings: map[string]string{"bad name": "1"}},
		{Settings: map[string]string{"work_mem": "1MB\nfsync = on"}},
		{Password: "two\nlines"},
		{BinDir: t.TempDir()},
	} {
		if c, err := Start(ctx, opts); err == nil {
			c.Stop()
			t.Errorf("Start(%+v) succeeded", opts)
		}
	}
}

func TestMakeTempRootFallsBackToTmp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only relevant when running as root")
	}
	u, err := serverUser()
	if err != nil {
		t.Fatal(err)
	}
	private := t.TempDir() // 0700, root-owned: the server user cannot enter it
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", private)
	dir, err := makeTempRoot(u)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if filepath.Dir(dir) != "/tmp" {
		t.Errorf("temp root %s, want it under /tmp", dir)
	}
}

func writeExecutables(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindBinDirEnv(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		dir := t.TempDir()
		writeExecutables(t, dir, "initdb", "pg_ctl", "postgres")
		t.Setenv(EnvBinDir, dir)
		got, err := FindBinDir()
		if err != nil || got != dir {
			t.Fatalf("FindBinDir() = %q, %v; want %q", got, err, dir)
		}
	})

	t.Run("empty dir", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv(EnvBinDir, dir)
		_, err := FindBinDir()
		var nf *NotFoundError
		if !errors.As(err, &nf) || !IsNotFound(err) {
			t.Fatalf("got %v, want a *NotFoundError", err)
		}
		if nf.EnvValue != dir || !slices.Equal(nf.Missing, []string{"initdb", "pg_ctl", "postgres"}) {
			t.Errorf("EnvValue %q, Missing %v", nf.EnvValue, nf.Missing)
		}
		for _, want := range []string{
			"PGMEDIC_PG_BIN", dir,
			"apt-get install postgresql", "brew install postgresql@17", "dnf install postgresql-server",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})

	t.Run("incomplete dir", func(t *testing.T) {
		dir := t.TempDir()
		writeExecutables(t, dir, "initdb")
		// Present but not executable.
		if err := os.WriteFile(filepath.Join(dir, "pg_ctl"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv(EnvBinDir, dir)
		_, err := FindBinDir()
		var nf *NotFoundError
		if !errors.As(err, &nf) || !slices.Equal(nf.Missing, []string{"pg_ctl", "postgres"}) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestFindBinDirDefault(t *testing.T) {
	t.Setenv(EnvBinDir, "")
	dir, err := FindBinDir()
	if err != nil {
		var nf *NotFoundError
		if !errors.As(err, &nf) || len(nf.Searched) == 0 || !strings.Contains(err.Error(), "/usr/lib/postgresql/*/bin") {
			t.Fatalf("unexpected error: %v", err)
		}
		t.Logf("not found, as reported:\n%v", err)
		return
	}
	if !filepath.IsAbs(dir) || len(missingBinaries(dir)) != 0 {
		t.Errorf("FindBinDir() = %q, missing %v", dir, missingBinaries(dir))
	}
	t.Logf("found %s", dir)
}

func TestNotFoundErrorMessage(t *testing.T) {
	err := &NotFoundError{Searched: []string{"PATH (no initdb)", "/usr/lib/postgresql/*/bin (no matches)"}}
	msg := err.Error()
	for _, want := range []string{
		"PATH (no initdb)", "/usr/lib/postgresql/*/bin (no matches)", "PGMEDIC_PG_BIN",
		"apt-get install postgresql", "brew install postgresql@17", "dnf install postgresql-server",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestGlobByVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "10", "latest", "17"} {
		if err := os.MkdirAll(filepath.Join(root, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range globByVersion(filepath.Join(root, "*", "bin")) {
		got = append(got, filepath.Base(filepath.Dir(m)))
	}
	if want := []string{"17", "15", "10", "9.6", "latest"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestConnString(t *testing.T) {
	c := &Cluster{SocketDir: "/tmp/pgmedic-1/sock", Port: 5433, Superuser: "postgres"}
	if got, want := c.ConnString("", ""),
		"host=/tmp/pgmedic-1/sock port=5433 user=postgres dbname=postgres sslmode=disable"; got != want {
		t.Errorf("ConnString = %q, want %q", got, want)
	}
	if got, want := c.TCPConnString("app", "bob", "pw"),
		"host=127.0.0.1 port=5433 user=bob dbname=app sslmode=disable password=pw"; got != want {
		t.Errorf("TCPConnString = %q, want %q", got, want)
	}

	// Awkward values must survive a round trip through pgx's parser.
	c.SocketDir = `/tmp/with space/it's`
	db, user, password := "my db", `we\ird`, `p 'w\`
	for _, tc := range []struct {
		conn, host, password string
	}{
		{c.ConnString(db, user), c.SocketDir, ""},
		{c.TCPConnString(db, user, password), "127.0.0.1", password},
	} {
		cfg, err := pgconn.ParseConfig(tc.conn)
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", tc.conn, err)
		}
		if cfg.Host != tc.host || cfg.Port != 5433 || cfg.User != user || cfg.Database != db ||
			cfg.Password != tc.password || cfg.TLSConfig != nil {
			t.Errorf("%q parsed as host %q port %d user %q db %q password %q tls %v",
				tc.conn, cfg.Host, cfg.Port, cfg.User, cfg.Database, cfg.Password, cfg.TLSConfig != nil)
		}
	}
}

// startForTest is pgtest.Start for this package's own tests, which cannot
// import it (pgtest imports pgcluster).
func startForTest(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	dir, err := FindBinDir()
	if err != nil {
		if Required() {
			t.Fatalf("PostgreSQL is required (CI or PGMEDIC_REQUIRE_PG is set): %v", err)
		}
		t.Skipf("skipping: PostgreSQL not available: %v", err)
	}
	opts.BinDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return c
}
