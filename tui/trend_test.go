package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// feed gives m a snapshot a second for d, slot use given by used
// (seconds since the start), as refreshes would.
func feed(m *Model, d time.Duration, used func(sec int) int) {
	for sec := 0; sec <= int(d.Seconds()); sec++ {
		s := fixture(3)
		s.ServerTime = fixedNow.Add(time.Duration(sec) * time.Second)
		s.Saturation.Used = used(sec)
		s.Saturation.Percent = 100 * float64(s.Saturation.Used) / float64(s.Saturation.Usable)
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
}

// A pool that fills steadily is forecast in the header and on Triage,
// with a sparkline of the last minutes; a flat one shows the sparkline
// and no forecast.
func TestForecastOnScreen(t *testing.T) {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	feed(m, 4*time.Minute, func(sec int) int { return 5 + sec/15 }) // +4 a minute, 37 usable
	frame := screen(m)
	mustContain(t, frame, "pool full in ~4m (+4/min)", "FILLING", "slots, last 15m ▂▂▃▄▅")
	if !strings.Contains(frame, "▂") || !strings.Contains(frame, "▅") {
		t.Errorf("no rising sparkline:\n%s", frame)
	}
	// The finding comes right after the blocker, before the pool's line.
	if b, f := strings.Index(frame, "BLOCKING"), strings.Index(frame, "FILLING"); b < 0 || f < b {
		t.Errorf("FILLING is not after the blocker:\n%s", frame)
	}

	flat := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	flat.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	feed(flat, 4*time.Minute, func(sec int) int { return 20 + sec%7 - 3 })
	if frame := screen(flat); strings.Contains(frame, "pool full in") || strings.Contains(frame, "FILLING") {
		t.Errorf("a flat pool is forecast to fill:\n%s", frame)
	}
}

// The sparkline is a column a minute, the busiest moment of each, oldest
// first, with a gap where no refresh came.
func TestSparkline(t *testing.T) {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	feed(m, 2*time.Minute+30*time.Second, func(sec int) int { return []int{4, 18, 37}[sec/60] })
	if got := sparkline(m.c.history.Samples(), 15); got != "▁▄█" {
		t.Errorf("sparkline %q, want ▁▄█", got)
	}
	if got := sparkline(nil, 15); got != "" {
		t.Errorf("no samples: %q", got)
	}
}

// Triage says since when the selected blocker has blocked (its longest
// waiter's wait) and how its queue grew, a column a minute; a blocker
// whose session ended is forgotten after the span.
func TestQueueGrowthOnTriage(t *testing.T) {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	for sec := 0; sec <= 240; sec += 5 {
		s := fixture(3 + sec/60*5) // 5 more queue each minute
		s.ServerTime = fixedNow.Add(time.Duration(sec) * time.Second)
		s.LockForest = inspectForest(s)
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
	frame := screen(m)
	mustContain(t, frame, "BEHIND PID 4101: 24 waiting, since 02:12:00 (6m00s)", "queue ▂▄▅▇█")
	if len(m.c.queues) != 1 {
		t.Errorf("%d queue histories, want the one blocker's", len(m.c.queues))
	}
	// The blocker is gone; its history stays for the span, then goes.
	for _, after := range []time.Duration{time.Minute, HistorySpan + 5*time.Minute} {
		s := fixture(0)
		s.ServerTime = fixedNow.Add(4*time.Minute + after)
		s.LockForest = inspectForest(s)
		for _, r := range s.LockForest.Roots {
			s.LockForest.Nodes[r].BlockedTotal = 0
		}
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
	if len(m.c.queues) != 0 {
		t.Errorf("a blocker gone for longer than the span is still kept: %d", len(m.c.queues))
	}
}

// A lock queue that grows while the pool is not yet filling fast is the
// FILLING finding too, in its own words, and the header shows its slope.
func TestQueueGrowthOnScreen(t *testing.T) {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 30})
	for sec := 0; sec <= 240; sec++ {
		s := fixture(3)
		s.ServerTime = fixedNow.Add(time.Duration(sec) * time.Second)
		s.Saturation.Used = 20 // flat: no forecast of the pool
		s.Saturation.WaitingOnLock = 2 + sec/15
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
	frame := screen(m)
	mustContain(t, frame, "waiting ", "+4/min", "FILLING", "lock queue growing +4/min: 18 sessions waiting on locks, each holding a slot")
	if strings.Contains(frame, "pool full in") {
		t.Errorf("a flat pool is forecast:\n%s", frame)
	}
}
