package inspect

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(-d); return &t }

// idle returns a session holding locks, not waiting.
func idle(pid int, xact time.Duration) Backend {
	return Backend{PID: pid, BackendType: "client backend", State: "idle in transaction", XactStart: at(xact), StateChange: at(xact)}
}

// waiter returns a session waiting for a lock, blocked by the given pids;
// queued lists those only ahead of it in the queue.
func waiter(pid int, wait time.Duration, blockedBy []int, queued ...int) Backend {
	return Backend{
		PID: pid, BackendType: "client backend", State: "active",
		WaitEventType: "Lock", WaitEvent: "relation",
		BlockedBy: blockedBy, BlockersTotal: len(blockedBy), QueuedBehind: queued,
		Waiting: &LockWait{LockType: "relation", Mode: "AccessShareLock", Relation: "users", Since: at(wait)},
	}
}

func nodeByPID(t *testing.T, f *LockForest, pid int) *LockNode {
	t.Helper()
	for i := range f.Nodes {
		if f.Nodes[i].PID == pid {
			return &f.Nodes[i]
		}
	}
	t.Fatalf("pid %d not in forest", pid)
	return nil
}

func rootPIDs(f *LockForest) []int {
	var out []int
	for _, r := range f.Roots {
		out = append(out, f.Nodes[r].PID)
	}
	return out
}

func childPIDs(f *LockForest, n *LockNode) []int {
	var out []int
	for _, c := range n.Children {
		out = append(out, f.Nodes[c].PID)
	}
	return out
}

// The migration incident: an idle transaction holds a lock, ALTER TABLE
// waits for it, and readers queue behind the ALTER (blocked by it only).
func TestForestMigrationPileUp(t *testing.T) {
	backends := []Backend{
		idle(100, 10*time.Minute),
		waiter(200, 9*time.Minute, []int{100}),
		waiter(301, 5*time.Minute, []int{200}, 200),
		waiter(302, 4*time.Minute, []int{200}, 200),
		waiter(303, 6*time.Minute, []int{200}, 200),
		{PID: 999, BackendType: "client backend", State: "active", Own: true},
	}
	f := BuildForest(backends, t0)
	if got := rootPIDs(&f); !slices.Equal(got, []int{100}) {
		t.Fatalf("roots = %v, want [100]", got)
	}
	root := nodeByPID(t, &f, 100)
	if root.BlockedTotal != 4 || root.LongestWait != 9*time.Minute {
		t.Errorf("root blocks %d (longest %v), want 4 (9m)", root.BlockedTotal, root.LongestWait)
	}
	ddl := nodeByPID(t, &f, 200)
	if ddl.Queued || ddl.Depth != 1 || ddl.BlockedTotal != 3 {
		t.Errorf("ddl: queued=%v depth=%d blocks=%d, want holder edge, depth 1, blocks 3", ddl.Queued, ddl.Depth, ddl.BlockedTotal)
	}
	// Readers are queued behind the DDL, longest wait first.
	if got := childPIDs(&f, ddl); !slices.Equal(got, []int{303, 301, 302}) {
		t.Errorf("ddl children = %v, want [303 301 302]", got)
	}
	for _, pid := range []int{301, 302, 303} {
		if n := nodeByPID(t, &f, pid); !n.Queued || n.Depth != 2 {
			t.Errorf("reader %d: queued=%v depth=%d, want queued at depth 2", pid, n.Queued, n.Depth)
		}
	}
	if f.Waiting != 4 {
		t.Errorf("waiting = %d, want 4", f.Waiting)
	}
	for i := range f.Nodes {
		if f.Nodes[i].PID == 999 {
			t.Error("our own backend is in the forest")
		}
	}
}

// A waiter appears once, under its first lock holder; queue blockers and
// further holders are listed as other blockers.
func TestForestPrimaryParent(t *testing.T) {
	backends := []Backend{
		idle(1, time.Hour),
		idle(2, time.Minute),
		waiter(10, time.Minute, []int{1}),
		// 11 is blocked by holder 2 and queued behind 10: parent is 2.
		waiter(11, time.Second, []int{10, 2}, 10),
		// 12 is only queued: parent is the first queue blocker.
		waiter(12, time.Second, []int{10, 11}, 10, 11),
	}
	f := BuildForest(backends, t0)
	n11 := nodeByPID(t, &f, 11)
	if p := f.Nodes[n11.Parent].PID; p != 2 || n11.Queued {
		t.Errorf("11: parent %d queued=%v, want holder 2", p, n11.Queued)
	}
	if !slices.Equal(n11.OtherBlockers, []int{10}) {
		t.Errorf("11: other blockers %v, want [10]", n11.OtherBlockers)
	}
	n12 := nodeByPID(t, &f, 12)
	if p := f.Nodes[n12.Parent].PID; p != 10 || !n12.Queued {
		t.Errorf("12: parent %d queued=%v, want queued behind 10", p, n12.Queued)
	}
	// 1 blocks 10, and through it 11 and 12; 2 blocks 11 and through it 12.
	if got := nodeByPID(t, &f, 1).BlockedTotal; got != 3 {
		t.Errorf("root 1 blocks %d, want 3", got)
	}
	if got := nodeByPID(t, &f, 2).BlockedTotal; got != 2 {
		t.Errorf("root 2 blocks %d, want 2", got)
	}
	if got := rootPIDs(&f); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("roots = %v, want [1 2] (most blocked first)", got)
	}
	seen := map[int]int{}
	f.Walk(func(n *LockNode) { seen[n.PID]++ })
	for pid, n := range seen {
		if n != 1 {
			t.Errorf("pid %d appears %d times in the walk", pid, n)
		}
	}
	if len(seen) != 5 {
		t.Errorf("walk saw %d sessions, want 5", len(seen))
	}
}

func TestForestCycle(t *testing.T) {
	backends := []Backend{
		waiter(7, time.Second, []int{5}),
		waiter(5, time.Second, []int{7}),
		waiter(9, time.Second, []int{7}, 7),
	}
	// The cut must not depend on which node of the cycle is seen first.
	reversed := []Backend{backends[1], backends[0], backends[2]}
	if f := BuildForest(reversed, t0); len(f.Roots) != 1 || f.Nodes[f.Roots[0]].PID != 5 {
		t.Fatalf("reversed order: roots %v, want [5]", rootPIDs(&f))
	}
	f := BuildForest(backends, t0)
	if got := rootPIDs(&f); !slices.Equal(got, []int{5}) {
		t.Fatalf("roots = %v, want the cycle cut at its lowest pid [5]", got)
	}
	for _, pid := range []int{5, 7} {
		if !nodeByPID(t, &f, pid).Cycle {
			t.Errorf("pid %d not marked as part of the cycle", pid)
		}
	}
	if nodeByPID(t, &f, 9).Cycle {
		t.Error("pid 9 waits on the cycle but is not part of it")
	}
	if got := nodeByPID(t, &f, 5).BlockedTotal; got != 2 {
		t.Errorf("cycle root blocks %d, want 2 (7 and 9)", got)
	}
}

// Parallel workers are folded into their leader, and pg_blocking_pids()
// repeating the leader's pid does not duplicate edges.
func TestForestParallelWorkers(t *testing.T) {
	leader := Backend{PID: 40, BackendType: "client backend", State: "active", XactStart: at(time.Minute)}
	worker := waiter(41, 30*time.Second, []int{1})
	worker.BackendType, worker.LeaderPID = "parallel worker", 40
	backends := []Backend{
		idle(1, time.Hour),
		leader,
		worker,
		waiter(50, time.Second, []int{40, 40}),
	}
	f := BuildForest(backends, t0)
	for i := range f.Nodes {
		if f.Nodes[i].PID == 41 {
			t.Fatal("parallel worker appears as its own node")
		}
	}
	l := nodeByPID(t, &f, 40)
	if l.IsRoot() || f.Nodes[l.Parent].PID != 1 {
		t.Errorf("leader should wait under 1 through its worker")
	}
	if l.Wait != 30*time.Second {
		t.Errorf("leader wait = %v, want the worker's 30s", l.Wait)
	}
	if got := childPIDs(&f, l); !slices.Equal(got, []int{50}) {
		t.Errorf("leader children = %v, want [50] once", got)
	}
	if got := nodeByPID(t, &f, 1).BlockedTotal; got != 2 {
		t.Errorf("root blocks %d, want 2", got)
	}
}

func TestForestPreparedAndVanished(t *testing.T) {
	p := waiter(20, time.Minute, []int{0})
	p.PreparedGID = "txn-42"
	backends := []Backend{
		p,
		waiter(21, time.Second, []int{0}),
		waiter(22, time.Second, []int{31337}),
	}
	f := BuildForest(backends, t0)
	if len(f.Roots) != 3 {
		t.Fatalf("roots = %v, want 3 (prepared txn-42, prepared unknown, vanished 31337)", rootPIDs(&f))
	}
	var gids []string
	var gone []int
	for _, r := range f.Roots {
		n := &f.Nodes[r]
		if n.Backend != -1 {
			t.Errorf("root pid %d has a backend", n.PID)
		}
		if n.PID == 0 {
			gids = append(gids, n.PreparedGID)
		}
		if n.Gone {
			gone = append(gone, n.PID)
		}
	}
	slices.Sort(gids)
	if !slices.Equal(gids, []string{"", "txn-42"}) || !slices.Equal(gone, []int{31337}) {
		t.Errorf("prepared roots %q, gone roots %v", gids, gone)
	}
}

func TestForestEmpty(t *testing.T) {
	f := BuildForest([]Backend{idle(1, time.Hour), {PID: 2, State: "active"}}, t0)
	if len(f.Nodes) != 0 || len(f.Roots) != 0 || f.Waiting != 0 {
		t.Errorf("forest of a calm server = %+v, want empty", f)
	}
}

// Truncated blocker lists keep the true count for "+N more".
func TestForestBlockersTotal(t *testing.T) {
	w := waiter(10, time.Second, []int{1, 2})
	w.BlockersTotal = 40
	f := BuildForest([]Backend{idle(1, time.Minute), idle(2, time.Minute), w}, t0)
	if n := nodeByPID(t, &f, 10); n.BlockersTotal != 40 || !slices.Equal(n.OtherBlockers, []int{2}) {
		t.Errorf("blockers total %d others %v, want 40 and [2]", n.BlockersTotal, n.OtherBlockers)
	}
}
