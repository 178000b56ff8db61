package tui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

func TestKeyStrings(t *testing.T) {
	for _, k := range []string{"K", "C", "D", "R", "G", "j", "/", "?", "+", "-", "space", "enter", "esc", "tab", "shift+tab"} {
		if got := keyMsg(k).String(); got != k {
			t.Errorf("key %q reads as %q", k, got)
		}
	}
}

func TestViewSwitching(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	for _, c := range []struct {
		key  string
		want int
	}{{"2", 1}, {"3", 2}, {"4", 3}, {"1", 0}, {"tab", 1}, {"tab", 2}, {"shift+tab", 1}, {"shift+tab", 0}, {"shift+tab", 5}, {"5", 4}, {"6", 5}} {
		press(m, c.key)
		if m.active != c.want {
			t.Fatalf("after %q the view is %d, want %d", c.key, m.active, c.want)
		}
	}
	press(m, "3")
	mustContain(t, screen(m), "▸ 3 Locks", "SESSION", "4101", "AccessExclusiveLock on users")
}

func TestTriageRanksRootBlockerFirst(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	f := m.panes[0].(*triage).rows
	if len(f) < 4 || f[0].label != "BLOCKING" || f[0].target.pid != 4101 {
		t.Fatalf("first finding = %+v, want the root blocker 4101", f[0])
	}
	labels := []string{}
	for _, r := range f {
		labels = append(labels, r.label)
	}
	want := "BLOCKING INVALID BUILDING LEFTOVER BUILD IDLE IN TX"
	if got := strings.Join(labels, " "); got != want {
		t.Errorf("findings %q, want %q (unique invalid index that rejects duplicates before the rest)", got, want)
	}
	mustContain(t, screen(m), "api: last UPDATE users · holds up 4 · pid 4101 idle in tx 6m30s", "[K] terminate",
		"accounts_email_uq")
	// The console idle in transaction for 20 minutes blocks nobody but is listed.
	if f[len(f)-1].target.pid != 4300 {
		t.Errorf("last finding = %+v, want the forgotten console", f[len(f)-1])
	}
}

func TestTriageEmptyState(t *testing.T) {
	s := fixture(0)
	s.Backends = s.Backends[:0]
	s.Indexes, s.Builds = nil, nil
	s.Saturation = inspectSaturation(s)
	s.LockForest = inspectForest(s)
	m := newTestModel(t, s, 100, 30)
	mustContain(t, screen(m), "Nothing looks wrong:", "no session is blocked")
}

func TestPoolWarningBeforeFull(t *testing.T) {
	s := fixture(25) // 31 of 37 usable slots: 84%
	m := newTestModel(t, s, 120, 40)
	frame := screen(m)
	mustContain(t, frame, "HIGH", "84% of usable slots in use")
	m = New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, WarnPercent: 90})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	if f := screen(m); strings.Contains(f, "HIGH") || strings.Contains(f, "usable slots in use") {
		t.Errorf("with --warn-at 90 an 84%% pool should not warn:\n%s", f)
	}
}

func TestNavigationAndSelectionByKey(t *testing.T) {
	m := newTestModel(t, fixture(5), 120, 40)
	press(m, "2")
	conns := m.panes[1].(*connections)
	if got := conns.rows[0].pid; got != 4101 {
		t.Fatalf("connections sorted by state start with %d, want the blocker 4101", got)
	}
	press(m, "j", "j")
	sel := conns.selected().pid
	if sel != conns.rows[2].pid {
		t.Fatalf("j j selects %d, want row 2 (%d)", sel, conns.rows[2].pid)
	}
	// A refresh with new rows before it and a new order keeps the pid.
	s := fixture(8)
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	if got := conns.selected().pid; got != sel {
		t.Errorf("after a refresh the selection moved from %d to %d", sel, got)
	}
	// Re-sorting keeps it too.
	press(m, "s")
	if got := conns.selected().pid; got != sel {
		t.Errorf("after re-sorting the selection moved from %d to %d", sel, got)
	}
	press(m, "G")
	if conns.list.cursor != len(conns.rows)-1 {
		t.Errorf("G: cursor %d of %d", conns.list.cursor, len(conns.rows))
	}
	press(m, "g")
	if conns.list.cursor != 0 {
		t.Errorf("g: cursor %d", conns.list.cursor)
	}
	// A vanished selection falls back to the same position.
	press(m, "j")
	gone := conns.selected().pid
	s = fixture(8)
	for i := range s.Backends {
		if s.Backends[i].PID == gone {
			s.Backends = append(s.Backends[:i], s.Backends[i+1:]...)
			break
		}
	}
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	if conns.list.cursor != 1 {
		t.Errorf("after the selected backend vanished the cursor is at %d, want 1", conns.list.cursor)
	}
}

func TestSortAndOrder(t *testing.T) {
	m := newTestModel(t, fixture(3), 160, 40)
	press(m, "2")
	conns := m.panes[1].(*connections)
	press(m, "s") // age, longest first
	if sortOrder[conns.sort] != colAge {
		t.Fatalf("s: sort column %d", sortOrder[conns.sort])
	}
	for i := 1; i < len(conns.rows); i++ {
		if conns.rows[i-1].age < conns.rows[i].age {
			t.Fatalf("rows not by age, longest first: %v before %v", conns.rows[i-1].age, conns.rows[i].age)
		}
	}
	press(m, "s", "s", "o") // pid, descending
	if sortOrder[conns.sort] != colPID || !conns.desc {
		t.Fatalf("sort %d desc %v", sortOrder[conns.sort], conns.desc)
	}
	for i := 1; i < len(conns.rows); i++ {
		if conns.rows[i-1].pid < conns.rows[i].pid {
			t.Fatalf("rows not by pid descending")
		}
	}
	mustContain(t, screen(m), "PID▼")
}

func TestFilter(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	press(m, "2", "/")
	if !m.filtering {
		t.Fatal("/ does not open the filter")
	}
	typeText(m, "MIGRATE")
	conns := m.panes[1].(*connections)
	if len(conns.rows) != 2 {
		t.Fatalf("filter migrate leaves %d rows, want the ALTER and the build", len(conns.rows))
	}
	press(m, "enter")
	if m.filtering || m.c.filter != "MIGRATE" {
		t.Fatalf("enter should keep the filter: filtering=%v filter=%q", m.filtering, m.c.filter)
	}
	mustContain(t, screen(m), "filter: MIGRATE")
	press(m, "/")
	typeText(m, "x")
	press(m, "esc")
	if m.c.filter != "" || len(conns.rows) < 8 {
		t.Errorf("esc in the filter clears it: filter %q, %d rows", m.c.filter, len(conns.rows))
	}
	// The filter covers the query text too.
	press(m, "/")
	typeText(m, "referral_code")
	press(m, "enter")
	if len(conns.rows) != 1 || conns.rows[0].pid != 4102 {
		t.Errorf("filter on query text: %d rows", len(conns.rows))
	}
	press(m, "esc")
	if m.c.filter != "" {
		t.Error("esc outside the input clears the filter")
	}
}

func TestGroupCounts(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	press(m, "2", "b")
	mustContain(t, screen(m), "CLIENT BACKENDS BY APPLICATION", "api")
	press(m, "b")
	mustContain(t, screen(m), "CLIENT BACKENDS BY USER", "alice")
}

func TestPollingNeverPilesUp(t *testing.T) {
	src := &fakeSource{snap: fixture(1)}
	m := New(src, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Init()
	if !m.inFlight {
		t.Fatal("Init starts a refresh")
	}
	// A tick while the refresh runs is dropped.
	if _, cmd := m.Update(refreshMsg{gen: m.gen}); cmd != nil {
		t.Error("a tick during a refresh started another")
	}
	// The result schedules the next tick.
	if _, cmd := m.Update(snapshotMsg{gen: m.gen, snap: src.snap}); cmd == nil || m.inFlight {
		t.Error("a result must schedule the next tick")
	}
	// A tick from an older generation is dropped.
	old := m.gen
	press(m, "+")
	if _, cmd := m.Update(refreshMsg{gen: old}); cmd != nil {
		t.Error("a tick from before the interval changed started a refresh")
	}
	if m.interval != 500*time.Millisecond {
		t.Errorf("+ halves the interval: %v", m.interval)
	}
	press(m, "-", "-")
	if m.interval != 2*time.Second {
		t.Errorf("- doubles it: %v", m.interval)
	}
	// The current generation's tick fetches.
	if _, cmd := m.Update(refreshMsg{gen: m.gen}); cmd == nil || !m.inFlight {
		t.Error("a current tick should start a refresh")
	}
	cmd := m.fetch()
	if msg, ok := cmd().(snapshotMsg); !ok || msg.snap != src.snap {
		t.Error("fetch returns the source's snapshot")
	}
}

func TestPause(t *testing.T) {
	m := newTestModel(t, fixture(1), 100, 30)
	press(m, "space")
	if !m.paused {
		t.Fatal("space pauses")
	}
	mustContain(t, screen(m), "PAUSED", "frozen")
	if _, cmd := m.Update(refreshMsg{gen: m.gen}); cmd != nil {
		t.Error("a tick while paused started a refresh")
	}
	if cmd := press(m, "space"); cmd == nil || m.paused || !m.inFlight {
		t.Error("space again resumes with an immediate refresh")
	}
}

func TestDisconnectKeepsDataStale(t *testing.T) {
	src := &fakeSource{snap: fixture(3)}
	m := New(src, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: src.snap})
	later := fixedNow.Add(42 * time.Second)
	m.c.opts.Now = func() time.Time { return later }
	if _, cmd := m.Update(snapshotMsg{gen: m.gen, err: errGone}); cmd == nil {
		t.Fatal("a failure must schedule a retry")
	}
	frame := screen(m)
	mustContain(t, frame, "DISCONNECTED", "STALE data 42s old", "lost the connection", "pid 4101", "retry in 1s (space twice: now)")
	if backoff(1) != time.Second || backoff(2) != 2*time.Second || backoff(3) != 5*time.Second || backoff(20) != 5*time.Second {
		t.Errorf("backoff 1s, 2s, 5s, 5s ...: got %v %v %v %v", backoff(1), backoff(2), backoff(3), backoff(20))
	}
	m.Update(snapshotMsg{gen: m.gen, err: errGone})
	if m.failures != 2 || !m.retryAt.Equal(later.Add(2*time.Second)) {
		t.Errorf("second failure: %d failures, retry at %v", m.failures, m.retryAt)
	}
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(3)})
	if m.lastErr != nil || strings.Contains(screen(m), "DISCONNECTED") {
		t.Error("a success clears the error")
	}
}

func TestSlowRefreshShown(t *testing.T) {
	m := newTestModel(t, fixture(1), 100, 30)
	m.Update(refreshMsg{gen: m.gen})
	m.c.opts.Now = func() time.Time { return fixedNow.Add(7 * time.Second) }
	m.Update(clockMsg{})
	mustContain(t, screen(m), "refresh taking 7s")
}

func TestDetailAndHelp(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	press(m, "enter")
	frame := screen(m)
	mustContain(t, frame, "BACKEND 4101", "BLOCKING", "UPDATE users SET last_seen", "blocks", "4102")
	press(m, "esc")
	if m.detail != nil {
		t.Fatal("esc closes the details")
	}
	press(m, "4", "enter")
	mustContain(t, screen(m), "INDEX public.accounts_email_uq", "still checks it and rejects", "CREATE UNIQUE INDEX")
	// The index is dropped by someone else: the pane says so.
	s := fixture(3)
	s.Indexes = s.Indexes[1:]
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	mustContain(t, screen(m), "no longer invalid or no longer exists")
	press(m, "esc", "?")
	// The help lists this view's keys and every view's; the keys that do
	// not apply here say why.
	mustContain(t, screen(m), "Indexes", "In every view", "drop invalid index", "rebuild index",
		"terminate backend — select a session first")
	press(m, "?")
	if m.showHelp {
		t.Error("? closes the help")
	}
}

// fakeExecutor records what it was asked to run.
type fakeExecutor struct {
	ran    []actions.Plan
	result func(actions.Plan) actions.Result
}

func (f *fakeExecutor) Execute(_ context.Context, p actions.Plan, _ *inspect.Snapshot, progress func(string)) actions.Result {
	f.ran = append(f.ran, p)
	progress("working")
	if f.result != nil {
		return f.result(p)
	}
	return actions.Result{Plan: p, Outcome: "done", Message: "did " + string(p.Kind), Started: fixedNow}
}

func withExecutor(t *testing.T, s *inspect.Snapshot, exec Executor, readOnly bool) *Model {
	t.Helper()
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: exec, ReadOnly: readOnly})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	return m
}

// runAll feeds the commands of an action back until it is done.
func runAll(m *Model, cmd tea.Cmd) {
	for i := 0; cmd != nil && i < 10; i++ {
		switch msg := cmd().(type) {
		case actionProgressMsg, actionDoneMsg:
			_, cmd = m.Update(msg)
		default:
			return
		}
	}
}

func TestActionDialogNoIsDefault(t *testing.T) {
	exec := &fakeExecutor{}
	s := fixture(3)
	m := withExecutor(t, s, exec, false)
	// The root blocker is selected on Triage; K opens the dialog with the SQL.
	press(m, "K")
	if m.life.stage != confirming {
		t.Fatal("K opens no dialog")
	}
	frame := screen(m)
	mustContain(t, frame, "Terminate backend 4101", "pg_terminate_backend(pid, 3000)", "4 session(s) wait on it",
		"rolls back", "[y] yes, run it", "[n/esc] no (default)")
	// Anything but y is no.
	for _, k := range []string{"n", "esc", "Y", "enter", "space"} {
		press(m, "K")
		press(m, k)
		if m.life.stage != idle || len(exec.ran) != 0 {
			t.Fatalf("%q ran or kept the dialog: ran %d", k, len(exec.ran))
		}
	}
	mustContain(t, screen(m), "not run: nothing was changed")
	press(m, "K")
	cmd := press(m, "y")
	if m.life.stage != running || cmd == nil {
		t.Fatal("y starts the action")
	}
	runAll(m, cmd)
	if len(exec.ran) != 1 || exec.ran[0].Kind != actions.Terminate || exec.ran[0].Backend.PID != 4101 {
		t.Fatalf("ran %+v", exec.ran)
	}
	if m.life.busy() {
		t.Error("the action is still marked running")
	}
	mustContain(t, screen(m), "DONE: did terminate")
	press(m, "5")
	mustContain(t, screen(m), "COMMAND LOG", "DONE", "pg_terminate_backend(pid, 3000)")
	if len(m.Log()) != 1 {
		t.Errorf("log has %d entries", len(m.Log()))
	}
}

func TestActionRefusalsAndReadOnly(t *testing.T) {
	exec := &fakeExecutor{}
	m := withExecutor(t, fixture(3), exec, false)
	press(m, "C") // cancel of an idle-in-transaction root
	mustContain(t, screen(m), "REFUSED:", "idle in a transaction", "Instead: terminate it instead")
	if cmd := press(m, "y"); cmd != nil || m.life.stage != idle {
		t.Errorf("y on a refused plan did something: stage %d", m.life.stage)
	}
	press(m, "D") // the root is a session, not an index
	mustContain(t, screen(m), "D: select an index first")
	press(m, "4", "D")
	mustContain(t, screen(m), "Drop invalid index public.accounts_email_uq", `DROP INDEX CONCURRENTLY IF EXISTS "public"."accounts_email_uq"`,
		"still rejects duplicates today")
	press(m, "esc")

	ro := withExecutor(t, fixture(3), exec, true)
	k := &ro.c.keys
	for _, b := range []key.Binding{k.Cancel, k.Terminate, k.DropIndex, k.RebuildIndex} { // every key that changes the server
		k := b.Keys()[0]
		press(ro, k)
		if ro.life.stage != idle {
			t.Fatalf("read-only: %s opened a dialog", k)
		}
		mustContain(t, screen(ro), k+": read-only: started with --read-only")
	}
	none := withExecutor(t, fixture(3), nil, false)
	press(none, "K")
	mustContain(t, screen(none), "actions are not available")
}

func TestActionBlockerShiftAndQuitWhileRunning(t *testing.T) {
	exec := &fakeExecutor{result: func(p actions.Plan) actions.Result {
		return actions.Result{Plan: p, Outcome: "done", Message: "terminated", NewRoots: []int{4102}, Started: fixedNow}
	}}
	m := withExecutor(t, fixture(3), exec, false)
	press(m, "3", "K")
	runAll(m, press(m, "y"))
	if got := m.panes[2].selected().pid; got != 4102 {
		t.Errorf("after a blocker shift the Locks cursor is on %d, want the new root 4102", got)
	}
	mustContain(t, screen(m), "blocker shift: pid 4102 now heads a queue")

	// q while an action runs asks first; n keeps watching.
	block := make(chan struct{})
	slow := &slowExecutor{release: block}
	m = withExecutor(t, fixture(3), slow, false)
	press(m, "K")
	listen := press(m, "y")
	press(m, "q")
	mustContain(t, screen(m), "An action is running", "Quit anyway?")
	if cmd := press(m, "n"); cmd != nil {
		t.Error("n must not quit")
	}
	// y cancels the action and quits once its result is in.
	press(m, "q", "y")
	if !slow.cancelled() {
		t.Error("y did not cancel the action")
	}
	if _, cmd := m.Update(listen()); !isQuit(cmd) {
		t.Error("the cancelled action's result did not quit")
	}
	close(block)
}

// slowExecutor runs until released or cancelled.
type slowExecutor struct {
	release chan struct{}
	mu      sync.Mutex
	ctx     context.Context
}

func (s *slowExecutor) Execute(ctx context.Context, p actions.Plan, _ *inspect.Snapshot, _ func(string)) actions.Result {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-s.release:
	}
	return actions.Result{Plan: p, Outcome: "failed", Message: "cancelled"}
}

func (s *slowExecutor) cancelled() bool {
	for range 100 {
		s.mu.Lock()
		ctx := s.ctx
		s.mu.Unlock()
		if ctx != nil && ctx.Err() != nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// The Locks view draws as many waiters as it has rows for; the rest are
// one "+N more" row, which enter expands.
func TestLocksMoreRowExpands(t *testing.T) {
	m := newTestModel(t, fixture(15), 120, 40)
	press(m, "3")
	if frame := screen(m); strings.Contains(frame, "more") || !strings.Contains(frame, "4214") {
		t.Errorf("15 waiters in 40 rows are not all drawn:\n%s", frame)
	}
	m = newTestModel(t, fixture(30), 120, 30) // 24 rows for the tree
	press(m, "3")
	mustContain(t, screen(m), "+9 more") // 24 rows: the blocker, its waiter, 21 behind it and this one
	p := m.panes[2].(*locks)
	press(m, "G")
	if p.selected().more != 4102 {
		t.Fatalf("last row is %+v, want the +N more row of 4102", p.selected())
	}
	press(m, "enter")
	if strings.Contains(screen(m), "+9 more") || len(p.rows) != 32 {
		t.Errorf("enter on +N more shows every waiter: %d rows", len(p.rows))
	}
}

func TestQuit(t *testing.T) {
	m := newTestModel(t, fixture(1), 100, 30)
	cmd := press(m, "q")
	if cmd == nil {
		t.Fatal("q returns no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit")
	}
}

func TestTooSmall(t *testing.T) {
	m := newTestModel(t, fixture(1), 79, 30)
	mustContain(t, screen(m), "terminal too small (79×30, need 80×24)")
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	mustContain(t, screen(m), "Triage")
}

// lockingSource also offers the locks of one backend.
type lockingSource struct {
	fakeSource
	asked []int
}

func (l *lockingSource) Locks(_ context.Context, pid int) ([]inspect.Lock, error) {
	l.asked = append(l.asked, pid)
	return []inspect.Lock{
		{LockType: "relation", Mode: "RowExclusiveLock", Granted: true, Object: "users"},
		{LockType: "transactionid", Mode: "ExclusiveLock", Granted: true, Object: "xid 1234"},
	}, nil
}

func TestDetailShowsHeldLocks(t *testing.T) {
	src := &lockingSource{fakeSource: fakeSource{snap: fixture(3)}}
	m := New(src, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: src.snap})
	cmd := press(m, "enter")
	mustContain(t, screen(m), "LOCKS", "(reading…)")
	if cmd == nil {
		t.Fatal("opening a backend's details should read its locks")
	}
	m.Update(cmd())
	if len(src.asked) != 1 || src.asked[0] != 4101 {
		t.Fatalf("locks asked for %v, want [4101]", src.asked)
	}
	mustContain(t, screen(m), "holds   RowExclusiveLock", "users", "xid 1234")
	// While the pane is open, each refresh reads them again; closed, never.
	if _, cmd = m.Update(snapshotMsg{gen: m.gen, snap: src.snap}); cmd == nil {
		t.Error("a refresh with the pane open should schedule a lock read")
	}
	press(m, "esc")
	before := len(src.asked)
	m.Update(snapshotMsg{gen: m.gen, snap: src.snap})
	if len(src.asked) != before {
		t.Error("locks were read with no detail pane open")
	}
}

// A refusal for lack of slots (53300) is shown whole, advice included,
// even at 80 columns.
func TestTooManyClientsAdviceVisible(t *testing.T) {
	m := newTestModel(t, fixture(3), 80, 24)
	err := errors.New(`cannot connect to db1:5432 as user "app", database "shop": no connection slot is left for this role: ` +
		`the server said: remaining connection slots are reserved for non-replication superuser connections (SQLSTATE 53300). ` +
		`Connect as a superuser, or on 16+ as a role with pg_use_reserved_connections.`)
	m.Update(snapshotMsg{gen: m.gen, err: err})
	frame := screen(m)
	mustContain(t, frame, "DISCONNECTED", "SQLSTATE 53300", "pg_use_reserved_connections", "STALE", "api: last UPDATE users · holds up 4 · pid 4101")
}

func TestPreparedHolderRefusal(t *testing.T) {
	s := fixture(0)
	w := s.Backends[1] // the DDL, now waiting for a prepared transaction
	w.BlockedBy, w.PreparedGID = []int{0}, "pay-17"
	s.Backends[1] = w
	s.LockForest = inspectForest(s)
	m := withExecutor(t, s, &fakeExecutor{}, false)
	press(m, "3", "g", "K")
	mustContain(t, screen(m), "REFUSED:", "no backend behind it", "pgmedic rollback-prepared 'pay-17'")
}

func TestEscOffersToCancelARunningAction(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	slow := &slowExecutor{release: block}
	m := withExecutor(t, fixture(3), slow, false)
	press(m, "4", "R") // rebuild the failed unique index
	mustContain(t, screen(m), "Rebuild index public.accounts_email_uq", "REINDEX INDEX CONCURRENTLY")
	press(m, "y")
	mustContain(t, screen(m), "RUNNING Rebuild index public.accounts_email_uq", "esc cancels")
	press(m, "esc")
	mustContain(t, screen(m), "Cancel Rebuild index", "The index stays as it was: pgmedic drops the unfinished copy")
	press(m, "n")
	slow.mu.Lock()
	ctx := slow.ctx
	slow.mu.Unlock()
	if ctx != nil && ctx.Err() != nil {
		t.Fatal("n cancelled the action")
	}
	press(m, "esc", "y")
	if !slow.cancelled() {
		t.Error("esc then y did not cancel the running action")
	}
}

// An action's result carries the server's words: they are sanitized too.
func TestResultMessagesAreSanitized(t *testing.T) {
	exec := &fakeExecutor{result: func(p actions.Plan) actions.Result {
		return actions.Result{Plan: p, Outcome: "failed", Message: "index \"x\x1b]0;pwned\x07\" is locked \x1b[2J", Started: fixedNow}
	}}
	m := withExecutor(t, fixture(3), exec, false)
	press(m, "K")
	runAll(m, press(m, "y"))
	raw := m.View().Content
	if strings.Contains(raw, "\x1b]0;pwned") || strings.Contains(raw, "\x1b[2J") {
		t.Error("a server message reached the frame raw")
	}
	mustContain(t, screen(m), `x\x1b]0;pwned\x07`)
}

// On a standby Triage offers no index key, and D or R say why instead of
// asking; K still asks, since a terminate works on a standby.
func TestStandbyOffersNoIndexActions(t *testing.T) {
	exec := &fakeExecutor{}
	s := fixture(3)
	s.Server.InRecovery = true
	m := withExecutor(t, s, exec, false)
	frame := screen(m)
	if strings.Contains(frame, "[D] drop") || strings.Contains(frame, "[R] rebuild") {
		t.Errorf("a standby's Triage offers D or R:\n%s", frame)
	}
	mustContain(t, frame, "on the primary")
	press(m, "4")
	for _, k := range []string{"D", "R"} {
		press(m, k)
		mustContain(t, screen(m), "REFUSED:", "standby", "primary")
		if cmd := press(m, "y"); cmd != nil || len(exec.ran) != 0 {
			t.Fatalf("%s on a standby ran", k)
		}
		press(m, "esc")
	}
	press(m, "1", "K")
	if m.life.stage != confirming {
		t.Errorf("K on a standby opens no dialog:\n%s", screen(m))
	}
}

// Behind a pooler, index actions are refused in their dialog, before
// anyone is asked; terminate is still offered.
func TestPoolerRefusesIndexActionsBeforeAsking(t *testing.T) {
	exec := &fakeExecutor{}
	s := fixture(3)
	s.Server.Pooler = true
	m := withExecutor(t, s, exec, false)
	press(m, "4")
	for _, k := range []string{"D", "R"} {
		press(m, k)
		mustContain(t, screen(m), "REFUSED:", "connection pooler", "PostgreSQL directly")
		if strings.Contains(screen(m), "[y] yes, run it") {
			t.Fatalf("%s behind a pooler offers to run it:\n%s", k, screen(m))
		}
		press(m, "esc")
	}
	press(m, "1", "K")
	if m.life.stage != confirming || !strings.Contains(screen(m), "[y] yes, run it") {
		t.Errorf("K behind a pooler should still ask:\n%s", screen(m))
	}
}

// The snapshot's warnings are on Triage, whole where they fit; where they
// do not, they are cut to a third of the view and say so, and the first
// finding stays in sight. With nothing found, they still qualify
// "nothing looks wrong".
func TestTriageShowsWarnings(t *testing.T) {
	s := fixture(3)
	s.Warnings = []string{`role "watcher" lacks pg_read_all_stats`, `role "watcher" lacks pg_signal_backend`}
	mustContain(t, screen(newTestModel(t, s, 80, 24)), `⚠ role "watcher" lacks pg_read_all_stats`,
		`⚠ role "watcher" lacks pg_signal_backend`, "BLOCKING   api: last UPDATE users")

	long := strings.Repeat("an invalid index of database x was not checked; ", 20)
	s.Warnings = []string{long, long}
	frame := screen(newTestModel(t, s, 80, 24))
	mustContain(t, frame, "⚠ an invalid index", " …", "BLOCKING   api: last UPDATE users")
	if n := strings.Count(frame, "an invalid index"); n > 16 {
		t.Errorf("the warnings take the view:\n%s", frame)
	}

	empty := &inspect.Snapshot{TakenAt: fixedNow, ServerTime: fixedNow, Server: s.Server, Warnings: []string{"indexes of database \"x\" not checked"}}
	mustContain(t, screen(newTestModel(t, empty, 80, 24)), `⚠ indexes of database "x" not checked`, "Nothing looks wrong")
}
