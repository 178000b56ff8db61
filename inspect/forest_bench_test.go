package inspect

import (
	"testing"
	"time"
)

// incidentBackends generates n backends shaped like the worst incidents:
// a 500-deep queue on one row, a 1000-way fan-out from one root, and
// the rest idle.
func incidentBackends(n int) []Backend {
	bs := make([]Backend, 0, n)
	pid := 1000
	next := func() int { pid++; return pid }
	add := func(b Backend) { bs = append(bs, b) }

	rowHolder := next()
	add(idle(rowHolder, time.Hour))
	first := next()
	add(waiter(first, time.Minute, []int{rowHolder}))
	queue := []int{first}
	for i := 0; i < 500 && len(bs) < n; i++ {
		p := next()
		blockers := append([]int{first}, queue[1:min(len(queue), MaxBlockersPerWaiter)]...)
		w := waiter(p, time.Duration(500-i)*time.Millisecond, blockers, blockers[1:]...)
		w.BlockersTotal = len(queue)
		add(w)
		queue = append(queue, p)
	}
	root := next()
	add(idle(root, 2*time.Hour))
	for i := 0; i < 1000 && len(bs) < n; i++ {
		add(waiter(next(), time.Second, []int{root}))
	}
	for len(bs) < n {
		add(Backend{PID: next(), BackendType: "client backend", State: "idle"})
	}
	return bs
}

// The forest is rebuilt every second with thousands of backends: its
// allocations must not grow with them.
func TestForestAllocationsDoNotGrow(t *testing.T) {
	small, large := incidentBackends(1600), incidentBackends(5000)
	allocs := func(bs []Backend) float64 {
		return testing.AllocsPerRun(20, func() { BuildForest(bs, t0) })
	}
	a, b := allocs(small), allocs(large)
	if b > a+2 || b > 40 {
		t.Errorf("allocations: %.0f for %d backends, %.0f for %d; want a small constant", a, len(small), b, len(large))
	}
	f := BuildForest(large, t0)
	if len(f.Roots) != 2 || f.Waiting != 1501 {
		t.Errorf("generated incident: %d roots, %d waiting; want 2 and 1501", len(f.Roots), f.Waiting)
	}
}

func BenchmarkBuildForest5000(b *testing.B) {
	bs := incidentBackends(5000)
	b.ReportAllocs()
	for b.Loop() {
		BuildForest(bs, t0)
	}
}
