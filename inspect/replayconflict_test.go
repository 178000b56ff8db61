package inspect

import (
	"slices"
	"testing"
	"time"
)

// Who is in replay's way: a lock's holders whatever they are and even
// when their transaction start is hidden from the role (last); for a
// snapshot the oldest visible client transactions, never pgmedic's own.
func TestReplayConflict(t *testing.T) {
	now := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	s := &Snapshot{ServerTime: now, Server: Server{InRecovery: true}, Backends: []Backend{
		{PID: 10, BackendType: "startup", WaitEventType: "IPC", WaitEvent: "RecoveryConflictSnapshot"},
		{PID: 20, BackendType: "client backend", XactStart: at(time.Minute)},
		{PID: 21, BackendType: "client backend", XactStart: at(time.Hour)},
		{PID: 22, BackendType: "client backend"}, // start hidden
		{PID: 23, BackendType: "client backend", XactStart: at(2 * time.Hour), Own: true},
		{PID: 24, BackendType: "background worker", XactStart: at(3 * time.Hour)},
	}}
	if what, pids := replayConflict(s, nil); what != "snapshot" || !slices.Equal(pids, []int{21, 20}) {
		t.Errorf("snapshot: %q %v, want the oldest client transactions [21 20]", what, pids)
	}
	s.Backends[0].WaitEventType, s.Backends[0].WaitEvent = "Lock", "relation"
	if what, pids := replayConflict(s, []int{22, 20, 24}); what != "lock" || !slices.Equal(pids, []int{24, 20, 22}) {
		t.Errorf("lock: %q %v, want its holders [24 20 22]", what, pids)
	}
	if what, pids := replayConflict(s, nil); what != "lock" || pids != nil {
		t.Errorf("lock, holders not read yet: %q %v", what, pids)
	}
	s.Backends[0].WaitEventType, s.Backends[0].WaitEvent = "Activity", "RecoveryWalStream"
	if what, pids := replayConflict(s, nil); what != "" || pids != nil {
		t.Errorf("replay waiting on nothing here: %q %v", what, pids)
	}
	s.Server.InRecovery = false
	s.Backends[0].WaitEventType, s.Backends[0].WaitEvent = "Lock", "relation"
	if what, _ := replayConflict(s, []int{20}); what != "" {
		t.Errorf("a primary has no replay: %q", what)
	}
}
