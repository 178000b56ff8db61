package inspect_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// batchLog records the statements of each batch pgx sends, as the server
// receives them.
type batchLog struct {
	mu      sync.Mutex
	batches [][]string
	// For each activity statement: the rows it said it had seen ($1),
	// those of them it held as still ($5), and how many rows it returned;
	// for each lock-graph statement, the waiters whose entry the client
	// held ($1), and how many entries came back.
	seen, quiet, known [][]int32
	rows, graphRows    []int64
}

func (l *batchLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (l *batchLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *batchLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	l.mu.Lock()
	l.batches = append(l.batches, nil)
	l.mu.Unlock()
	return ctx
}

func (l *batchLog) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := &l.batches[len(l.batches)-1]
	*last = append(*last, d.SQL)
	if strings.Contains(d.SQL, "pgmedic:activity") {
		seen, flags := d.Args[0].([]int32), d.Args[4].([]bool)
		var quiet []int32
		for i, pid := range seen {
			if flags[i] {
				quiet = append(quiet, pid)
			}
		}
		l.seen, l.quiet = append(l.seen, seen), append(l.quiet, quiet)
		l.rows = append(l.rows, d.CommandTag.RowsAffected())
	}
	if strings.Contains(d.SQL, "pgmedic:lock-graph") {
		l.known = append(l.known, d.Args[0].([]int32))
		l.graphRows = append(l.graphRows, d.CommandTag.RowsAffected())
	}
}

func (l *batchLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// last returns the /* pgmedic:name */ tags of the last batch.
func (l *batchLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var tags []string
	for _, sql := range l.batches[len(l.batches)-1] {
		_, rest, _ := strings.Cut(sql, "/* pgmedic:")
		tag, _, _ := strings.Cut(rest, " */")
		tags = append(tags, tag)
	}
	return tags
}

// tracedCollector is a Collector over a connection whose batches are
// logged.
func tracedCollector(t *testing.T, l *lab, db string) (*inspect.Collector, *batchLog) {
	t.Helper()
	ctx := context.Background()
	cfg, err := connect.Config(connect.Options{DBName: l.c.ConnString(db, "")})
	if err != nil {
		t.Fatal(err)
	}
	log := &batchLog{}
	cfg.Tracer = log
	conn, err := connect.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	c, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

func wantBatch(t *testing.T, log *batchLog, want ...string) {
	t.Helper()
	if got := log.last(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("batch sent %v; want %v", got, want)
	}
}

// Every refresh costs three statements; settings and indexes come on the
// slow cadence, at once when an action asks, and when a build ends.
func TestSlowCadence(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	c, log := tracedCollector(t, l, db)
	c.SlowEvery = time.Hour
	snap := func(read func(context.Context) (*inspect.Snapshot, error)) *inspect.Snapshot {
		t.Helper()
		s, err := read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tbl := scenario.Table{Schema: "public", Name: "accounts"}
	must(t, st.CreateTable(ctx, tbl, 100))

	first := snap(c.Snapshot)
	wantBatch(t, log, "tick", "server", "activity", "lock-graph", "invalid-indexes")
	if first.Server.MaxConnections == 0 || first.Server.OwnPID == 0 || !first.IndexesReadAt.Equal(first.TakenAt) {
		t.Errorf("first snapshot: max_connections %d, own pid %d, indexes read at %v (taken %v)",
			first.Server.MaxConnections, first.Server.OwnPID, first.IndexesReadAt, first.TakenAt)
	}

	must(t, st.FailedUniqueIndex(ctx, tbl, "accounts_code_uq"))
	second := snap(c.Snapshot)
	wantBatch(t, log, "tick", "activity", "lock-graph")
	if len(second.Indexes) != 0 || !second.IndexesReadAt.Equal(first.IndexesReadAt) {
		t.Errorf("between slow reads: %d indexes read at %v; want the first snapshot's (none, %v)",
			len(second.Indexes), second.IndexesReadAt, first.IndexesReadAt)
	}
	// Carried over, not lost: the settings of the slow read are still there.
	if second.Server.MaxConnections != first.Server.MaxConnections || second.Server.Version == "" ||
		second.Server.OwnPID != first.Server.OwnPID || second.Saturation.Usable != first.Saturation.Usable {
		t.Errorf("settings not carried over: %+v", second.Server)
	}

	full := snap(c.FullSnapshot)
	wantBatch(t, log, "tick", "server", "activity", "lock-graph", "invalid-indexes")
	index(t, full, "accounts_code_uq")

	slow := scenario.Table{Schema: "public", Name: "slow"}
	builder, err := st.SlowBuild(ctx, slow, "slow_k_idx", 40, 50*time.Millisecond)
	must(t, err)
	building := snap(c.Snapshot)
	if len(building.Builds) != 1 {
		t.Fatalf("builds: %+v; want the slow build", building.Builds)
	}
	wantBatch(t, log, "tick", "activity", "lock-graph")
	// A build started: the index list is read on the next refresh.
	next := snap(c.Snapshot)
	wantBatch(t, log, "tick", "server", "activity", "lock-graph", "invalid-indexes")
	index(t, next, "slow_k_idx") // invalid while it builds
	must(t, builder.Wait(30*time.Second))
}

// A waiter's row is sent once, and again only when its wait changes: while
// its entry in the graph stays what the client holds, it is left out and
// carried whole. Here the same statement waits for table a, then for
// table b.
func TestKnownWaitsAreNotSentAgain(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	c, log := tracedCollector(t, l, db)
	a, b := scenario.Table{Schema: "public", Name: "a"}, scenario.Table{Schema: "public", Name: "b"}
	must(t, st.CreateTable(ctx, a, 1))
	must(t, st.CreateTable(ctx, b, 1))
	holdA, err := st.Open(ctx, "hold-a")
	must(t, err)
	holdB, err := st.Open(ctx, "hold-b")
	must(t, err)
	must(t, holdA.Exec(ctx, "BEGIN; LOCK TABLE "+a.Ident()+" IN ACCESS EXCLUSIVE MODE"))
	must(t, holdB.Exec(ctx, "BEGIN; LOCK TABLE "+b.Ident()+" IN ACCESS EXCLUSIVE MODE"))
	waiter, err := st.Open(ctx, "join")
	must(t, err)
	waiter.Go("SELECT count(*) FROM " + a.Ident() + " JOIN " + b.Ident() + " USING (id)")
	must(t, st.AwaitLockWait(ctx, waiter.PID))

	waitsOn := func(want string, blocker int) {
		t.Helper()
		s, err := c.Snapshot(ctx)
		must(t, err)
		w := s.Backend(waiter.PID)
		if w == nil || w.Waiting == nil || w.Waiting.Relation != want || len(w.BlockedBy) == 0 || w.BlockedBy[0] != blocker {
			t.Fatalf("waiter: %+v; want waiting for %s, blocked by %d", w, want, blocker)
		}
	}
	known := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.known[len(log.known)-1])
	}
	rows := func() (activity, graph int64) {
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.rows[len(log.rows)-1], log.graphRows[len(log.graphRows)-1]
	}
	waitsOn("a", holdA.PID)
	first, entries := rows()
	if n := known(); n != 0 || entries != 1 {
		t.Errorf("first snapshot passed %d known waits and got %d entries; want none and the join's", n, entries)
	}
	waitsOn("a", holdA.PID) // carried: the client knew it
	// Left out: the waiter and both holders (idle in transaction), at
	// least; one row more lists them.
	if second, entries := rows(); known() != 1 || second > first-2 || entries != 0 {
		t.Errorf("second snapshot passed %d known waits, got %d rows (first: %d) and %d entries; "+
			"want the join's, left out, and no entry", known(), second, first, entries)
	}
	must(t, holdA.Exec(ctx, "COMMIT"))
	deadline := time.Now().Add(time.Minute) // a hang
	for {
		s, err := c.Snapshot(ctx)
		must(t, err)
		if w := s.Backend(waiter.PID); w != nil && len(w.BlockedBy) > 0 && w.BlockedBy[0] == holdB.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the join never moved on to wait for b")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitsOn("b", holdB.PID)
	must(t, holdB.Exec(ctx, "COMMIT"))
	must(t, waiter.Wait(10*time.Second))
}

// Rows that have not changed come back without their columns and are
// kept from the previous snapshot; a statement, even a SET, changes them.
func TestUnchangedRowsAreCarried(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	c, log := tracedCollector(t, l, db)
	still, err := st.Open(ctx, "still")
	must(t, err)
	must(t, still.Exec(ctx, "SELECT 'still here'"))
	busy, err := st.Open(ctx, "busy")
	must(t, err)
	must(t, busy.Exec(ctx, "SELECT 'first'"))

	first, err := c.Snapshot(ctx)
	must(t, err)
	must(t, busy.Exec(ctx, "SET application_name = 'renamed'"))
	newcomer, err := st.Open(ctx, "newcomer")
	must(t, err)
	second, err := c.Snapshot(ctx)
	must(t, err)

	log.mu.Lock()
	seen := log.seen[len(log.seen)-1]
	log.mu.Unlock()
	if !slices.Contains(seen, int32(still.PID)) || !slices.Contains(seen, int32(busy.PID)) {
		t.Errorf("the second snapshot told the server it had seen %v; want %d and %d among them", seen, still.PID, busy.PID)
	}
	// The wait event is read afresh on every refresh and may move from ""
	// to ClientRead as the session settles; every other column is carried.
	if a, b := first.Backend(still.PID), second.Backend(still.PID); a == nil || b == nil || !reflect.DeepEqual(withWait(*a, b), *b) {
		t.Errorf("an idle session changed between snapshots:\n%+v\n%+v", a, b)
	} else if b.Query != "SELECT 'still here'" || b.ApplicationName != "still" || b.BackendStart == nil {
		t.Errorf("carried row lost its columns: %+v", b)
	}
	if b := second.Backend(busy.PID); b == nil || b.ApplicationName != "renamed" || b.Query != "SET application_name = 'renamed'" {
		t.Errorf("a session that ran a statement: %+v; want the new name and query", b)
	}
	if b := second.Backend(newcomer.PID); b == nil || b.ApplicationName != "newcomer" {
		t.Errorf("a new session: %+v", b)
	}

	// Sessions idle and reading from their client are quiet: once the
	// client holds them so, they are not sent at all while nothing
	// changes, yet stay in the snapshot whole; one that leaves is gone.
	var third *inspect.Snapshot
	for i := 0; ; i++ {
		if third, err = c.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		log.mu.Lock()
		quiet, rows := log.quiet[len(log.quiet)-1], log.rows[len(log.rows)-1]
		log.mu.Unlock()
		if slices.Contains(quiet, int32(still.PID)) && slices.Contains(quiet, int32(newcomer.PID)) {
			if rows >= int64(len(third.Backends)) {
				t.Errorf("%d rows sent for %d backends, %d of them quiet", rows, len(third.Backends), len(quiet))
			}
			break
		}
		if i == 50 {
			t.Fatalf("the idle sessions never became quiet: quiet %v", quiet)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a, b := first.Backend(still.PID), third.Backend(still.PID); b == nil || !reflect.DeepEqual(withWait(*a, b), *b) ||
		b.WaitEvent != "ClientRead" {
		t.Errorf("a quiet session, carried:\n%+v\nwas\n%+v", b, a)
	}
	_, err = st.Admin().Exec(ctx, "SELECT pg_terminate_backend($1)", newcomer.PID)
	must(t, err)
	must(t, st.AwaitGone(ctx, newcomer.PID))
	fourth, err := c.Snapshot(ctx)
	must(t, err)
	if fourth.Backend(newcomer.PID) != nil {
		t.Errorf("pid %d left, but the snapshot still has it", newcomer.PID)
	}
	if fourth.Backend(still.PID) == nil || fourth.Backend(busy.PID) == nil {
		t.Errorf("quiet sessions went missing: %v", fourth.Backends)
	}
}

// withWait is b with other's wait event.
func withWait(b inspect.Backend, other *inspect.Backend) inspect.Backend {
	b.WaitEventType, b.WaitEvent = other.WaitEventType, other.WaitEvent
	return b
}

// What a snapshot shows of a row is true as of that snapshot, also for the
// changes PostgreSQL makes without moving state_change: a procedure's
// COMMIT inside one CALL moves xact_start, set_config() mid-statement
// moves application_name, and a change stamped before a read's clock but
// written after it (simulated: the collector holds the row as it was
// before the change, with a clock after it).
func TestRowsAreTrue(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	c, _ := tracedCollector(t, l, db)
	// Both changes wait for advisory locks the test holds, so they come
	// when the test lets them, however slow the machine: after the first
	// snapshot and the first read of the server's rows.
	_, err := st.Admin().Exec(ctx, "SELECT pg_advisory_lock(4201), pg_advisory_lock(4202)")
	must(t, err)
	must(t, st.Exec(ctx, `CREATE PROCEDURE commit_midway() LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_lock(4201); COMMIT; PERFORM pg_sleep(60); END $$`))
	proc, err := st.Open(ctx, "procedure")
	must(t, err)
	proc.Go("CALL commit_midway()")
	renamer, err := st.Open(ctx, "before")
	must(t, err)
	renamer.Go("SELECT pg_advisory_lock(4202), set_config('application_name', 'after', false), pg_sleep(60)")
	must(t, st.AwaitState(ctx, "active", proc.PID, renamer.PID))
	must(t, st.AwaitLockWait(ctx, proc.PID))
	must(t, st.AwaitLockWait(ctx, renamer.PID))

	type row struct {
		xact, change time.Time
		app          string
	}
	// Between the procedure's COMMIT and its next transaction xact_start
	// is NULL for a moment: read again until there is one.
	server := func(pid int) row {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			var r row
			var xact *time.Time
			must(t, st.Admin().QueryRow(ctx, `SELECT xact_start, state_change, application_name FROM pg_stat_activity WHERE pid = $1`, pid).
				Scan(&xact, &r.change, &r.app))
			if xact != nil {
				r.xact = *xact
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d has had no transaction for a minute", pid)
			}
		}
	}
	first, err := c.Snapshot(ctx)
	must(t, err)
	procBefore, renamerBefore := server(proc.PID), server(renamer.PID)
	if b := first.Backend(renamer.PID); b == nil || b.ApplicationName != "before" {
		t.Fatalf("before the change: %+v", b)
	}
	// Let both changes happen; wait for them on the server, and check that
	// they did not move state_change: that is what makes them hard to see.
	_, err = st.Admin().Exec(ctx, "SELECT pg_advisory_unlock(4201), pg_advisory_unlock(4202)")
	must(t, err)
	deadline := time.Now().Add(time.Minute) // a hang, not a slow machine
	for server(proc.PID).xact.Equal(procBefore.xact) || server(renamer.PID).app != "after" {
		if time.Now().After(deadline) {
			t.Fatal("the procedure never committed, or the name never changed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	procAfter, renamerAfter := server(proc.PID), server(renamer.PID)
	if !procAfter.change.Equal(procBefore.change) || !renamerAfter.change.Equal(renamerBefore.change) {
		t.Fatalf("state_change moved (%v -> %v, %v -> %v): the case is not the one to test",
			procBefore.change, procAfter.change, renamerBefore.change, renamerAfter.change)
	}
	second, err := c.Snapshot(ctx)
	must(t, err)
	if b := second.Backend(proc.PID); b == nil || b.XactStart == nil || !b.XactStart.Equal(procAfter.xact) {
		t.Errorf("after a COMMIT inside CALL the snapshot shows xact_start %v; the server has %v", b.XactStart, procAfter.xact)
	}
	if b := second.Backend(renamer.PID); b == nil || b.ApplicationName != "after" {
		t.Errorf("after set_config mid-statement the snapshot shows application_name %q; the server has %q", b.ApplicationName, "after")
	}

	// The late write: the collector holds the renamer's row as it was
	// before its statement (older query and state_change), while its clock
	// is later than the statement's state_change. The row must come whole.
	third, err := c.Snapshot(ctx)
	must(t, err)
	if !third.ServerTime.After(renamerAfter.change) {
		t.Fatalf("the clock %v should be after the statement's state_change %v", third.ServerTime, renamerAfter.change)
	}
	inspect.StalePrevious(c, renamer.PID, "SELECT 'the previous statement'", renamerAfter.change.Add(-time.Second))
	fourth, err := c.Snapshot(ctx)
	must(t, err)
	if b := fourth.Backend(renamer.PID); b == nil || !strings.HasPrefix(b.Query, "SELECT pg_advisory_lock(4202), set_config") ||
		b.StateChange == nil || !b.StateChange.Equal(renamerAfter.change) {
		t.Errorf("a row changed before the last clock but held stale was carried: %+v", b)
	}
	must(t, st.Exec(ctx, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid IN ($1, $2)", proc.PID, renamer.PID))
}
