package actions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

type lab struct {
	c  *pgcluster.Cluster
	db atomic.Int32
}

// bench is one scenario's database, a monitoring connection as pgmedic
// holds it, and the Env that actions run with.
type bench struct {
	st    *scenario.Stage
	db    string
	dsn   string
	mon   *pgx.Conn
	coll  *inspect.Collector
	mu    sync.Mutex
	env   actions.Env
	audit string
	notes []string
}

func (l *lab) bench(t *testing.T, user string) *bench {
	t.Helper()
	ctx := context.Background()
	db := fmt.Sprintf("act_%d", l.db.Add(1))
	must(t, l.c.Exec(ctx, "postgres", "CREATE DATABASE "+db))
	st, err := scenario.NewStage(ctx, func(app string) string { return l.c.ConnString(db, "") + " application_name='" + app + "'" })
	must(t, err)
	t.Cleanup(func() { st.Close() })
	cfg, err := connect.Config(connect.Options{DBName: l.c.ConnString(db, user)})
	must(t, err)
	mon, err := connect.Open(ctx, cfg)
	must(t, err)
	t.Cleanup(func() { mon.Close(ctx) })
	coll, err := inspect.NewCollector(ctx, mon)
	must(t, err)
	b := &bench{st: st, db: db, dsn: l.c.ConnString(db, user), mon: mon, coll: coll, audit: filepath.Join(t.TempDir(), "state", "pgmedic", "audit.jsonl")}
	b.env = actions.Env{
		Monitor: func(ctx context.Context, fn func(*pgx.Conn) error) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			return fn(mon)
		},
		Dedicated: func(ctx context.Context, name string) (*pgx.Conn, error) {
			other := cfg.Copy()
			other.Database = name
			return connect.Open(ctx, other)
		},
		Snapshot:     b.snapshot,
		Audit:        &actions.Audit{Path: b.audit, Server: "test", Database: db, User: cfg.User},
		Progress:     func(s string) { b.mu.Lock(); b.notes = append(b.notes, s); b.mu.Unlock() },
		BackoffStart: 100 * time.Millisecond,
		DropAttempts: 50,
	}
	return b
}

// snapshot reads everything afresh, as the binary does to verify an
// action, so the tests see indexes as they are now.
func (b *bench) snapshot(ctx context.Context) (*inspect.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.coll.FullSnapshot(ctx)
}

func (b *bench) snap(t *testing.T) *inspect.Snapshot {
	t.Helper()
	s, err := b.snapshot(context.Background())
	must(t, err)
	return s
}

func (b *bench) index(t *testing.T, name string) *inspect.Index {
	t.Helper()
	s := b.snap(t)
	for i := range s.Indexes {
		if s.Indexes[i].Name == name {
			return &s.Indexes[i]
		}
	}
	t.Fatalf("index %q not listed", name)
	return nil
}

func (b *bench) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	fi, err := os.Stat(b.audit)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	f, err := os.Open(b.audit)
	must(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		must(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

// dropBehindReader stages an invalid unique index orders_code_uq on a
// table a reader holds open, idle in its transaction: every DROP INDEX
// CONCURRENTLY attempt waits for it. DropLockTimeout is lock for the test.
func (l *lab) dropBehindReader(t *testing.T, lock time.Duration, reader string) (*bench, *scenario.Session) {
	t.Helper()
	old := actions.DropLockTimeout
	t.Cleanup(func() { actions.DropLockTimeout = old })
	actions.DropLockTimeout = lock
	ctx := context.Background()
	b := l.bench(t, "")
	must(t, b.st.CreateTable(ctx, orders, 50))
	must(t, b.st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
	s, err := b.st.Open(ctx, reader)
	must(t, err)
	must(t, s.Exec(ctx, "BEGIN; SELECT count(*) FROM "+orders.Ident()))
	return b, s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitDone(t *testing.T, s *scenario.Session) {
	t.Helper()
	if err := s.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

var orders = scenario.Table{Schema: "public", Name: "orders"}

func TestActions(t *testing.T) {
	l := &lab{c: pgtest.Start(t, pgcluster.Options{})}
	ctx := context.Background()

	// What the dialog shows and `ctrl+y` copies is the statement itself,
	// runnable as it is, with the identity guard in its WHERE clause: run
	// with another start time it signals nothing; as shown, it ends the
	// session.
	t.Run("the SQL shown runs, and its guard holds", func(t *testing.T) {
		b := l.bench(t, "")
		victim, err := b.st.Open(ctx, "shown-sql")
		must(t, err)
		must(t, victim.Exec(ctx, "BEGIN; SELECT 1"))
		plan := actions.PlanSignal(b.snap(t), actions.Terminate, victim.PID)
		if !plan.Allowed() {
			t.Fatalf("terminate refused: %s", plan.Refusal)
		}
		shown := plan.Statements[0].Display
		alive := func() bool {
			var n int
			must(t, b.st.Admin().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", victim.PID).Scan(&n))
			return n == 1
		}
		start := regexp.MustCompile(`backend_start = '[^']*'`)
		if !start.MatchString(shown) {
			t.Fatalf("the statement shown has no backend_start guard: %s", shown)
		}
		other := start.ReplaceAllString(shown, "backend_start = '2001-02-03 04:05:06+00'")
		rows, err := b.st.Admin().Query(ctx, other)
		must(t, err)
		n := 0
		for rows.Next() {
			n++
		}
		must(t, rows.Err())
		if n != 0 || !alive() {
			t.Fatalf("with another start time the statement shown matched %d row(s); alive %v", n, alive())
		}
		var ok bool
		must(t, b.st.Admin().QueryRow(ctx, shown).Scan(&ok))
		deadline := time.Now().Add(10 * time.Second)
		for ok && alive() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !ok || alive() {
			t.Errorf("the statement shown did not end the session: %v, alive %v", ok, alive())
		}
	})

	t.Run("terminate the idle root of a pile-up; cancel refused", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 50))
		p, err := b.st.ExclusiveHolder(ctx, orders, 2, 3)
		must(t, err)
		s := b.snap(t)
		cancel := actions.PlanSignal(s, actions.Cancel, p.Root.PID)
		if cancel.Allowed() || !strings.Contains(cancel.Refusal, "idle in a transaction") || !strings.Contains(cancel.Alternative, "terminate") {
			t.Errorf("cancel of an idle-in-transaction root: refusal %q alternative %q", cancel.Refusal, cancel.Alternative)
		}
		r := actions.Run(ctx, b.env, cancel, s)
		if r.Outcome != "refused" {
			t.Errorf("running a refused plan: %s", r.Outcome)
		}
		term := actions.PlanSignal(s, actions.Terminate, p.Root.PID)
		if !term.Allowed() || term.Backend.Blocked != 6 || !strings.Contains(term.Effect, "rolls back") {
			t.Fatalf("terminate plan: %+v", term)
		}
		want := fmt.Sprintf("pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid = %d AND backend_start = '", p.Root.PID) // the timeout argument is 14+
		if s.Server.VersionNum < 140000 {
			want = fmt.Sprintf("pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %d AND backend_start = '", p.Root.PID)
		}
		if !strings.Contains(term.Statements[0].Display, want) {
			t.Errorf("statement shown: %s", term.Statements[0].Display)
		}
		r = actions.Run(ctx, b.env, term, s)
		if !r.OK() || r.BlockedBefore != 6 || r.BlockedAfter >= 6 {
			t.Fatalf("terminate: %s (before %d after %d)", r.Describe(), r.BlockedBefore, r.BlockedAfter)
		}
		waitDone(t, p.DDL)
		for _, rd := range append(p.Early, p.Late...) {
			waitDone(t, rd)
		}
		if err := p.DDL.Err(); err != nil {
			t.Errorf("the migration failed after the root went: %v", err)
		}
		lines := b.auditLines(t)
		if len(lines) != 3 || lines[0]["outcome"] != "refused" || lines[1]["outcome"] != "started" || lines[1]["id"] != lines[2]["id"] {
			t.Fatalf("audit has %v, want the refusal, then the terminate started and done under one id", lines)
		}
		last := lines[2]
		if last["action"] != "terminate" || last["outcome"] != "done" || last["blocked_before"] != 6.0 || last["database"] != b.db {
			t.Errorf("audit record = %v", last)
		}
		if tgt := last["target"].(map[string]any); tgt["pid"] != float64(p.Root.PID) {
			t.Errorf("audit target = %v", tgt)
		}
	})

	t.Run("blocker shift: a released reader idle in transaction becomes the root", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 50))
		root, err := b.st.Open(ctx, "migrate")
		must(t, err)
		must(t, root.Exec(ctx, "BEGIN; LOCK TABLE "+orders.Ident()+" IN ACCESS EXCLUSIVE MODE"))
		reader, err := b.st.Open(ctx, "report")
		must(t, err)
		reader.Go("BEGIN; SELECT count(*) FROM " + orders.Ident()) // then stays idle in transaction
		must(t, b.st.AwaitLockWait(ctx, reader.PID))
		ddl, err := b.st.Open(ctx, "migrate-ddl")
		must(t, err)
		ddl.Go("ALTER TABLE " + orders.Ident() + " ADD COLUMN x int")
		must(t, b.st.AwaitLockWait(ctx, ddl.PID))

		s := b.snap(t)
		r := actions.Run(ctx, b.env, actions.PlanSignal(s, actions.Terminate, root.PID), s)
		if !r.OK() {
			t.Fatalf("terminate: %s", r.Describe())
		}
		waitDone(t, reader)
		must(t, b.st.AwaitLockWait(ctx, ddl.PID))
		after := b.snap(t)
		if len(after.LockForest.Roots) != 1 || after.LockForest.Nodes[after.LockForest.Roots[0]].PID != reader.PID {
			t.Fatalf("after the terminate the root should be the reader %d", reader.PID)
		}
		if !slices.Equal(r.NewRoots, []int{reader.PID}) || !strings.Contains(r.Describe(), fmt.Sprintf("blocker shift: pid %d now heads a queue", reader.PID)) {
			t.Errorf("the result should report the blocker shift to %d: %v, %s", reader.PID, r.NewRoots, r.Describe())
		}
	})

	t.Run("pid reuse guard: a plan for a backend that has gone is refused", func(t *testing.T) {
		b := l.bench(t, "")
		victim, err := b.st.IdleInTransaction(ctx, "short-lived", 1)
		must(t, err)
		s := b.snap(t)
		plan := actions.PlanSignal(s, actions.Terminate, victim[0].PID)
		must(t, b.st.Exec(ctx, "SELECT pg_terminate_backend($1)", victim[0].PID))
		must(t, b.st.AwaitGone(ctx, victim[0].PID))
		r := actions.Run(ctx, b.env, plan, s)
		if r.Outcome != "refused" || !strings.Contains(r.Message, "gone, or its pid now belongs to a new session") {
			t.Errorf("terminate of a gone backend: %s", r.Describe())
		}
		// A made-up start time (a new session on the same pid) is refused too.
		live, err := b.st.IdleInTransaction(ctx, "live", 1)
		must(t, err)
		s = b.snap(t)
		plan = actions.PlanSignal(s, actions.Terminate, live[0].PID)
		plan.Statements[0].Args[1] = plan.Backend.BackendStart.Add(-time.Hour)
		plan.Backend.BackendStart = plan.Backend.BackendStart.Add(-time.Hour)
		if r := actions.Run(ctx, b.env, plan, s); r.Outcome != "refused" {
			t.Errorf("terminate with another backend_start: %s", r.Describe())
		}
		if b.snap(t).Backend(live[0].PID) == nil {
			t.Error("the live session was terminated despite the guard")
		}
	})

	t.Run("permission: pg_signal_backend cannot signal a superuser", func(t *testing.T) {
		admin := l.bench(t, "")
		must(t, admin.st.Exec(ctx, "DO $$ BEGIN CREATE ROLE monitor LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$; GRANT pg_signal_backend, pg_read_all_stats TO monitor"))
		victim, err := admin.st.IdleInTransaction(ctx, "superuser-console", 1)
		must(t, err)
		b := l.bench(t, "monitor")
		s := b.snap(t)
		plan := actions.PlanSignal(s, actions.Terminate, victim[0].PID)
		if plan.Allowed() || !strings.Contains(plan.Refusal, "only a superuser may signal it") {
			t.Fatalf("plan refusal %q", plan.Refusal)
		}
		// Even past the plan, the server's refusal reads clearly.
		plan.Refusal = ""
		r := actions.Run(ctx, b.env, plan, s)
		if r.Outcome != "failed" || r.SQLState != "42501" || !strings.Contains(r.Message, "may not signal") {
			t.Errorf("server refusal: %s", r.Describe())
		}
	})

	t.Run("prepared transaction: signals refused with the gid, rolled back as its own action", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 10))
		waiter, err := b.st.PreparedHolder(ctx, orders, "pay-batch-'17")
		must(t, err)
		if p := actions.PlanSignalPrepared(actions.Terminate, "pay-batch-'17"); p.Allowed() ||
			!strings.Contains(p.Alternative, "pgmedic rollback-prepared 'pay-batch-'17'") {
			t.Errorf("terminate of a prepared holder: %q / %q", p.Refusal, p.Alternative)
		}
		s := b.snap(t)
		plan := actions.PlanRollbackPrepared(s, "pay-batch-'17")
		if !plan.Allowed() || plan.Statements[0].SQL != "ROLLBACK PREPARED 'pay-batch-''17'" {
			t.Fatalf("plan: %+v", plan)
		}
		if r := actions.Run(ctx, b.env, plan, s); !r.OK() {
			t.Fatalf("rollback prepared: %s", r.Describe())
		}
		waitDone(t, waiter)
		if err := waiter.Err(); err != nil {
			t.Errorf("the waiter failed: %v", err)
		}
		if p := actions.PlanRollbackPrepared(b.snap(t), "pay-batch-'17"); p.Allowed() {
			t.Error("a gone prepared transaction should be refused")
		}
	})

	t.Run("own backend refused", func(t *testing.T) {
		b := l.bench(t, "")
		s := b.snap(t)
		if p := actions.PlanSignal(s, actions.Terminate, s.Server.OwnPID); p.Allowed() || !strings.Contains(p.Refusal, "own session") {
			t.Errorf("own backend: %q", p.Refusal)
		}
	})

	t.Run("drop an invalid index left by a failed unique build", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 50))
		must(t, b.st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
		ix := b.index(t, "orders_code_uq")
		plan := actions.PlanDropIndex(ix, false)
		if !plan.Allowed() || plan.Statements[2].Display != `DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_code_uq"` {
			t.Fatalf("plan %+v", plan)
		}
		if r := actions.Run(ctx, b.env, plan, b.snap(t)); !r.OK() {
			t.Fatalf("drop: %s", r.Describe())
		}
		if s := b.snap(t); len(s.Indexes) != 0 {
			t.Errorf("invalid indexes left: %+v", s.Indexes)
		}
		// Dropped by someone else meanwhile: nothing to do, said so.
		if r := actions.Run(ctx, b.env, plan, nil); !r.OK() || !strings.Contains(r.Message, "no longer exists") {
			t.Errorf("second drop: %s", r.Describe())
		}
	})

	t.Run("drop waits for an idle reader, says so, and succeeds once it is gone", func(t *testing.T) {
		b, reader := l.dropBehindReader(t, 300*time.Millisecond, "reporting")
		ix := b.index(t, "orders_code_uq")
		done := make(chan actions.Result, 1)
		go func() { done <- actions.Run(ctx, b.env, actions.PlanDropIndex(ix, false), nil) }()
		deadline := time.Now().Add(time.Minute) // a hang
		for {
			b.mu.Lock()
			notes := strings.Join(b.notes, "\n")
			b.mu.Unlock()
			if strings.Contains(notes, fmt.Sprintf("pid %d (reporting, idle in transaction", reader.PID)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the drop never said it waits for the reader; progress:\n%s", notes)
			}
			time.Sleep(50 * time.Millisecond)
		}
		must(t, reader.Exec(ctx, "ROLLBACK"))
		r := <-done
		if !r.OK() {
			t.Fatalf("drop: %s", r.Describe())
		}
		if len(b.snap(t).Indexes) != 0 {
			t.Error("the invalid index is still there")
		}
	})

	t.Run("rebuild a failed unique build once the duplicates are gone", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 50))
		must(t, b.st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
		ix := b.index(t, "orders_code_uq")

		// Duplicates still there: the pre-check says which key, nothing changes.
		r := actions.Run(ctx, b.env, actions.PlanRebuild(ix, false), nil)
		if r.Outcome != "refused" || !strings.Contains(r.Message, "key (code)=(duplicate) appears 2 times") {
			t.Fatalf("rebuild with duplicates: %s", r.Describe())
		}
		if again := b.index(t, "orders_code_uq"); again.OID != ix.OID || len(b.snap(t).Indexes) != 1 {
			t.Errorf("the pre-check changed something: oid %d -> %d, %d invalid", ix.OID, again.OID, len(b.snap(t).Indexes))
		}

		must(t, b.st.Exec(ctx, "UPDATE "+orders.Ident()+" SET code = 'c2' WHERE id = 2"))
		plan := actions.PlanRebuild(ix, false)
		if last := plan.Statements[len(plan.Statements)-1].SQL; last != `REINDEX INDEX CONCURRENTLY "public"."orders_code_uq"` {
			t.Errorf("rebuild runs %q", last)
		}
		r = actions.Run(ctx, b.env, plan, nil)
		if !r.OK() || !strings.Contains(r.Message, "still UNIQUE") {
			t.Fatalf("rebuild: %s", r.Describe())
		}
		var valid, unique bool
		must(t, b.st.Admin().QueryRow(ctx, `SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = 'public.orders_code_uq'::regclass`).Scan(&valid, &unique))
		if !valid || !unique {
			t.Errorf("after rebuild: valid %v unique %v", valid, unique)
		}
	})

	t.Run("quotes, spaces and unicode in names, end to end", func(t *testing.T) {
		b := l.bench(t, "")
		weird := scenario.Table{Schema: `Ünï "sch ema"`, Name: `my "tbl" 名前`}
		must(t, b.st.CreateTable(ctx, weird, 20))
		must(t, b.st.FailedUniqueIndex(ctx, weird, `idx "q" ü`))
		must(t, b.st.Exec(ctx, "UPDATE "+weird.Ident()+" SET code = 'c2' WHERE id = 2"))
		if r := actions.Run(ctx, b.env, actions.PlanRebuild(b.index(t, `idx "q" ü`), false), nil); !r.OK() {
			t.Fatalf("rebuild: %s", r.Describe())
		}
		other := scenario.Table{Schema: weird.Schema, Name: `zweite Tabelle "β"`}
		must(t, b.st.CreateTable(ctx, other, 20))
		must(t, b.st.FailedUniqueIndex(ctx, other, `second "ix"`))
		if r := actions.Run(ctx, b.env, actions.PlanDropIndex(b.index(t, `second "ix"`), false), nil); !r.OK() {
			t.Fatalf("drop: %s", r.Describe())
		}
		if s := b.snap(t); len(s.Indexes) != 0 {
			t.Errorf("invalid indexes left: %+v", s.Indexes)
		}
	})
}
