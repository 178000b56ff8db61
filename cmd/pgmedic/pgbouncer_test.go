package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// snapshot --pgbouncer reports the pooler with the server, in text and
// JSON, in both pooling modes: a pool exhausted by clients whose queries
// wait on a lock, more clients queued in the pooler, and the blocker they
// all wait behind. A pooler that cannot be reached is a clear error.
func TestSnapshotPgBouncer(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			c := pgtest.Start(t, pgcluster.Options{})
			b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: mode, PoolSize: 2})
			if err := c.Exec(ctx, "postgres", `CREATE TABLE t (v int)`); err != nil {
				t.Fatal(err)
			}
			blocker, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
			if err != nil {
				t.Fatal(err)
			}
			defer blocker.Close(ctx)
			if _, err := blocker.Exec(ctx, `BEGIN; LOCK TABLE t`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer blocker.Exec(ctx, `ROLLBACK`)
			for i := 0; i < 5; i++ {
				cfg, _ := pgx.ParseConfig(b.ConnString("", ""))
				cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
				app, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer app.Close(context.Background())
					_, _ = app.Exec(context.Background(), fmt.Sprintf("SELECT count(*) /* %d */ FROM t", i))
				}()
			}
			args := []string{"snapshot", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "postgres",
				"--pgbouncer", b.ConnString("", "")}
			var doc struct {
				PgBouncer struct {
					Version string `json:"version"`
					Pools   []struct {
						Database       string `json:"database"`
						Mode           string `json:"pool_mode"`
						ClientsWaiting int    `json:"cl_waiting"`
						ServersActive  int    `json:"sv_active"`
						PoolSize       int    `json:"pool_size"`
						OnLock         int    `json:"sv_waiting_on_lock"`
						Behind         []struct {
							PID     int `json:"pid"`
							Servers int `json:"servers"`
						} `json:"behind"`
					} `json:"pools"`
					Servers []struct {
						RemotePID int `json:"remote_pid"`
					} `json:"servers"`
				} `json:"pgbouncer"`
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var out bytes.Buffer
				if err := run(ctx, append(args, "--json"), &out, &bytes.Buffer{}); err != nil {
					t.Fatalf("snapshot --pgbouncer --json: %v", err)
				}
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				if len(doc.PgBouncer.Pools) == 1 && doc.PgBouncer.Pools[0].ClientsWaiting == 3 && doc.PgBouncer.Pools[0].OnLock == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the staged exhaustion is not in the snapshot: %s", out.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			pool := doc.PgBouncer.Pools[0]
			pid := int(blocker.PgConn().PID())
			if !strings.HasPrefix(doc.PgBouncer.Version, "PgBouncer") || pool.Mode != mode || pool.ServersActive != 2 || pool.PoolSize != 2 ||
				len(pool.Behind) != 1 || pool.Behind[0].PID != pid || pool.Behind[0].Servers != 2 || len(doc.PgBouncer.Servers) != 2 {
				t.Errorf("pgbouncer %+v; want 2 of 2 server connections behind pid %d", doc.PgBouncer, pid)
			}

			var text bytes.Buffer
			if err := run(ctx, args, &text, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			mustHave := []string{"PGBOUNCER: PgBouncer", fmt.Sprintf("pool postgres/postgres (%s): clients", mode),
				"3 waiting up to", "servers 2 active, 0 idle, 0 used of 2", fmt.Sprintf("2 wait on a lock (2 behind pid %d)", pid)}
			for _, w := range mustHave {
				if !strings.Contains(text.String(), w) {
					t.Errorf("the text report lacks %q:\n%s", w, text.String())
				}
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		c := pgtest.Start(t, pgcluster.Options{})
		err := run(context.Background(), []string{"snapshot", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres",
			"--pgbouncer", "host=127.0.0.1 port=1 user=postgres connect_timeout=2"}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--pgbouncer") || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("an unreachable pooler: %v", err)
		}
		t.Logf("%v", err)
	})
}

// A user PgBouncer does not admit to its admin console is told so.
func TestPgBouncerNotAdmin(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	if err := c.Exec(context.Background(), "postgres", `CREATE ROLE app LOGIN`); err != nil {
		t.Fatal(err)
	}
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{Users: []string{"app"}})
	err := run(context.Background(), []string{"snapshot", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres",
		"--pgbouncer", b.ConnString("", "app")}, &bytes.Buffer{}, &bytes.Buffer{})
	t.Logf("%v", err)
	if err == nil || !strings.Contains(err.Error(), "admin_users") {
		t.Fatalf("a user that is not an admin: %v", err)
	}
}

// The real binary in tmux with --pgbouncer, at 80×24: the pool's queue
// on Triage pointing at the blocker, the PgBouncer view, and PAUSE then
// RESUME of its database through the dialog, each verified on the
// pooler and written to the audit log.
func TestPgBouncerEndToEnd(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction", PoolSize: 2})
	if err := c.Exec(ctx, "postgres", `CREATE TABLE t (v int)`); err != nil {
		t.Fatal(err)
	}
	blocker, err := pgx.Connect(ctx, c.ConnString("postgres", "")+" application_name=migrate")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(ctx)
	if _, err := blocker.Exec(ctx, `BEGIN; LOCK TABLE t`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer blocker.Exec(ctx, `ROLLBACK`)
	for i := 0; i < 5; i++ {
		cfg, _ := pgx.ParseConfig(b.ConnString("", ""))
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		app, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer app.Close(context.Background())
			_, _ = app.Exec(context.Background(), "SELECT count(*) FROM t")
		}()
	}
	bin := buildBinary(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := fmt.Sprintf("%s -h %s -p %d -U postgres --audit-log %s --pgbouncer 'host=127.0.0.1 port=%d user=postgres' postgres; sleep 60",
		bin, c.SocketDir, c.Port, audit, b.Port)
	s := startTmux(t, 80, 24, cmd)
	pid := strconv.Itoa(int(blocker.PgConn().PID()))
	screen := s.waitFor("PGBOUNCER  3 clients wait up to", "[enter] the blocker", "7 PgB")
	for i, line := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
	s.keys("7")
	s.waitFor("▸ 7 PgB", "postgres/postgres", "QUEUE", "pid "+pid+" (2)", "SERVER CONNECTIONS OF POSTGRES (2)", "behind pid "+pid, "CLIENTS OF POSTGRES (3 waiting)", "waiting  for")
	s.keys("P")
	s.waitFor(`PAUSE "postgres"`, "[y] yes, run it")
	s.keys("y")
	// The server connections stay busy behind the lock: PAUSE cannot
	// complete, and is undone.
	s.waitFor("FAILED", "undone with RESUME")
	// A client stays: PgBouncer forgets a database made from its "*"
	// entry, paused or not, once nothing uses it.
	idleCfg, _ := pgx.ParseConfig(b.ConnString("", ""))
	idleCfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	idle, err := pgx.ConnectConfig(ctx, idleCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	blocker.Exec(ctx, `ROLLBACK`)
	s.waitFor("postgres/postgres", " ok")
	s.keys("P")
	s.waitFor(`PAUSE "postgres"`, "[y] yes, run it")
	s.keys("y")
	s.waitFor("DONE: database postgres is paused", "PAUSED")
	s.keys("U")
	s.waitFor(`RESUME "postgres"`, "[y] yes, run it")
	s.keys("y")
	s.waitFor("DONE: database postgres is resumed")
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"action":"pgbouncer-pause","target":{"pgbouncer":"postgres@127.0.0.1:` + strconv.Itoa(b.Port),
		`"outcome":"failed"`, `"action":"pgbouncer-resume"`, `"sql":["RESUME \"postgres\""]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the audit log lacks %s:\n%s", want, raw)
		}
	}
}

// SIGHUP (a dropped SSH session) while a PAUSE waits for a transaction:
// pgmedic exits, and before it does the PAUSE is undone, so no client of
// the database is left waiting on a pause nobody watches; the audit log
// says it was cancelled.
func TestPgBouncerPauseSIGHUP(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction", PoolSize: 2})
	cfg, _ := pgx.ParseConfig(b.ConnString("", ""))
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	app, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := fmt.Sprintf("%s -h %s -p %d -U postgres --no-record --audit-log %s --pgbouncer 'host=127.0.0.1 port=%d user=postgres' postgres; echo pgmedic exited with $?; sleep 60",
		bin, c.SocketDir, c.Port, audit, b.Port)
	s := startTmux(t, 100, 30, cmd)
	s.waitFor("▸ 1 Triage")
	s.keys("7")
	s.waitFor("postgres/postgres")
	s.keys("P")
	s.waitFor(`PAUSE "postgres"`, "[y] yes, run it")
	s.keys("y")
	time.Sleep(2 * time.Second) // PAUSE is waiting for the transaction
	out, err := exec.Command("pgrep", "-n", "-f", bin+" -h "+c.SocketDir).Output()
	if err != nil {
		t.Fatalf("pgmedic's pid: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitFor("pgmedic exited with")
	pcfg, err := connect.PoolerConfig(b.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := connect.OpenPooler(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	p, err := inspect.ReadPooler(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, pool := range p.Pools {
		if pool.Paused {
			t.Errorf("pool %s/%s is left paused", pool.Database, pool.User)
		}
	}
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"outcome":"cancelled"`) || !strings.Contains(string(raw), "undone with RESUME") {
		t.Errorf("the audit log does not say the PAUSE was cancelled and undone:\n%s", raw)
	}
	if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
		t.Errorf("the application's transaction was disturbed: %v", err)
	}
}
