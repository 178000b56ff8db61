//go:build unix

package connect

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// cleanEnv removes every PG* variable for the duration of the test and
// points HOME at an empty directory, so that neither the developer's
// environment nor their ~/.pgpass and ~/.pg_service.conf leak into what the
// tests observe. It must run before the test (or an ancestor) goes parallel.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		// PGMEDIC_* are pgmedic's own (PGMEDIC_PG_BIN picks the server
		// version under test), not libpq's.
		if strings.HasPrefix(name, "PG") && !strings.HasPrefix(name, "PGMEDIC_") {
			t.Setenv(name, "") // registers the restore
			// Unset rather than empty: pgx rejects an empty PGSSLCERTMODE.
			os.Unsetenv(name)
		}
	}
	t.Setenv("HOME", t.TempDir())
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// socketOpts are the psql-style flags for the cluster's unix socket, where
// every role is trusted.
func socketOpts(c *pgcluster.Cluster, db, user string) Options {
	return Options{Host: c.SocketDir, Port: strconv.Itoa(c.Port), User: user, DBName: db}
}

// tcpOpts are the flags for 127.0.0.1, where scram-sha-256 is required.
func tcpOpts(c *pgcluster.Cluster, db, user, password string) Options {
	return Options{Host: "127.0.0.1", Port: strconv.Itoa(c.Port), User: user, DBName: db, Password: password}
}

// open runs Config and Open and fails the test on any error.
func open(t *testing.T, ctx context.Context, o Options) *pgx.Conn {
	t.Helper()
	cfg, err := Config(o)
	if err != nil {
		t.Fatalf("Config(%+v): %v", o, err)
	}
	conn, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", o.ConnString(), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// openError runs Config and Open and returns the *Error that Open must fail
// with.
func openError(t *testing.T, ctx context.Context, o Options) *Error {
	t.Helper()
	cfg, err := Config(o)
	if err != nil {
		t.Fatalf("Config(%s): %v", o.ConnString(), err)
	}
	conn, err := Open(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("Open(%s) succeeded, want an error", o.ConnString())
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Open(%s) = %v (%T), want a *connect.Error", o.ConnString(), err, err)
	}
	return e
}

// wantError describes an *Error: the SQLSTATE ("" when the server never
// answered), substrings of Problem and Advice, and a secret that must
// appear nowhere in the message.
type wantError struct {
	sqlState string
	problem  []string
	advice   []string
	secret   string
}

func checkError(t *testing.T, e *Error, w wantError) {
	t.Helper()
	msg := e.Error()
	t.Logf("Error(): %s", msg)
	if e.SQLState != w.sqlState {
		t.Errorf("SQLState = %q, want %q", e.SQLState, w.sqlState)
	}
	if got, want := e.TooManyClients(), w.sqlState == "53300"; got != want {
		t.Errorf("TooManyClients() = %v, want %v", got, want)
	}
	if e.Err == nil || !errors.Is(e, e.Err) {
		t.Errorf("Err = %v: the pgx error must be kept and unwrapped", e.Err)
	}
	if w.sqlState != "" {
		var pgErr *pgconn.PgError
		if !errors.As(e, &pgErr) || pgErr.Code != w.sqlState {
			t.Errorf("the *pgconn.PgError with code %s is not reachable through errors.As (got %v)", w.sqlState, pgErr)
		}
	}
	for _, s := range w.problem {
		if !strings.Contains(e.Problem, s) {
			t.Errorf("Problem %q does not mention %q", e.Problem, s)
		}
	}
	for _, s := range w.advice {
		if !strings.Contains(e.Advice, s) {
			t.Errorf("Advice %q does not mention %q", e.Advice, s)
		}
	}
	// One paragraph: target, problem, advice, on a single line.
	if !strings.HasPrefix(msg, "cannot connect to "+e.Target+": ") {
		t.Errorf("Error() does not start with the target %q: %q", e.Target, msg)
	}
	if !strings.Contains(msg, e.Problem) || !strings.Contains(msg, e.Advice) {
		t.Errorf("Error() %q lacks the problem or the advice", msg)
	}
	if strings.ContainsAny(msg, "\n\t") {
		t.Errorf("Error() spans lines: %q", msg)
	}
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") {
		t.Errorf("Error() does not end a sentence: %q", msg)
	}
	if w.secret != "" && strings.Contains(msg, w.secret) {
		t.Errorf("Error() reveals the password: %q", msg)
	}
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func mustExec(t *testing.T, ctx context.Context, c *pgcluster.Cluster, db string, sqls ...string) {
	t.Helper()
	// One Exec per statement: CREATE DATABASE refuses the implicit
	// transaction of a multi-statement query.
	for _, sql := range sqls {
		if err := c.Exec(ctx, db, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// hold opens a plain pgx connection that stays open until the test ends.
// Backends of connections closed just before may still be exiting, so a
// refusal for lack of slots is retried for a while.
func hold(t *testing.T, ctx context.Context, connString string) *pgx.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, connString)
		if err == nil {
			t.Cleanup(func() { conn.Close(context.Background()) })
			return conn
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "53300" || time.Now().After(deadline) {
			t.Fatalf("holding a connection (%s): %v", connString, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedPort returns a TCP port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConnString(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name string
		o    Options
		// What pgx makes of ConnString().
		host, port, user, database string
	}{
		{
			name: "flags combine",
			o:    Options{Host: "db1", Port: "5433", User: "app", DBName: "shop"},
			host: "db1", port: "5433", user: "app", database: "shop",
		},
		{
			name: "keyword/value -d wins over -h -p -U",
			o:    Options{Host: "db1", Port: "5433", User: "flaguser", DBName: "host=db2 port=6000 user=connuser dbname=shop"},
			host: "db2", port: "6000", user: "connuser", database: "shop",
		},
		{
			name: "keyword/value -d: flags fill the gaps",
			o:    Options{Host: "db1", Port: "5433", User: "flaguser", DBName: "host=db2 dbname=shop"},
			host: "db2", port: "5433", user: "flaguser", database: "shop",
		},
		{
			name: "URI -d: flags fill only what the URI lacks (port)",
			o:    Options{Host: "db1", Port: "5433", User: "flaguser", DBName: "postgres://uriuser@db2/shop"},
			host: "db2", port: "5433", user: "uriuser", database: "shop",
		},
		{
			name: "URI -d: flags fill only what the URI lacks (user)",
			o:    Options{Host: "db1", Port: "5433", User: "flaguser", DBName: "postgresql://db2:6000/shop?sslmode=disable"},
			host: "db2", port: "6000", user: "flaguser", database: "shop",
		},
		{
			name: "URI -d: host given as a query parameter",
			o:    Options{Host: "db1", Port: "5433", DBName: "postgres:///shop?host=/run/pg&user=uriuser"},
			host: "/run/pg", port: "5433", user: "uriuser", database: "shop",
		},
		{
			name: "URI -d: user info with only a password",
			o:    Options{User: "flaguser", DBName: "postgres://:pw@db2:6000/shop"},
			host: "db2", port: "6000", user: "flaguser", database: "shop",
		},
		{
			name: "URI -d: socket directory as a percent-encoded host",
			o:    Options{Port: "5433", User: "flaguser", DBName: "postgresql://%2Fvar%2Frun%2Fpostgresql/shop"},
			host: "/var/run/postgresql", port: "5433", user: "flaguser", database: "shop",
		},
		{
			name: "URI -d: several IPv6 hosts with ports",
			o:    Options{Host: "db1", Port: "5433", User: "flaguser", DBName: "postgres://[::1]:6000,[::2]:6001/shop"},
			host: "::1", port: "6000", user: "flaguser", database: "shop",
		},
		{
			name: "URI -d: several hosts without ports",
			o:    Options{Host: "db1", Port: "5433", DBName: "postgres://uriuser@db2,db3/shop?connect_timeout=5"},
			host: "db2", port: "5433", user: "uriuser", database: "shop",
		},
		{
			name: "URI -d: a question mark in the password",
			o:    Options{Port: "5433", User: "flaguser", DBName: "postgres://uriuser:pa?ss@db2/shop"},
			host: "db2", port: "5433", user: "uriuser", database: "shop",
		},
		{
			name: "spaces, quotes and backslashes in every flag",
			o:    Options{Host: "/tmp/dir with space", Port: "5433", User: `o'brien \ "x"`, DBName: `my db 'q' \b`},
			host: "/tmp/dir with space", port: "5433", user: `o'brien \ "x"`, database: `my db 'q' \b`,
		},
		{
			name: "spaces, quotes and backslashes filling a keyword/value -d",
			o:    Options{Host: `/tmp/a'b\c d`, User: `o'brien \x`, DBName: `dbname='my \'db\'' port=6000`},
			host: `/tmp/a'b\c d`, port: "6000", user: `o'brien \x`, database: `my 'db'`,
		},
		{
			name: "spaces, quotes and backslashes filling a URI -d",
			o:    Options{User: `o'brien \ x&y=z`, DBName: "postgres://db2:6000/my%20db"},
			host: "db2", port: "6000", user: `o'brien \ x&y=z`, database: "my db",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.o.ConnString()
			cfg, err := pgx.ParseConfig(s)
			if err != nil {
				t.Fatalf("ParseConfig(%s): %v", s, err)
			}
			got := [4]string{cfg.Host, strconv.Itoa(int(cfg.Port)), cfg.User, cfg.Database}
			want := [4]string{tt.host, tt.port, tt.user, tt.database}
			if got != want {
				t.Errorf("ConnString() = %s\nparsed host, port, user, dbname = %q, want %q", s, got, want)
			}
		})
	}

	t.Run("nothing set", func(t *testing.T) {
		if s := (Options{}).ConnString(); s != "" {
			t.Errorf("ConnString() = %q, want empty so that the environment decides", s)
		}
	})
	t.Run("URI query parameters are kept as written", func(t *testing.T) {
		o := Options{User: "flaguser", DBName: "postgres://db2/shop?application_name=my%20app&options=-c%20work_mem%3D64MB"}
		cfg, err := pgx.ParseConfig(o.ConnString())
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.RuntimeParams["application_name"]; got != "my app" {
			t.Errorf("application_name = %q, want %q (ConnString() = %s)", got, "my app", o.ConnString())
		}
		if got := cfg.RuntimeParams["options"]; got != "-c work_mem=64MB" {
			t.Errorf("options = %q, want %q (ConnString() = %s)", got, "-c work_mem=64MB", o.ConnString())
		}
	})
	t.Run("URI password is kept", func(t *testing.T) {
		cfg, err := Config(Options{User: "flaguser", DBName: "postgres://:p%40ss@db2/shop"})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Password != "p@ss" {
			t.Errorf("Password = %q, want the URI's", cfg.Password)
		}
	})
	t.Run("Password flag overrides", func(t *testing.T) {
		cfg, err := Config(Options{Host: "db1", DBName: "password=fromstring", Password: `it's \ me`})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Password != `it's \ me` {
			t.Errorf("Password = %q, want the -W one", cfg.Password)
		}
	})
}

// Without a database, the configuration names the one libpq would use:
// the user's, whether the user came from -U, PGUSER or the OS.
func TestDefaultDatabase(t *testing.T) {
	cleanEnv(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    Options
		env  map[string]string
		want string
	}{
		{"-U", Options{Host: "/nonexistent", User: "alice"}, nil, "alice"},
		{"user in -d", Options{DBName: "host=/nonexistent user=bob"}, nil, "bob"},
		{"PGUSER", Options{Host: "/nonexistent"}, map[string]string{"PGUSER": "carol"}, "carol"},
		{"the OS user", Options{Host: "/nonexistent"}, nil, me.Username},
		{"PGDATABASE still wins", Options{User: "alice"}, map[string]string{"PGDATABASE": "shop"}, "shop"},
		{"-d still wins", Options{User: "alice", DBName: "shop"}, nil, "shop"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := Config(c.o)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Database != c.want {
				t.Errorf("Database = %q, want %q", cfg.Database, c.want)
			}
		})
	}
}

func TestMalformedConnString(t *testing.T) {
	cleanEnv(t)
	const secret = "hunter2"
	for _, s := range []string{
		"host=x password=hunter2 port=notanumber",
		"host=x password='hunter2",
		"host=x password='hunter2 and more",
		// An unquoted password with spaces: pgx names the word it stopped at.
		"host=x password=correct hunter2 battery=staple",
		"postgres://u:hunter2@host:notaport/db",
		"postgres://u@host/db?password=hunter2%zz",
	} {
		t.Run(s, func(t *testing.T) {
			_, err := Config(Options{DBName: s})
			if err == nil {
				t.Fatal("Config succeeded, want an error")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if strings.Contains(msg, secret) {
				t.Errorf("error reveals the password: %q", msg)
			}
			if !strings.HasPrefix(msg, "invalid connection settings: ") {
				t.Errorf("error %q does not say the settings are invalid", msg)
			}
		})
	}
}

// TestServer runs everything that needs a server but not special settings
// against one cluster. The subtests run in order and change the
// environment, so none of them is parallel.
func TestServer(t *testing.T) {
	cleanEnv(t)
	ctx := testContext(t)
	c := pgtest.Start(t, pgcluster.Options{})
	port := strconv.Itoa(c.Port)
	mustExec(t, ctx, c, "",
		"CREATE ROLE reader LOGIN",
		"CREATE ROLE noconnect LOGIN",
		"CREATE ROLE app1 LOGIN CONNECTION LIMIT 1",
		"CREATE DATABASE envdb",
		"CREATE DATABASE svcdb",
		"CREATE DATABASE locked",
		"REVOKE CONNECT ON DATABASE locked FROM PUBLIC",
		"CREATE DATABASE limited CONNECTION LIMIT 1",
		"CREATE TABLE lockme (x int)",
	)

	t.Run("session settings", func(t *testing.T) {
		conn := open(t, ctx, socketOpts(c, "postgres", "postgres"))
		for setting, want := range map[string]string{
			"application_name":                    "pgmedic",
			"statement_timeout":                   "5s",
			"lock_timeout":                        "200ms",
			"idle_in_transaction_session_timeout": "10s",
		} {
			if got := queryString(t, ctx, conn, "SHOW "+setting); got != want {
				t.Errorf("SHOW %s = %q, want %q", setting, got, want)
			}
		}
	})

	// The database named for a connection without one is the one the
	// server uses: postgres's exists, reader's does not, and the error
	// says which was tried.
	t.Run("no database: the user's", func(t *testing.T) {
		conn := open(t, ctx, socketOpts(c, "", "postgres"))
		if got := queryString(t, ctx, conn, "SELECT current_database()"); got != "postgres" {
			t.Errorf("connected to %q, want postgres", got)
		}
		e := openError(t, ctx, socketOpts(c, "", "reader"))
		checkError(t, e, wantError{sqlState: "3D000", problem: []string{`database "reader" does not exist`}})
		if !strings.Contains(e.Target, `as user "reader", database "reader"`) {
			t.Errorf("Target = %q, want it to name database reader", e.Target)
		}
	})

	t.Run("application_name from PGAPPNAME", func(t *testing.T) {
		t.Setenv("PGAPPNAME", "from-env")
		conn := open(t, ctx, socketOpts(c, "postgres", "postgres"))
		if got := queryString(t, ctx, conn, "SELECT current_setting('application_name')"); got != "from-env" {
			t.Errorf("application_name = %q, want PGAPPNAME's", got)
		}
	})

	t.Run("application_name from the connection string", func(t *testing.T) {
		t.Setenv("PGAPPNAME", "from-env")
		o := socketOpts(c, "dbname=postgres application_name='from conn'", "postgres")
		conn := open(t, ctx, o)
		if got := queryString(t, ctx, conn, "SELECT current_setting('application_name')"); got != "from conn" {
			t.Errorf("application_name = %q, want the connection string's", got)
		}
	})

	t.Run("lock waits end at lock_timeout", func(t *testing.T) {
		holder := hold(t, ctx, c.ConnString("postgres", ""))
		tx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		conn := open(t, ctx, socketOpts(c, "postgres", "postgres"))
		if got := queryString(t, ctx, conn, "SELECT current_setting('lock_timeout')"); got != "200ms" {
			t.Errorf("lock_timeout = %q, want 200ms", got)
		}
		_, err = conn.Exec(ctx, "SELECT count(*) FROM lockme")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
			t.Fatalf("reading a locked table: %v, want SQLSTATE 55P03 (lock_not_available)", err)
		}
	})

	t.Run("cancelled context sends a cancel request", func(t *testing.T) {
		conn := open(t, ctx, socketOpts(c, "postgres", "postgres"))
		pid := conn.PgConn().PID()
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := conn.Exec(qctx, "SELECT pg_sleep(30)")
		if err == nil {
			t.Fatal("pg_sleep(30) succeeded despite the context")
		}
		// The session's statement_timeout ends it with the same code: the
		// message tells a cancel request from it.
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" || !strings.Contains(pgErr.Message, "user request") {
			t.Errorf("error %v, want the server's query_canceled (57014) due to user request", err)
		}
		if conn.IsClosed() {
			t.Fatal("the connection was closed instead of the statement being cancelled")
		}
		var samePID uint32
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&samePID); err != nil {
			t.Fatalf("the connection is unusable after the cancel: %v", err)
		}
		if samePID != pid {
			t.Errorf("backend pid %d after the cancel, want the same session %d", samePID, pid)
		}
	})

	t.Run("environment variables", func(t *testing.T) {
		t.Setenv("PGHOST", c.SocketDir)
		t.Setenv("PGPORT", port)
		t.Setenv("PGUSER", "reader")
		t.Setenv("PGDATABASE", "envdb")
		conn := open(t, ctx, Options{})
		if got := queryString(t, ctx, conn, "SELECT current_user || ' ' || current_database()"); got != "reader envdb" {
			t.Errorf("connected as %q, want PGUSER and PGDATABASE (reader envdb)", got)
		}
	})

	t.Run("pgpass", func(t *testing.T) {
		passfile := filepath.Join(t.TempDir(), "pgpass")
		escaped := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(c.Password)
		writeFile(t, passfile, "127.0.0.1:"+port+":*:postgres:"+escaped+"\n")
		t.Setenv("PGPASSFILE", passfile)
		conn := open(t, ctx, tcpOpts(c, "postgres", "postgres", ""))
		// Over the socket inet_server_addr() is NULL: this proves TCP,
		// where the password is required.
		if got := queryString(t, ctx, conn, "SELECT coalesce(host(inet_server_addr()), 'socket')"); got != "127.0.0.1" {
			t.Errorf("server address %q, want 127.0.0.1", got)
		}
	})

	t.Run("service file from PGSERVICEFILE", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "services.conf")
		writeFile(t, file, "[svc]\nhost="+c.SocketDir+"\nport="+port+"\nuser=reader\ndbname=svcdb\n")
		t.Setenv("PGSERVICEFILE", file)
		check := func(o Options) {
			t.Helper()
			conn := open(t, ctx, o)
			if got := queryString(t, ctx, conn, "SELECT current_user || ' ' || current_database()"); got != "reader svcdb" {
				t.Errorf("%+v: connected as %q, want the service's reader svcdb", o, got)
			}
		}
		check(Options{DBName: "service=svc"})
		t.Setenv("PGSERVICE", "svc")
		check(Options{})
	})

	t.Run("system-wide service file", func(t *testing.T) {
		home := t.TempDir() // no ~/.pg_service.conf
		t.Setenv("HOME", home)
		sysconf := t.TempDir()
		writeFile(t, filepath.Join(sysconf, "pg_service.conf"),
			"[sys]\nhost="+c.SocketDir+"\nport="+port+"\nuser=reader\ndbname=svcdb\n")
		o := Options{DBName: "service=sys"}

		// Without PGSYSCONFDIR nothing names the file: the service is unknown.
		if _, err := Config(o); err == nil {
			t.Fatal("Config found service sys without PGSYSCONFDIR; the test proves nothing")
		}
		t.Setenv("PGSYSCONFDIR", sysconf)
		// pgx alone reads only ~/.pg_service.conf: Config's fallback does the work.
		if _, err := pgx.ParseConfig(o.ConnString()); err == nil {
			t.Fatal("pgx read PGSYSCONFDIR itself; the fallback is untested")
		}
		check := func(o Options) {
			t.Helper()
			conn := open(t, ctx, o)
			if got := queryString(t, ctx, conn, "SELECT current_user || ' ' || current_database()"); got != "reader svcdb" {
				t.Errorf("connected as %q, want the system service's reader svcdb", got)
			}
		}
		check(o)
		t.Setenv("PGSERVICE", "sys")
		check(Options{})
		// As in libpq, a ~/.pg_service.conf without the service does not
		// hide the system-wide one.
		writeFile(t, filepath.Join(home, ".pg_service.conf"), "[other]\nhost=elsewhere\n")
		check(o)

		if _, err := Config(Options{DBName: "service=nowhere"}); err == nil {
			t.Error("Config accepted a service defined nowhere")
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		const secret = "s3cret-DO-NOT-PRINT"
		e := openError(t, ctx, tcpOpts(c, "postgres", "postgres", secret))
		checkError(t, e, wantError{
			sqlState: "28P01",
			problem:  []string{"password", "rejected"},
			advice:   []string{"PGPASSWORD", "pgpass"},
			secret:   secret,
		})
		if want := `127.0.0.1:` + port + ` as user "postgres", database "postgres"`; e.Target != want {
			t.Errorf("Target = %q, want %q", e.Target, want)
		}
	})

	t.Run("wrong password in the connection string", func(t *testing.T) {
		const secret = "s3cret-DO-NOT-PRINT"
		o := tcpOpts(c, "dbname=postgres password="+secret, "postgres", "")
		e := openError(t, ctx, o)
		checkError(t, e, wantError{sqlState: "28P01", advice: []string{"PGPASSWORD"}, secret: secret})
	})

	t.Run("no password", func(t *testing.T) {
		t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "absent"))
		e := openError(t, ctx, tcpOpts(c, "postgres", "postgres", ""))
		checkError(t, e, wantError{
			sqlState: "28P01",
			advice:   []string{"No password was given", "-W", "PGPASSWORD", ".pgpass"},
		})
	})

	t.Run("connection refused", func(t *testing.T) {
		// A database name with "timeout" in it must not turn a refusal
		// into a timeout: pgx repeats the name in its error text.
		e := openError(t, ctx, Options{Host: "127.0.0.1", Port: closedPort(t), User: "postgres", DBName: "timeouts"})
		checkError(t, e, wantError{problem: []string{"refused"}, advice: []string{"listen"}})
	})

	t.Run("no server socket", func(t *testing.T) {
		e := openError(t, ctx, Options{Host: t.TempDir(), Port: "5432", User: "postgres", DBName: "postgres"})
		checkError(t, e, wantError{problem: []string{"no server socket"}, advice: []string{"socket directory"}})
		if !strings.Contains(e.Target, "the socket in ") {
			t.Errorf("Target %q does not say it is a socket", e.Target)
		}
	})

	t.Run("no answer before connect_timeout", func(t *testing.T) {
		// A listener that accepts and never speaks stands for a host
		// that hangs during the handshake.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		lport := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		// A caller's deadline ends the wait with the same problem: only
		// whether it is still running tells connect_timeout from it.
		octx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e := openError(t, octx, Options{Host: "127.0.0.1", Port: lport, User: "postgres", DBName: "connect_timeout=1 dbname=postgres"})
		if octx.Err() != nil {
			t.Error("gave up only at the caller's deadline: connect_timeout was not applied")
		}
		checkError(t, e, wantError{problem: []string{"connect timeout"}})
	})

	t.Run("database missing", func(t *testing.T) {
		e := openError(t, ctx, socketOpts(c, "nosuchdb", "postgres"))
		checkError(t, e, wantError{sqlState: "3D000", problem: []string{"does not exist"}, advice: []string{"-d"}})
	})

	t.Run("role missing", func(t *testing.T) {
		e := openError(t, ctx, socketOpts(c, "postgres", "ghost"))
		checkError(t, e, wantError{sqlState: "28000", problem: []string{"ghost", "does not exist"}, advice: []string{"user name", "-U"}})
	})

	t.Run("no CONNECT privilege", func(t *testing.T) {
		e := openError(t, ctx, socketOpts(c, "locked", "noconnect"))
		checkError(t, e, wantError{
			sqlState: "42501",
			problem:  []string{"permission denied"},
			advice:   []string{`"noconnect"`, "CONNECT", `"locked"`},
		})
	})

	t.Run("TLS required", func(t *testing.T) {
		o := tcpOpts(c, "dbname=postgres sslmode=require", "postgres", c.Password)
		e := openError(t, ctx, o)
		checkError(t, e, wantError{problem: []string{"does not accept TLS"}, advice: []string{"sslmode"}, secret: c.Password})
	})

	t.Run("role CONNECTION LIMIT", func(t *testing.T) {
		hold(t, ctx, c.ConnString("postgres", "app1"))
		e := openError(t, ctx, socketOpts(c, "postgres", "app1"))
		checkError(t, e, wantError{
			sqlState: "53300",
			problem:  []string{"too many connections for role"},
			advice:   []string{`"app1"`, "rolconnlimit", "CONNECTION LIMIT"},
		})
	})

	t.Run("database CONNECTION LIMIT", func(t *testing.T) {
		hold(t, ctx, c.ConnString("limited", "reader"))
		e := openError(t, ctx, socketOpts(c, "limited", "reader"))
		checkError(t, e, wantError{
			sqlState: "53300",
			problem:  []string{"too many connections for database"},
			advice:   []string{`"limited"`, "datconnlimit", "superuser"},
		})
		// As the advice says, a superuser still gets in.
		open(t, ctx, socketOpts(c, "limited", "postgres"))
	})
}

// TestTooManyClients fills a small cluster's max_connections: first the
// slots an ordinary role may use, then the superuser-reserved ones.
func TestTooManyClients(t *testing.T) {
	cleanEnv(t)
	ctx := testContext(t)
	const maxConnections, reserved = 8, 3
	c := pgtest.Start(t, pgcluster.Options{Settings: map[string]string{
		"max_connections":                strconv.Itoa(maxConnections),
		"superuser_reserved_connections": strconv.Itoa(reserved),
	}})
	mustExec(t, ctx, c, "", "CREATE ROLE app LOGIN")

	for range maxConnections - reserved {
		hold(t, ctx, c.ConnString("postgres", "app"))
	}
	e := openError(t, ctx, socketOpts(c, "postgres", "app"))
	checkError(t, e, wantError{
		sqlState: "53300",
		problem:  []string{"reserved"},
		advice:   []string{"superuser_reserved_connections", "pg_use_reserved_connections"},
	})

	// The reserved slots still let a superuser in, pgmedic's own Open too.
	conn := open(t, ctx, socketOpts(c, "postgres", "postgres"))
	if got := queryString(t, ctx, conn, "SELECT count(*)::text FROM pg_stat_activity WHERE backend_type = 'client backend'"); got != strconv.Itoa(maxConnections-reserved+1) {
		t.Errorf("%s client backends, want %d", got, maxConnections-reserved+1)
	}
	for range reserved - 1 {
		hold(t, ctx, c.ConnString("postgres", "postgres"))
	}
	e = openError(t, ctx, socketOpts(c, "postgres", "postgres"))
	checkError(t, e, wantError{
		sqlState: "53300",
		problem:  []string{"too many clients"},
		advice:   []string{"max_connections", "superuser-reserved"},
	})
	if strings.Contains(e.Advice, "pg_use_reserved_connections") {
		t.Errorf("with every slot taken, advice %q still suggests reserved connections", e.Advice)
	}
}

// --pgbouncer takes a connection string, a URI or a service name; the
// database is always the admin console's, and no session setting but
// application_name is sent to it.
func TestPoolerConfig(t *testing.T) {
	dir := t.TempDir()
	services := filepath.Join(dir, "pg_service.conf")
	if err := os.WriteFile(services, []byte("[pool1-admin]\nhost=pool1.internal\nport=6432\nuser=pgb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", services)
	for _, c := range []struct{ in, host, user string }{
		{"host=pool2 port=6432 user=admin dbname=shop", "pool2", "admin"},
		{"postgres://admin@pool3:6432/shop?sslmode=disable", "pool3", "admin"},
		{"pool1-admin", "pool1.internal", "pgb"},
	} {
		cfg, err := PoolerConfig(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if cfg.Host != c.host || cfg.Port != 6432 || cfg.User != c.user || cfg.Database != "pgbouncer" {
			t.Errorf("%q: %s@%s:%d/%s", c.in, cfg.User, cfg.Host, cfg.Port, cfg.Database)
		}
		if len(cfg.RuntimeParams) != 1 || cfg.RuntimeParams["application_name"] != "pgmedic" {
			t.Errorf("%q: runtime params %v", c.in, cfg.RuntimeParams)
		}
	}
	if _, err := PoolerConfig("no-such-service"); err == nil {
		t.Errorf("an unknown service was accepted")
	}
}
