package watch

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// poolerRig is a cluster, a PgBouncer in front of it and a source that
// watches the cluster directly and reads the bouncer's admin console.
type poolerRig struct {
	c     *pgcluster.Cluster
	b     *pgcluster.Bouncer
	src   *Source
	ex    *Executor
	audit string
}

func newPoolerRig(t *testing.T, mode string) *poolerRig {
	t.Helper()
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: mode})
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	if err != nil {
		t.Fatal(err)
	}
	pcfg, err := connect.PoolerConfig(b.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	src.WithPooler(pcfg)
	t.Cleanup(src.Close)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	return &poolerRig{c: c, b: b, src: src, audit: path,
		ex: &Executor{Source: src, Audit: &actions.Audit{Path: path, Server: "test"}, PoolerWait: 2 * time.Second}}
}

// admin runs one admin console command on a connection of its own.
func (r *poolerRig) admin(t *testing.T, sql string) {
	t.Helper()
	cfg, err := connect.PoolerConfig(r.b.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect.OpenPooler(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.PgConn().Exec(context.Background(), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (r *poolerRig) pool(t *testing.T) (*inspect.Snapshot, *inspect.Pool) {
	t.Helper()
	snap, err := r.src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Pooler == nil || snap.Pooler.Error != "" {
		t.Fatalf("pooler not read: %+v", snap.Pooler)
	}
	for i := range snap.Pooler.Pools {
		if snap.Pooler.Pools[i].Database == "postgres" {
			return snap, &snap.Pooler.Pools[i]
		}
	}
	t.Fatalf("no pool for database postgres: %+v", snap.Pooler.Pools)
	return nil, nil
}

func (r *poolerRig) run(t *testing.T, kind actions.Kind) actions.Result {
	t.Helper()
	snap, _ := r.pool(t)
	plan := actions.PlanPooler(snap.Pooler, kind, "postgres")
	return r.ex.Execute(context.Background(), plan, snap, nil)
}

// auditOutcomes are the outcomes the log holds, in order.
func auditOutcomes(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec actions.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(rec.Action)+":"+rec.Outcome)
	}
	return out
}

// PAUSE and RESUME a database, each verified on the pooler and audited;
// a second PAUSE is refused by its plan, and a RESUME of a database that
// was resumed meanwhile is refused at the re-check, doing nothing.
func TestPoolerPauseResume(t *testing.T) {
	r := newPoolerRig(t, "transaction")
	app := appConn(t, r.b.ConnString("", ""))
	if _, err := app.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err) // the pool exists once a client used it
	}
	if res := r.run(t, actions.PoolerPause); res.Outcome != "done" {
		t.Fatalf("PAUSE: %s: %s", res.Outcome, res.Message)
	}
	snap, pool := r.pool(t)
	if !pool.Paused {
		t.Fatalf("after PAUSE the pool is not paused: %+v", pool)
	}
	if p := actions.PlanPooler(snap.Pooler, actions.PoolerPause, "postgres"); p.Allowed() {
		t.Errorf("a second PAUSE was allowed")
	}
	stale := actions.PlanPooler(snap.Pooler, actions.PoolerResume, "postgres")
	r.admin(t, `RESUME postgres`) // someone else
	if res := r.ex.Execute(context.Background(), stale, snap, nil); res.Outcome != "refused" {
		t.Errorf("RESUME of a database resumed meanwhile: %s: %s", res.Outcome, res.Message)
	}
	r.admin(t, `PAUSE postgres`)
	if res := r.run(t, actions.PoolerResume); res.Outcome != "done" {
		t.Fatalf("RESUME: %s: %s", res.Outcome, res.Message)
	}
	if _, pool := r.pool(t); pool.Paused {
		t.Errorf("after RESUME the pool is paused: %+v", pool)
	}
	want := []string{"pgbouncer-pause:started", "pgbouncer-pause:done", "pgbouncer-resume:started", "pgbouncer-resume:refused",
		"pgbouncer-resume:started", "pgbouncer-resume:done"}
	if got := auditOutcomes(t, r.audit); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit log:\n got %v\nwant %v", got, want)
	}
}

// A PAUSE that a transaction keeps from completing is undone: the pooler
// would leave the database paused, holding every client.
func TestPoolerPauseUndone(t *testing.T) {
	r := newPoolerRig(t, "transaction")
	app := appConn(t, r.b.ConnString("", ""))
	ctx := context.Background()
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	res := r.run(t, actions.PoolerPause)
	t.Logf("%s: %s %v", res.Outcome, res.Message, res.Attempts)
	if res.Outcome != "failed" || !strings.Contains(res.Message, "undone with RESUME") {
		t.Errorf("PAUSE behind an open transaction: %s: %s; want it failed and undone", res.Outcome, res.Message)
	}
	if _, pool := r.pool(t); pool.Paused {
		t.Errorf("the database is left paused: %+v", pool)
	}
	if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
		t.Errorf("the transaction was disturbed: %v", err)
	}
}

// KILL drops the database's connections and, since KILL leaves the
// database paused, RESUMEs it: a new client is served right after.
func TestPoolerKill(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			r := newPoolerRig(t, mode)
			ctx := context.Background()
			app := appConn(t, r.b.ConnString("", ""))
			tx, err := app.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if res := r.run(t, actions.PoolerKill); res.Outcome != "done" {
				t.Fatalf("KILL: %s: %s %v", res.Outcome, res.Message, res.Attempts)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); err == nil {
				t.Errorf("the killed client's transaction goes on")
			}
			waitFor(t, 5*time.Second, func() bool {
				snap, err := r.src.Snapshot(ctx)
				return err == nil && snap.Backend(pid) == nil
			})
			fresh, err := func() (*pgx.Conn, error) {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				cfg, _ := pgx.ParseConfig(r.b.ConnString("", ""))
				cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
				conn, err := pgx.ConnectConfig(cctx, cfg)
				if err == nil {
					_, err = conn.Exec(cctx, "SELECT 1")
				}
				return conn, err
			}()
			if err != nil {
				t.Fatalf("a new client after KILL: %v", err)
			}
			fresh.Close(ctx)
			if _, pool := r.pool(t); pool.Paused {
				t.Errorf("KILL left the database paused")
			}
		})
	}
}

// RECONNECT runs; a second pgmedic claiming the same database is refused
// before anything is sent.
func TestPoolerReconnectAndClaim(t *testing.T) {
	r := newPoolerRig(t, "transaction")
	ctx := context.Background()
	app := appConn(t, r.b.ConnString("", ""))
	if _, err := app.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if res := r.run(t, actions.PoolerReconnect); res.Outcome != "done" {
		t.Fatalf("RECONNECT: %s: %s", res.Outcome, res.Message)
	}
	other, err := pgx.Connect(ctx, r.c.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	h := fnv.New32a()
	h.Write([]byte("postgres"))
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(0x70676d66), int32(h.Sum32())); err != nil {
		t.Fatal(err)
	}
	res := r.run(t, actions.PoolerPause)
	if res.Outcome != "refused" || !strings.Contains(res.Message, "another pgmedic") {
		t.Errorf("PAUSE while another pgmedic holds the database: %s: %s", res.Outcome, res.Message)
	}
	if _, pool := r.pool(t); pool.Paused {
		t.Errorf("the database was paused anyway")
	}
}

// A PAUSE cancelled while it waits (quitting, SIGHUP, SIGTERM) is undone
// before the action returns, and recorded as cancelled.
func TestPoolerPauseCancelled(t *testing.T) {
	r := newPoolerRig(t, "transaction")
	r.ex.PoolerWait = time.Minute
	app := appConn(t, r.b.ConnString("", ""))
	ctx := context.Background()
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	snap, _ := r.pool(t)
	plan := actions.PlanPooler(snap.Pooler, actions.PoolerPause, "postgres")
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	res := r.ex.Execute(cctx, plan, snap, nil)
	t.Logf("%s after %s: %s", res.Outcome, time.Since(start).Round(time.Millisecond), res.Message)
	if res.Outcome != "cancelled" || !strings.Contains(res.Message, "undone with RESUME") {
		t.Errorf("a cancelled PAUSE: %s: %s", res.Outcome, res.Message)
	}
	if _, pool := r.pool(t); pool.Paused {
		t.Errorf("the database is left paused")
	}
	if got := auditOutcomes(t, r.audit); strings.Join(got, " ") != "pgbouncer-pause:started pgbouncer-pause:cancelled" {
		t.Errorf("audit log %v", got)
	}
}
