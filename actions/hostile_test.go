package actions_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// The write side tried the hostile way: concurrent writers, a second
// pgmedic on the same object, the catalog changing between attempts,
// statements that ignore a cancel, backends that are stopped, and a
// rebuild cancelled half way.
func TestHostile(t *testing.T) {
	l := &lab{c: pgtest.Start(t, pgcluster.Options{})}
	ctx := context.Background()

	t.Run("a rebuild never lets a duplicate in, with writers running", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 100_000))
		must(t, b.st.Exec(ctx, "CREATE SEQUENCE ids START 1000000"))
		must(t, b.st.InterruptedDrop(ctx, orders, "UNIQUE ", "orders_code_uq", "(code)"))
		ix := b.index(t, "orders_code_uq")
		if !ix.RejectsDuplicates() || ix.Status != inspect.IndexFailedAfterBuild {
			t.Fatalf("staging: want an invalid unique index that still rejects duplicates, got %+v", ix)
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var written, dupsIn, dupsRejected atomic.Int64
		writer := func(sql string, pause time.Duration, ok, rejected *atomic.Int64) {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, b.dsn+" application_name=writer")
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := conn.Exec(ctx, sql)
				var pgErr *pgconn.PgError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &pgErr) && pgErr.Code == "23505":
					rejected.Add(1)
				default:
					t.Errorf("writer: %v", err)
					return
				}
				time.Sleep(pause)
			}
		}
		for range 3 {
			wg.Add(1)
			go writer(`INSERT INTO public.orders (id, code) SELECT nextval('ids'), 'w' || currval('ids')`, 0, &written, &dupsRejected)
		}
		wg.Add(1)
		go writer(`INSERT INTO public.orders (id, code) VALUES (nextval('ids'), 'c1')`, 5*time.Millisecond, &dupsIn, &dupsRejected)
		time.Sleep(200 * time.Millisecond)
		r := actions.Run(ctx, b.env, actions.PlanRebuild(ix, false), nil)
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		if !r.OK() || !strings.Contains(r.Message, "still UNIQUE") {
			t.Fatalf("rebuild: %s", r.Describe())
		}
		var dupKeys int
		must(t, b.st.Admin().QueryRow(ctx, `SELECT count(*) FROM (SELECT code FROM public.orders GROUP BY code HAVING count(*) > 1) d`).Scan(&dupKeys))
		if dupsIn.Load() != 0 || dupKeys != 0 {
			t.Errorf("duplicates got in during the rebuild: %d inserts accepted, %d duplicate keys", dupsIn.Load(), dupKeys)
		}
		if written.Load() == 0 || dupsRejected.Load() == 0 {
			t.Errorf("the writers did not run alongside: %d written, %d duplicates rejected", written.Load(), dupsRejected.Load())
		}
		t.Logf("%d rows written and %d duplicates rejected around a rebuild of %s", written.Load(), dupsRejected.Load(), r.Duration)
		var valid, unique bool
		var oid uint32
		must(t, b.st.Admin().QueryRow(ctx, `SELECT indisvalid, indisunique, indexrelid FROM pg_index WHERE indexrelid = 'public.orders_code_uq'::regclass`).Scan(&valid, &unique, &oid))
		if !valid || !unique || oid == ix.OID {
			t.Errorf("after the rebuild: valid %v unique %v oid %d (was %d)", valid, unique, oid, ix.OID)
		}
	})

	t.Run("a rebuild cancelled half way leaves the index as it was and drops its copy", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 2_000))
		must(t, b.st.InterruptedDrop(ctx, orders, "UNIQUE ", "orders_code_uq", "(code)"))
		must(t, b.st.Exec(ctx, "CREATE TABLE elsewhere (x int); INSERT INTO elsewhere VALUES (1)"))
		// A transaction with an older snapshot, on another table: the
		// build waits for it ("waiting for old snapshots").
		old, err := b.st.Open(ctx, "report-rr")
		must(t, err)
		must(t, old.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM elsewhere"))
		ix := b.index(t, "orders_code_uq")
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		env := b.env
		var notes []string
		var mu sync.Mutex
		env.Progress = func(s string) {
			mu.Lock()
			defer mu.Unlock()
			notes = append(notes, s)
			if strings.Contains(s, fmt.Sprintf("waiting for pid %d (report-rr, idle in transaction", old.PID)) {
				cancel() // the user gives up: esc, or SIGHUP on the CLI
			}
		}
		r := actions.Run(rctx, env, actions.PlanRebuild(ix, false), nil)
		mu.Lock()
		said := strings.Join(notes, "\n")
		mu.Unlock()
		if r.Outcome != "cancelled" || !strings.Contains(r.Message, "is untouched, and pgmedic dropped the unfinished copy") {
			t.Fatalf("cancelled rebuild: %s\nprogress:\n%s", r.Describe(), said)
		}
		if !strings.Contains(said, "waiting for old snapshots") {
			t.Errorf("the wait was not shown while it lasted:\n%s", said)
		}
		var oid uint32
		var valid, ready bool
		var leftovers int
		must(t, b.st.Admin().QueryRow(ctx, `SELECT indexrelid, indisvalid, indisready FROM pg_index WHERE indexrelid = 'public.orders_code_uq'::regclass`).Scan(&oid, &valid, &ready))
		must(t, b.st.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'orders_code_uq_cc%'`).Scan(&leftovers))
		if oid != ix.OID || valid || !ready || leftovers != 0 {
			t.Errorf("after the cancel: oid %d (was %d) valid %v ready %v, %d leftovers", oid, ix.OID, valid, ready, leftovers)
		}
		if err := b.st.Exec(ctx, "INSERT INTO public.orders (id, code) VALUES (-1, 'c1')"); err == nil || !strings.Contains(err.Error(), "23505") {
			t.Errorf("the old index should still reject duplicates after a cancelled rebuild: %v", err)
		}
		lines := b.auditLines(t)
		if len(lines) != 2 || lines[0]["outcome"] != "started" || lines[1]["outcome"] != "cancelled" || lines[0]["id"] != lines[1]["id"] {
			t.Errorf("audit: %v", lines)
		}
		must(t, old.Exec(ctx, "ROLLBACK"))
	})

	t.Run("a second pgmedic is refused, and a retried drop never drops what replaced its target", func(t *testing.T) {
		b, reader := l.dropBehindReader(t, 300*time.Millisecond, "reporting")
		ix := b.index(t, "orders_code_uq")
		second := b.otherEnv(t)

		var once sync.Once
		var refused actions.Result
		env := b.env
		env.Progress = func(s string) {
			once.Do(func() {
				// While the drop waits between attempts: a second pgmedic
				// wants to rebuild the same index, and is told who holds it.
				refused = actions.Run(ctx, second, actions.PlanRebuild(ix, false), nil)
				// Someone else renames the index and builds a valid one
				// under its name.
				must(t, b.st.Exec(ctx, `ALTER INDEX public.orders_code_uq RENAME TO orders_code_uq_old`))
				must(t, b.st.Exec(ctx, `UPDATE public.orders SET code = 'c2' WHERE id = 2`))
				must(t, b.st.Exec(ctx, `CREATE UNIQUE INDEX CONCURRENTLY orders_code_uq ON public.orders (code)`))
			})
		}
		r := actions.Run(ctx, env, actions.PlanDropIndex(ix, false), nil)
		if refused.Outcome != "refused" || !strings.Contains(refused.Message, "another pgmedic is acting on index") ||
			!strings.Contains(refused.Message, "pgmedic, user") {
			t.Errorf("the second pgmedic: %s", refused.Describe())
		}
		if r.Outcome != "failed" || !strings.Contains(r.Message, "orders_code_uq_old") || !strings.Contains(r.Message, "nothing was dropped") {
			t.Errorf("the drop after the catalog changed: %s", r.Describe())
		}
		var valid bool
		var oid uint32
		must(t, b.st.Admin().QueryRow(ctx, `SELECT indisvalid, indexrelid FROM pg_index WHERE indexrelid = 'public.orders_code_uq'::regclass`).Scan(&valid, &oid))
		if !valid || oid == ix.OID {
			t.Errorf("the new orders_code_uq must be untouched: valid %v oid %d", valid, oid)
		}
		if len(r.Attempts) == 0 || !strings.Contains(r.Attempts[0], fmt.Sprintf("pid %d (reporting", reader.PID)) {
			t.Errorf("the attempts should name the reader: %q", r.Attempts)
		}
		must(t, reader.Exec(ctx, "ROLLBACK"))
	})

	t.Run("no action starts while another build runs on the table", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 50))
		must(t, b.st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
		writer, builder, err := b.st.BuildWaitingForWriters(ctx, orders, "orders_v_idx")
		must(t, err)
		ix := b.index(t, "orders_code_uq")
		want := fmt.Sprintf("another index build is running on the table, pid %d (CREATE INDEX CONCURRENTLY, waiting for writers", builder.PID)
		for _, plan := range []actions.Plan{actions.PlanRebuild(ix, false), actions.PlanDropIndex(ix, false)} {
			if r := actions.Run(ctx, b.env, plan, nil); r.Outcome != "refused" || !strings.Contains(r.Message, want) {
				t.Errorf("%s during another build: %s", plan.Kind, r.Describe())
			}
		}
		must(t, writer.Exec(ctx, "ROLLBACK"))
		waitDone(t, builder)
	})

	t.Run("a drop that gives up names whom it waited for", func(t *testing.T) {
		b, reader := l.dropBehindReader(t, 200*time.Millisecond, "nightly-report")
		env := b.env
		env.DropAttempts = 2
		r := actions.Run(ctx, env, actions.PlanDropIndex(b.index(t, "orders_code_uq"), false), nil)
		if r.Outcome != "failed" || !strings.Contains(r.Message, "gave up after 2 attempts") ||
			!strings.Contains(r.Message, fmt.Sprintf("pid %d (nightly-report, idle in transaction", reader.PID)) || len(r.Attempts) != 2 {
			t.Errorf("a drop that gave up: %s; attempts %q", r.Describe(), r.Attempts)
		}
		must(t, reader.Exec(ctx, "ROLLBACK"))
	})

	t.Run("redaction changes what is shown, never what runs", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 200))
		must(t, b.st.InterruptedDrop(ctx, orders, "UNIQUE ", "orders_live_uq", "(code) WHERE code <> 'secret-literal'"))
		s := b.snap(t)
		redact.New().Snapshot(s)
		var ix *inspect.Index
		for i := range s.Indexes {
			if s.Indexes[i].Name == "orders_live_uq" {
				ix = &s.Indexes[i]
			}
		}
		if ix == nil || strings.Contains(ix.Definition, "secret-literal") {
			t.Fatalf("the snapshot should be redacted: %+v", ix)
		}
		plan := actions.PlanRebuild(ix, false)
		for _, st := range plan.Statements {
			if strings.Contains(st.SQL, "$1") {
				t.Errorf("a redacted placeholder reached a statement: %s", st.SQL)
			}
		}
		if r := actions.Run(ctx, b.env, plan, nil); !r.OK() {
			t.Fatalf("rebuild from a redacted snapshot: %s", r.Describe())
		}
		var def string
		must(t, b.st.Admin().QueryRow(ctx, `SELECT pg_get_indexdef('public.orders_live_uq'::regclass)`).Scan(&def))
		if !strings.Contains(def, "'secret-literal'") {
			t.Errorf("the rebuilt index lost its predicate: %s", def)
		}
	})

	t.Run("the duplicate pre-check tests what the unique index enforces", func(t *testing.T) {
		b := l.bench(t, "")
		var version int
		must(t, b.st.Admin().QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version))
		icu := b.st.Exec(ctx, `CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`) == nil
		cases := []struct {
			name   string
			min    int
			rows   string // the table's codes and vs
			index  string // after ON t
			failed bool   // the unique build fails on the rows (else: interrupted drop)
			refuse string // "" = the rebuild goes through
		}{
			{"expression", 0, "('Ab', 1), ('ab', 2)", "(lower(code))", true, "key (lower(code))=(ab) appears 2 times"},
			{"include columns are not key", 0, "('a', 1), ('b', 1)", "(code) INCLUDE (v)", false, ""},
			{"non-deterministic collation", 0, "('X', 1), ('x', 2)", "(code COLLATE ci)", true, "appears 2 times"},
			{"nulls distinct", 0, "(NULL, 1), (NULL, 2), ('a', 3)", "(code)", false, ""},
			{"nulls not distinct", 150000, "(NULL, 1), (NULL, 2)", "(code) NULLS NOT DISTINCT", true, "key (code)=(NULL) appears 2 times"},
			{"partial: outside the predicate", 0, "('a', 1), ('a', 2)", "(code) WHERE v > 5", false, ""},
			{"partial: inside it", 0, "('a', 6), ('a', 7)", "(code) WHERE v > 5", true, "key (code)=(a) appears 2 times"},
			{"two columns", 0, "('a', 1), ('a', 1)", "(code, v)", true, "key (code, v)=(a, 1) appears 2 times"},
		}
		for i, c := range cases {
			if version < c.min || (strings.Contains(c.index, "ci") && !icu) {
				t.Logf("%s: not on this server (version %d, ICU %v)", c.name, version, icu)
				continue
			}
			tbl := scenario.Table{Schema: "public", Name: fmt.Sprintf("d%d", i)}
			name := fmt.Sprintf("d%d_uq", i)
			must(t, b.st.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (code text, v int); INSERT INTO %[1]s VALUES %s", tbl.Ident(), c.rows)))
			if c.failed {
				err := b.st.Exec(ctx, fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s %s", name, tbl.Ident(), c.index))
				if err == nil || !strings.Contains(err.Error(), "23505") {
					t.Fatalf("%s: the unique build should fail on duplicates: %v", c.name, err)
				}
			} else {
				must(t, b.st.InterruptedDrop(ctx, tbl, "UNIQUE ", name, c.index))
			}
			r := actions.Run(ctx, b.env, actions.PlanRebuild(b.index(t, name), false), nil)
			switch {
			case c.refuse == "" && !r.OK():
				t.Errorf("%s: %s", c.name, r.Describe())
			case c.refuse != "" && (r.Outcome != "refused" || !strings.Contains(r.Message, c.refuse)):
				t.Errorf("%s: want a refusal naming %q, got %s", c.name, c.refuse, r.Describe())
			}
		}
	})

	t.Run("the rebuilt index keeps its tablespace, comment and statistics targets", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 500))
		dir := filepath.Join(l.c.Dir, "ts_"+b.db)
		must(t, os.Mkdir(dir, 0o700))
		if fi, err := os.Stat(l.c.DataDir); err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			must(t, os.Chown(dir, int(st.Uid), int(st.Gid)))
		}
		must(t, b.st.Exec(ctx, fmt.Sprintf("CREATE TABLESPACE %s LOCATION '%s'", "ts_"+b.db, dir)))
		t.Cleanup(func() { _ = b.st.Exec(ctx, "DROP TABLE IF EXISTS public.orders; DROP TABLESPACE IF EXISTS ts_"+b.db) })
		must(t, b.st.Exec(ctx, fmt.Sprintf(`CREATE INDEX orders_expr ON public.orders ((lower(code)), v) WITH (fillfactor = 70) TABLESPACE ts_%s;
COMMENT ON INDEX public.orders_expr IS 'read by the nightly report';
ALTER INDEX public.orders_expr ALTER COLUMN 1 SET STATISTICS 777`, b.db)))
		props := func() string {
			var p string
			must(t, b.st.Admin().QueryRow(ctx, `SELECT concat_ws(' | ', c.reltablespace, obj_description(c.oid, 'pg_class'), c.reloptions::text,
  (SELECT string_agg(coalesce(attstattarget::text, '-1'), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = c.oid))
FROM pg_class c WHERE c.oid = 'public.orders_expr'::regclass`).Scan(&p))
			return p
		}
		before := props()
		s := b.snap(t)
		var ix *inspect.Index
		for _, name := range []string{"orders_expr"} {
			var err error
			ix, err = inspect.ReadIndex(ctx, b.st.Admin(), "public."+name)
			must(t, err)
		}
		if ix == nil {
			t.Fatal("orders_expr not found")
		}
		r := actions.Run(ctx, b.env, actions.PlanRebuild(ix, false), s)
		if !r.OK() || !strings.Contains(r.Message, "carried over") {
			t.Fatalf("rebuild: %s", r.Describe())
		}
		if after := props(); after != before || !strings.Contains(after, "777") || !strings.Contains(after, "nightly report") {
			t.Errorf("properties changed: %q -> %q", before, after)
		}
	})

	t.Run("a cancel that is caught, and a stopped backend, are not reported done", func(t *testing.T) {
		b := l.bench(t, "")
		stubborn, err := b.st.Open(ctx, "stubborn")
		must(t, err)
		stubborn.Go(`DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(0.05); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$`)
		must(t, b.st.AwaitState(ctx, "active", stubborn.PID))
		s := b.snap(t)
		r := actions.Run(ctx, b.env, actions.PlanSignal(s, actions.Cancel, stubborn.PID), s)
		if r.Outcome != "failed" || !strings.Contains(r.Message, "still running the same statement") || !strings.Contains(r.Message, "terminate it instead") {
			t.Errorf("a caught cancel: %s", r.Describe())
		}
		// A backend that does not run at all (SIGSTOP): terminate sends
		// SIGTERM, the server's wait runs out, and pgmedic says so
		// instead of blaming a refusal.
		proc, err := os.FindProcess(stubborn.PID)
		must(t, err)
		must(t, proc.Signal(syscall.SIGSTOP))
		defer proc.Signal(syscall.SIGCONT)
		s = b.snap(t)
		r = actions.Run(ctx, b.env, actions.PlanSignal(s, actions.Terminate, stubborn.PID), s)
		if r.Outcome != "failed" || !strings.Contains(r.Message, "was sent SIGTERM but is still there") {
			t.Errorf("terminate of a stopped backend: %s", r.Describe())
		}
		must(t, proc.Signal(syscall.SIGCONT))
		must(t, b.st.AwaitGone(ctx, stubborn.PID))
	})

	t.Run("a parallel worker is refused, naming its leader, which is left alone", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.Exec(ctx, "CREATE TABLE wide AS SELECT g AS v FROM generate_series(1, 4000) g; ANALYZE wide"))
		leader, err := b.st.Open(ctx, "parallel-report")
		must(t, err)
		must(t, leader.Exec(ctx, "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; "+
			"SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0"))
		leader.Go("SELECT count(*) FROM wide WHERE pg_sleep(0.005) IS NOT NULL")
		var worker int
		deadline := time.Now().Add(time.Minute) // a hang
		for worker == 0 && time.Now().Before(deadline) {
			_ = b.st.Admin().QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid = $1 LIMIT 1`,
				leader.PID).Scan(&worker)
			time.Sleep(20 * time.Millisecond)
		}
		if worker == 0 {
			t.Fatal("no parallel worker started")
		}
		s := b.snap(t)
		for _, kind := range []actions.Kind{actions.Cancel, actions.Terminate} {
			r := actions.Run(ctx, b.env, actions.PlanSignal(s, kind, worker), s)
			if r.Outcome != "refused" || !strings.Contains(r.Message, fmt.Sprintf("parallel worker of pid %d", leader.PID)) {
				t.Errorf("%s of worker %d: %s", kind, worker, r.Describe())
			}
		}
		if b.snap(t).Backend(leader.PID).State != "active" {
			t.Error("the leader's query was stopped")
		}
		must(t, b.st.Exec(ctx, "SELECT pg_cancel_backend($1)", leader.PID))
		_ = leader.Wait(10 * time.Second)
	})

	t.Run("rollback-prepared with standard_conforming_strings off", func(t *testing.T) {
		b := l.bench(t, "")
		must(t, b.st.CreateTable(ctx, orders, 10))
		gid := `pay\batch-'17`
		waiter, err := b.st.PreparedHolder(ctx, orders, gid)
		must(t, err)
		must(t, b.st.Exec(ctx, "ALTER DATABASE "+b.db+" SET standard_conforming_strings = off"))
		plan := actions.PlanRollbackPrepared(b.snap(t), gid)
		if r := actions.Run(ctx, b.env, plan, nil); !r.OK() {
			t.Fatalf("rollback prepared %q: %s", gid, r.Describe())
		}
		waitDone(t, waiter)
		var n int
		must(t, b.st.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_prepared_xacts`).Scan(&n))
		if n != 0 {
			t.Errorf("%d prepared transactions left", n)
		}
	})

	t.Run("nothing runs when the audit log cannot be written", func(t *testing.T) {
		b := l.bench(t, "")
		victim, err := b.st.IdleInTransaction(ctx, "victim", 1)
		must(t, err)
		blocker := filepath.Join(t.TempDir(), "not-a-dir")
		must(t, os.WriteFile(blocker, nil, 0o600))
		env := b.env
		env.Audit = &actions.Audit{Path: filepath.Join(blocker, "audit.jsonl")}
		s := b.snap(t)
		r := actions.Run(ctx, env, actions.PlanSignal(s, actions.Terminate, victim[0].PID), s)
		if r.Outcome != "refused" || !strings.Contains(r.Message, "audit log cannot be written") || !strings.Contains(r.Message, "--no-audit") {
			t.Errorf("unwritable audit log: %s", r.Describe())
		}
		if b.snap(t).Backend(victim[0].PID) == nil {
			t.Fatal("the backend was terminated although nothing could be audited")
		}
		env.Audit = nil // --no-audit
		if r := actions.Run(ctx, env, actions.PlanSignal(s, actions.Terminate, victim[0].PID), s); !r.OK() {
			t.Errorf("with --no-audit: %s", r.Describe())
		}
	})

	t.Run("a panic inside an action becomes a failed, audited result", func(t *testing.T) {
		b := l.bench(t, "")
		victim, err := b.st.IdleInTransaction(ctx, "victim", 1)
		must(t, err)
		env := b.env
		env.Monitor = func(context.Context, func(*pgx.Conn) error) error { panic("monitor connection is nil") }
		s := b.snap(t)
		r := actions.Run(ctx, env, actions.PlanSignal(s, actions.Terminate, victim[0].PID), s)
		if r.Outcome != "failed" || !strings.Contains(r.Message, "pgmedic failed inside the action") {
			t.Errorf("panic: %s", r.Describe())
		}
		lines := b.auditLines(t)
		if len(lines) != 2 || lines[1]["outcome"] != "failed" {
			t.Errorf("audit after a panic: %v", lines)
		}
	})
}

// otherEnv is a second pgmedic on the bench's database: its own
// monitoring connection and audit log.
func (b *bench) otherEnv(t *testing.T) actions.Env {
	t.Helper()
	ctx := context.Background()
	mon, err := pgx.Connect(ctx, b.dsn+" application_name=pgmedic")
	must(t, err)
	t.Cleanup(func() { mon.Close(ctx) })
	var mu sync.Mutex
	env := b.env
	env.Monitor = func(ctx context.Context, fn func(*pgx.Conn) error) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(mon)
	}
	env.Snapshot = nil
	env.Audit = &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
	env.Progress = nil
	return env
}
