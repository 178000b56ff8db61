package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// The details pane lists a session's states over the refreshes, newest
// last, each with how long it lasted; a reused pid starts afresh.
func TestStateHistory(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	at := func(sec int) *time.Time { x := fixedNow.Add(time.Duration(sec) * time.Second); return &x }
	step := func(sec int, state, waitType, wait string, queryAt int, start *time.Time) {
		s := fixture(3)
		s.ServerTime = *at(sec)
		b := s.Backend(4301) // idle in the fixture
		b.State, b.WaitEventType, b.WaitEvent = state, waitType, wait
		b.QueryStart, b.StateChange = at(queryAt), at(sec)
		if start != nil {
			b.BackendStart = start
		}
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
	step(10, "active", "", "", 10, nil)
	step(11, "active", "", "", 10, nil) // the same: no entry
	step(12, "active", "Lock", "relation", 10, nil)
	step(40, "idle in transaction", "Client", "ClientRead", 10, nil)
	step(45, "active", "", "", 45, nil)
	b := m.c.snap.Backend(4301)
	got := m.c.states.text(b, m.c.snap.ServerTime)
	for _, want := range []string{
		"STATE HISTORY (what came before 02:09:00 was not seen: pgmedic started watching at 02:14:00)",
		"02:09:00  idle",
		"02:14:10  active                                              (2s) new statement",
		"02:14:12  active                       Lock:relation          (28s)",
		"02:14:40  idle in transaction          Client:ClientRead      (5s)",
		"02:14:45  active                                              (0ms) new statement",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 6 { // heading, the fixture's first state, and 4 changes
		t.Errorf("%d lines:\n%s", n, got)
	}
	// The pid reused by a new session: its own history only.
	step(50, "active", "", "", 50, at(49))
	got = m.c.states.text(m.c.snap.Backend(4301), m.c.snap.ServerTime)
	if strings.Count(got, "\n") != 2 || strings.Contains(got, "not seen") {
		t.Errorf("a new session with the same pid:\n%s", got)
	}
	// And the details pane shows it, after the query and the locks: at
	// 80x24 those must be on screen without scrolling.
	d := newDetail(&m.c, target{pid: 4301})
	d.setLocks(&m.c, nil, nil)
	h, q, l := strings.Index(d.text, "STATE HISTORY"), strings.Index(d.text, "\nQUERY\n"), strings.Index(d.text, "\nLOCKS\n")
	if h < 0 || q < 0 || l < 0 || h < q || h < l {
		t.Errorf("the details pane should end with the history, after QUERY and LOCKS:\n%s", d.text)
	}
}

// Sessions gone for HistorySpan are forgotten; each keeps at most
// maxStateChanges.
func TestStateHistoryBounded(t *testing.T) {
	var st states
	start := fixedNow.Add(-time.Hour)
	for sec := 0; sec < 3600; sec += 5 {
		now := fixedNow.Add(time.Duration(sec) * time.Second)
		s := &inspect.Snapshot{ServerTime: now}
		q := now
		// A new session each time, and one that lives on, flipping state.
		s.Backends = []inspect.Backend{{PID: 1, BackendStart: &start, State: []string{"idle", "active"}[sec/5%2], QueryStart: &q},
			{PID: 1000 + sec, BackendStart: &q, State: "idle"}}
		st.observe(s)
	}
	if n := len(st.logs); n > int(HistorySpan/(5*time.Second))+20 {
		t.Errorf("%d sessions kept", n)
	}
	if n := len(st.logs[sessionID{pid: 1, start: start.UnixNano()}].changes); n != maxStateChanges {
		t.Errorf("%d changes kept for one session", n)
	}
}

// BenchmarkStates is the history's share of a refresh at 5,000 backends,
// the server's clock a second on each time.
func BenchmarkStates(b *testing.B) {
	snaps := [2]*inspect.Snapshot{fixture(5000), fixture(5000)}
	snaps[1].ServerTime = snaps[1].ServerTime.Add(time.Second)
	var st states
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := snaps[i%2]
		s.ServerTime = s.ServerTime.Add(2 * time.Second)
		st.observe(s)
	}
}
