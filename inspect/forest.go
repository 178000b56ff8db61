package inspect

import (
	"cmp"
	"slices"
	"time"
)

// MaxBlockersPerWaiter bounds how many blockers of one waiter are read from
// pg_blocking_pids(). Lock holders come first, then the queue ahead, so the
// first few are the ones that matter; a hot-row queue of n waiters would
// otherwise produce n² edges. Backend.BlockersTotal keeps the true count.
const MaxBlockersPerWaiter = 8

// LockForest is the wait-for graph of heavyweight locks, drawn as a forest.
//
// The server's graph is a DAG (a waiter can be blocked by a lock holder and
// by every conflicting waiter queued ahead of it), but a responder needs a
// tree: each waiter appears exactly once, under one primary blocker:
//
//   - the first blocker that holds a conflicting lock (pg_blocking_pids
//     lists holders first), or, when none does,
//   - the first blocker queued ahead of it for the same lock.
//
// The other blockers are kept on the node (OtherBlockers). Roots are
// blockers that are not themselves waiting on a heavyweight lock: the
// sessions to act on. Parallel workers are folded into their leader, a
// prepared transaction (pid 0) becomes a root of its own, and a wait cycle
// (a deadlock the server has not detected yet) is broken at its lowest pid,
// which becomes a root marked Cycle.
type LockForest struct {
	// Nodes holds every session in the graph; Roots index into it, most
	// harmful first (most sessions blocked, then oldest transaction).
	Nodes []LockNode
	Roots []int
	// Waiting is the number of sessions waiting on a lock held or queued
	// for by another session.
	Waiting int
}

// LockNode is one session in the lock forest.
type LockNode struct {
	PID int
	// Backend indexes the snapshot's Backends; -1 for a prepared
	// transaction or a blocker that exited before it could be read.
	Backend int
	// PreparedGID is set for a prepared transaction holding the lock.
	PreparedGID string
	// Gone marks a blocker that was not in pg_stat_activity any more.
	Gone bool

	Parent   int   // index of the primary blocker in Nodes, -1 for a root
	Children []int // indexes of the sessions whose primary blocker this is
	// Queued is true when this session's primary blocker does not hold a
	// conflicting lock but is queued ahead of it for the same one.
	Queued bool
	// OtherBlockers lists the pids, other than the parent, that also block
	// this session (within the first MaxBlockersPerWaiter).
	OtherBlockers []int
	// BlockersTotal is the true number of blockers (pg_blocking_pids).
	BlockersTotal int

	// BlockedTotal is the number of distinct sessions transitively waiting
	// on this one, following every edge of the wait-for graph.
	BlockedTotal int
	// Wait is how long this session has waited; LongestWait the longest
	// wait among the sessions it blocks.
	Wait        time.Duration
	LongestWait time.Duration
	// Cycle marks the sessions of a wait cycle.
	Cycle bool
	Depth int
}

// IsRoot reports whether the node heads a tree.
func (n *LockNode) IsRoot() bool { return n.Parent < 0 }

type forestEdge struct {
	waiter, blocker int32
	queued          bool
}

// BuildForest turns the backends' blocked_by lists into a LockForest. It is
// a pure function; its allocations do not grow with the number of backends.
func BuildForest(backends []Backend, now time.Time) LockForest {
	// pid -> backend index, by binary search over a sorted copy.
	type pidIdx struct{ pid, idx int32 }
	byPID := make([]pidIdx, 0, len(backends))
	waiters, waiterEdges := 0, 0
	for i := range backends {
		b := &backends[i]
		if b.Own {
			continue
		}
		byPID = append(byPID, pidIdx{int32(b.PID), int32(i)})
		if b.WaitsOnLock() {
			waiters++
			waiterEdges += len(b.BlockedBy)
		}
	}
	if waiterEdges == 0 {
		return LockForest{}
	}
	// A snapshot's backends are sorted by pid already: one pass finds out.
	if cmpPID := func(a, b pidIdx) int { return cmp.Compare(a.pid, b.pid) }; !slices.IsSortedFunc(byPID, cmpPID) {
		slices.SortFunc(byPID, cmpPID)
	}
	lookup := func(pid int) int {
		i, ok := slices.BinarySearchFunc(byPID, int32(pid), func(e pidIdx, t int32) int { return cmp.Compare(e.pid, t) })
		if !ok {
			return -1
		}
		return int(byPID[i].idx)
	}
	// A parallel worker's waits are its leader's: the query is one unit,
	// and pg_blocking_pids() already reports leaders rather than workers.
	effective := func(i int) int {
		b := &backends[i]
		if b.LeaderPID != 0 && b.LeaderPID != b.PID && b.BackendType == "parallel worker" {
			if l := lookup(b.LeaderPID); l >= 0 {
				return l
			}
		}
		return i
	}

	// Nodes are the waiters and their blockers, most of which wait too: a
	// queue of n has n waiters and one root, however many edges
	// pg_blocking_pids() lists. The few roots beyond the margin grow it.
	f := LockForest{Nodes: make([]LockNode, 0, min(len(backends), waiters+8)+1)}
	nodeOf := make([]int32, len(backends)) // backend index -> node index + 1
	var extras []int                       // prepared transactions and vanished blockers; few
	extra := func(pid int, gid string) int {
		for _, i := range extras {
			if n := &f.Nodes[i]; n.PID == pid && n.PreparedGID == gid {
				return i
			}
		}
		f.Nodes = append(f.Nodes, LockNode{PID: pid, Backend: -1, PreparedGID: gid, Gone: pid != 0, Parent: -1})
		extras = append(extras, len(f.Nodes)-1)
		return len(f.Nodes) - 1
	}
	node := func(bi int) int {
		if nodeOf[bi] == 0 {
			f.Nodes = append(f.Nodes, LockNode{PID: backends[bi].PID, Backend: bi, Parent: -1})
			nodeOf[bi] = int32(len(f.Nodes))
		}
		return int(nodeOf[bi] - 1)
	}

	edges := make([]forestEdge, 0, waiterEdges)
	for i := range backends {
		b := &backends[i]
		if b.Own || !b.WaitsOnLock() || len(b.BlockedBy) == 0 {
			continue
		}
		w := node(effective(i))
		if wait := b.WaitAge(now); wait > f.Nodes[w].Wait {
			f.Nodes[w].Wait = wait
		}
		f.Nodes[w].BlockersTotal = max(f.Nodes[w].BlockersTotal, b.BlockersTotal, len(b.BlockedBy))
		for _, pid := range b.BlockedBy {
			var bl int
			switch bi := lookup(pid); {
			case pid == 0:
				bl = extra(0, b.PreparedGID)
			case bi < 0:
				bl = extra(pid, "")
			default:
				bl = node(effective(bi))
			}
			if bl == w {
				continue // a worker waiting behind its own leader
			}
			edges = append(edges, forestEdge{int32(w), int32(bl), slices.Contains(b.QueuedBehind, pid)})
		}
	}

	// Group each waiter's edges (a leader and its workers may both wait),
	// keeping pg_blocking_pids() order within a waiter: holders first.
	slices.SortStableFunc(edges, func(a, b forestEdge) int { return cmp.Compare(a.waiter, b.waiter) })
	edges = dedupeEdges(edges)

	// Primary parent: first holder, else first queued-ahead blocker.
	others := make([]int, 0, len(edges))
	for lo := 0; lo < len(edges); {
		w := edges[lo].waiter
		hi := lo + 1
		for hi < len(edges) && edges[hi].waiter == w {
			hi++
		}
		primary := lo
		for k := lo; k < hi; k++ {
			if !edges[k].queued {
				primary = k
				break
			}
		}
		f.Waiting++
		n := &f.Nodes[w]
		n.Parent = int(edges[primary].blocker)
		n.Queued = edges[primary].queued
		start := len(others)
		for k := lo; k < hi; k++ {
			if k != primary {
				others = append(others, f.Nodes[edges[k].blocker].PID)
			}
		}
		n.OtherBlockers = others[start:len(others):len(others)]
		n.BlockersTotal = max(n.BlockersTotal, hi-lo)
		lo = hi
	}

	breakCycles(f.Nodes)
	linkChildren(f.Nodes, now, backends)
	countBlocked(f.Nodes, edges)

	for i := range f.Nodes {
		if f.Nodes[i].Parent < 0 && len(f.Nodes[i].Children) > 0 {
			f.Roots = append(f.Roots, i)
		}
	}
	slices.SortFunc(f.Roots, func(a, b int) int {
		na, nb := &f.Nodes[a], &f.Nodes[b]
		if c := cmp.Compare(nb.BlockedTotal, na.BlockedTotal); c != 0 {
			return c
		}
		if c := cmp.Compare(nodeXactAge(nb, backends, now), nodeXactAge(na, backends, now)); c != 0 {
			return c
		}
		return cmp.Compare(na.PID, nb.PID)
	})
	for _, r := range f.Roots {
		setDepth(f.Nodes, r, 0)
	}
	return f
}

// dedupeEdges drops repeated (waiter, blocker) pairs from edges sorted by
// waiter; parallel query makes pg_blocking_pids() repeat a leader's pid.
func dedupeEdges(edges []forestEdge) []forestEdge {
	out := edges[:0]
	runStart := 0
	for _, e := range edges {
		if len(out) > 0 && out[len(out)-1].waiter != e.waiter {
			runStart = len(out)
		}
		dup := false
		for k := runStart; k < len(out); k++ {
			if out[k].blocker == e.blocker {
				out[k].queued = out[k].queued && e.queued // a holder in any report is a holder
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}

func nodeXactAge(n *LockNode, backends []Backend, now time.Time) time.Duration {
	if n.Backend < 0 {
		return 0
	}
	return backends[n.Backend].XactAge(now)
}

// breakCycles finds cycles in the parent relation (each node has at most
// one parent, so every cycle is a simple loop) and cuts each one at its
// lowest pid, which becomes a root. Every node on a cycle is marked.
func breakCycles(nodes []LockNode) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]uint8, len(nodes))
	var path []int // reused: the nodes walked from one start
	for start := range nodes {
		// Walk up until a root, a finished node, or our own path.
		path = path[:0]
		i := start
		for i >= 0 && state[i] == unseen {
			state[i] = onPath
			path = append(path, i)
			i = nodes[i].Parent
		}
		if i >= 0 && state[i] == onPath {
			// i is on a cycle: mark it and cut at the lowest pid.
			low := i
			for j := nodes[i].Parent; j != i; j = nodes[j].Parent {
				nodes[j].Cycle = true
				if nodes[j].PID < nodes[low].PID {
					low = j
				}
			}
			nodes[i].Cycle = true
			nodes[low].Parent = -1
		}
		// The path is recorded rather than walked again: cutting the
		// cycle changed the parents.
		for _, j := range path {
			state[j] = done
		}
	}
}

// linkChildren fills Children from Parent with one shared backing array,
// each list ordered by longest wait first.
func linkChildren(nodes []LockNode, now time.Time, backends []Backend) {
	offset := make([]int, len(nodes)+1)
	for i := range nodes {
		if p := nodes[i].Parent; p >= 0 {
			offset[p+1]++
		}
	}
	for i := 1; i < len(offset); i++ {
		offset[i] += offset[i-1]
	}
	flat := make([]int, offset[len(nodes)])
	fill := offset[:len(nodes)]
	for i := range nodes {
		if p := nodes[i].Parent; p >= 0 {
			flat[fill[p]] = i
			fill[p]++
		}
	}
	// fill[p] now equals the original offset[p+1]; walk back to the starts.
	start := 0
	for i := range nodes {
		end := fill[i]
		if end > start {
			nodes[i].Children = flat[start:end:end]
			slices.SortFunc(nodes[i].Children, func(a, b int) int {
				if c := cmp.Compare(nodes[b].Wait, nodes[a].Wait); c != 0 {
					return c
				}
				return cmp.Compare(nodes[a].PID, nodes[b].PID)
			})
		}
		start = end
	}
}

// countBlocked sets BlockedTotal and LongestWait of every node that blocks
// someone, by a breadth-first walk over all edges (not only the tree's), so
// a session reachable through two blockers is counted once for each.
func countBlocked(nodes []LockNode, edges []forestEdge) {
	// Reverse adjacency: blocker -> waiters.
	off := make([]int32, len(nodes)+1)
	for _, e := range edges {
		off[e.blocker+1]++
	}
	for i := 1; i < len(off); i++ {
		off[i] += off[i-1]
	}
	adj := make([]int32, len(edges))
	pos := slices.Clone(off[:len(nodes)])
	for _, e := range edges {
		adj[pos[e.blocker]] = e.waiter
		pos[e.blocker]++
	}
	stamp := pos // reuse: every entry is overwritten below before use
	for i := range stamp {
		stamp[i] = -1
	}
	queue := make([]int32, 0, len(nodes))
	for r := range nodes {
		if off[r] == off[r+1] {
			continue
		}
		queue = append(queue[:0], int32(r))
		stamp[r] = int32(r)
		total := 0
		var longest time.Duration
		for head := 0; head < len(queue); head++ {
			n := queue[head]
			for _, w := range adj[off[n]:off[n+1]] {
				if stamp[w] == int32(r) {
					continue
				}
				stamp[w] = int32(r)
				total++
				longest = max(longest, nodes[w].Wait)
				queue = append(queue, w)
			}
		}
		nodes[r].BlockedTotal = total
		nodes[r].LongestWait = longest
	}
}

func setDepth(nodes []LockNode, i, depth int) {
	nodes[i].Depth = depth
	for _, c := range nodes[i].Children {
		setDepth(nodes, c, depth+1)
	}
}

// BlockedBehind is how many sessions wait behind pid, all levels of its
// tree; 0 when it blocks no one. A scan: it serves the few long
// operations of a snapshot, not every backend.
func (f *LockForest) BlockedBehind(pid int) int {
	for i := range f.Nodes {
		if f.Nodes[i].PID == pid {
			return f.Nodes[i].BlockedTotal
		}
	}
	return 0
}

// Walk visits every node of the forest in display order: each root, then
// its children depth first.
func (f *LockForest) Walk(visit func(n *LockNode)) {
	var walk func(i int)
	walk = func(i int) {
		visit(&f.Nodes[i])
		for _, c := range f.Nodes[i].Children {
			walk(c)
		}
	}
	for _, r := range f.Roots {
		walk(r)
	}
}
