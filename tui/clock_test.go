package tui

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	tea "charm.land/bubbletea/v2"
)

// At a 1s refresh, with nothing counting on screen, the refresh's own
// frame is the only one: the clock runs only while the refresh is in
// flight, and a refresh starting draws nothing new.
func TestOneFramePerRefresh(t *testing.T) {
	now := fixedNow
	m := liveModel(&now)
	if m.clock.on {
		t.Error("live at 1s: the clock runs")
	}
	frame := m.View().Content
	now = now.Add(time.Second)
	m.Update(refreshMsg{gen: m.gen})
	if !m.inFlight {
		t.Fatal("the refresh did not start")
	}
	if again := m.View().Content; again != frame {
		t.Error("a refresh starting changed the frame")
	} else if unsafe.StringData(again) != unsafe.StringData(frame) {
		t.Error("an unchanged frame should be the same string, for Bubble Tea to compare at once")
	}
	if !m.clock.on {
		t.Error("in flight: the clock is stopped, and a slow refresh would go unseen")
	}
	now = now.Add(50 * time.Millisecond)
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(3)})
	if m.clock.on {
		t.Error("the refresh ended and the clock still runs")
	}
	if m.View().Content != frame {
		t.Error("the next snapshot, unchanged and refreshed just now, should draw the same frame")
	}
}

// While anything on screen counts, the clock runs, and each of its ticks
// shows the counters' new values.
func TestClockRunsWhileTheScreenCounts(t *testing.T) {
	now := fixedNow
	m := liveModel(&now)

	press(m, "-") // every 2s, and a flash
	if !m.clock.on {
		t.Error("every 2s: the clock is stopped, and the data's age would not count")
	}
	now = now.Add(time.Second)
	m.Update(clockMsg{})
	mustContain(t, screen(m), "refreshed 1s ago, every 2s", "refreshing every 2s")
	now = fixedNow.Add(5 * time.Second)
	m.Update(clockMsg{})
	if frame := screen(m); !strings.Contains(frame, "q quit") || strings.Contains(frame, "refreshing every 2s") {
		t.Errorf("the flash should be gone at its end:\n%s", frame)
	}

	press(m, "+", "space") // every 1s, paused
	now = now.Add(5 * time.Second)
	m.Update(clockMsg{})
	if !m.clock.on {
		t.Error("paused: the clock is stopped")
	}
	mustContain(t, screen(m), "PAUSED data 10s old")

	press(m, "space")
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(3)})
	now = now.Add(5 * time.Second) // the resume's flash is over
	m.Update(clockMsg{})
	if m.clock.on {
		t.Error("live at 1s again, nothing counting: the clock runs")
	}
}

// liveModel is a started model whose clock reads *now.
func liveModel(now *time.Time) *Model {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return *now }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Init()
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(3)})
	return m
}

// The clock's command delivers a tick a second after it is started, and
// none once it is stopped.
func TestClockTimer(t *testing.T) {
	var c clock
	cmd := c.wait()
	fired := make(chan tea.Msg, 1)
	go func() { fired <- cmd() }()
	c.run(true)
	select {
	case msg := <-fired:
		if _, ok := msg.(clockMsg); !ok {
			t.Fatalf("got %T", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("started, the clock did not tick")
	}
	c.rang()
	cmd = c.wait()
	go func() { fired <- cmd() }()
	// Only a stall of a second between the two calls could let it tick
	// before it is stopped.
	c.run(true)
	c.run(false)
	select {
	case <-fired:
		t.Fatal("a stopped clock ticked")
	case <-time.After(1500 * time.Millisecond):
	}
}
