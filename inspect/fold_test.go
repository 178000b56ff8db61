package inspect

import (
	"slices"
	"testing"
)

// pg_locks names the processes of a lock group one by one; what the
// snapshot says, as pg_blocking_pids() does, is their leader: a worker
// among the blockers becomes its leader (once), and a waiter is never
// blocked by its own group. Lists without workers are left as they are.
func TestFoldWorkersNamesLeaders(t *testing.T) {
	bs := []Backend{
		{PID: 10, BackendType: "client backend"},                 // leader, holds the lock
		{PID: 11, BackendType: "parallel worker", LeaderPID: 10}, // its worker
		{PID: 12, BackendType: "parallel worker", LeaderPID: 10}, // another
		{PID: 20, BackendType: "client backend", BlockedBy: []int{11, 12, 10, 30}, QueuedBehind: []int{12, 30}},
		{PID: 21, BackendType: "parallel worker", LeaderPID: 22, BlockedBy: []int{22, 10}}, // behind its own leader too
		{PID: 22, BackendType: "client backend", BlockedBy: []int{30, 30}},                 // as pg_blocking_pids() said
		{PID: 30, BackendType: "client backend"},
	}
	foldWorkers(bs)
	for _, c := range []struct {
		pid           int
		blocked, queu []int
	}{
		{20, []int{10, 30}, []int{10, 30}},
		{21, []int{10}, nil},
		{22, []int{30, 30}, nil},
	} {
		b := backendOf(bs, c.pid)
		if !slices.Equal(b.BlockedBy, c.blocked) || !slices.Equal(b.QueuedBehind, c.queu) {
			t.Errorf("pid %d: blocked by %v, queued behind %v; want %v and %v", c.pid, b.BlockedBy, b.QueuedBehind, c.blocked, c.queu)
		}
	}
}
