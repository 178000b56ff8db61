package inspect

import (
	"testing"
	"time"
)

func walSnap(at time.Duration, rate float64) *Snapshot {
	return &Snapshot{ServerTime: evT0.Add(at), Replication: &Replication{WALBytesPerSecond: &rate}}
}

// A spike is a rate several times the minutes before and above a floor;
// it needs a baseline to compare with; a slow rise and a quiet server's
// jump are none.
func TestWALSpikeDetection(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		name  string
		rate  func(sec int) float64
		spike bool
	}{
		{"flat", func(int) float64 { return 20 * mb }, false},
		{"jump", func(sec int) float64 {
			if sec >= 300 {
				return 96 * mb
			}
			return 8 * mb
		}, true},
		{"slow rise", func(sec int) float64 { return float64(10+sec/10) * mb }, false},
		{"quiet server", func(sec int) float64 {
			if sec >= 300 {
				return 2 * mb
			}
			return 10 << 10
		}, false},
		{"from idle to a bulk load", func(sec int) float64 {
			if sec >= 300 {
				return 40 * mb
			}
			return 0
		}, true},
	}
	for _, c := range cases {
		var h walHistory
		var s *Snapshot
		for sec := 0; sec <= 310; sec++ {
			s = walSnap(time.Duration(sec)*time.Second, c.rate(sec))
			h.detect(s)
		}
		if got := s.Replication.WALSpike != nil; got != c.spike {
			t.Errorf("%s: spike %v, want %v (%+v)", c.name, got, c.spike, s.Replication.WALSpike)
		}
	}
	// No baseline yet: no spike, however fast.
	var h walHistory
	for sec := 0; sec < 30; sec++ {
		s := walSnap(time.Duration(sec)*time.Second, 500*mb)
		if h.detect(s); s.Replication.WALSpike != nil {
			t.Fatalf("a spike at %ds without a minute of baseline", sec)
		}
	}
}

// The suspects: what surely writes in bulk first, then the longest write.
func TestWALSuspects(t *testing.T) {
	s := &Snapshot{ServerTime: evT0, Backends: []Backend{
		{PID: 1, BackendType: "client backend", State: "active", Query: "UPDATE t SET v = 1", QueryStart: evTime(-time.Minute), ApplicationName: "app"},
		{PID: 2, BackendType: "client backend", State: "active", Query: "/* job */ INSERT INTO big SELECT ...\nFROM x", QueryStart: evTime(-time.Hour), ApplicationName: "loader"},
		{PID: 3, BackendType: "client backend", State: "active", Query: "SELECT 1", QueryStart: evTime(-2 * time.Hour)},
		{PID: 4, BackendType: "client backend", State: "active", Query: "ALTER TABLE users ALTER v TYPE bigint", ApplicationName: "migrate"},
		{PID: 5, BackendType: "client backend", State: "active", Query: "UPDATE t SET v = 2", QueryStart: evTime(-3 * time.Hour),
			WaitEventType: "Lock"},
	}, Rewrites: []Rewrite{{PID: 4, Rewrites: true, Table: "public.users", Action: "changes a column's type"}}}
	got := walSuspects(s)
	want := []WALSuspect{
		{PID: 4, Application: "migrate", What: "rewrites public.users (changes a column's type)", Why: "rewrite"},
		{PID: 2, Application: "loader", What: "/* job */ INSERT INTO big SELECT ...", Why: "longest write"},
		{PID: 1, Application: "app", What: "UPDATE t SET v = 1", Why: "longest write"},
	}
	if len(got) != len(want) {
		t.Fatalf("suspects %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("suspect %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
