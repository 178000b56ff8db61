package tui

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	tea "charm.land/bubbletea/v2"
)

// At a 1s refresh, with nothing counting on screen, the refresh's own
// frame is the only one: a refresh starting draws nothing new, and no
// clock is due.
func TestOneFramePerRefresh(t *testing.T) {
	now := fixedNow
	m := liveModel(&now)
	if due := m.nextChange(); !due.IsZero() {
		t.Errorf("live at 1s: the clock is due at %v", due)
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
	if due := m.nextChange(); !due.Equal(now.Add(slowRefresh)) {
		t.Errorf("in flight: the clock is due at %v, want when the refresh turns slow", due)
	}
	now = now.Add(50 * time.Millisecond)
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(3)})
	if m.View().Content != frame {
		t.Error("the next snapshot, unchanged and refreshed just now, should draw the same frame")
	}
}

// Where time alone changes the screen, the clock is due when it does.
func TestClockDueWhenTheScreenChanges(t *testing.T) {
	now := fixedNow
	m := liveModel(&now)

	press(m, "-") // every 2s, and a flash
	if due := m.nextChange(); !due.Equal(fixedNow.Add(time.Second)) {
		t.Errorf("every 2s: due at %v, want the data's age at 1s", due)
	}
	now = now.Add(time.Second)
	m.Update(clockMsg{})
	mustContain(t, screen(m), "refreshed 1s ago, every 2s", "refreshing every 2s")
	if due := m.nextChange(); !due.Equal(fixedNow.Add(5 * time.Second)) {
		t.Errorf("at 1s of 2s: due at %v, want the flash's end (the refresh shows the rest)", due)
	}
	now = fixedNow.Add(5 * time.Second)
	m.Update(clockMsg{})
	if frame := screen(m); !strings.Contains(frame, "q quit") || strings.Contains(frame, "refreshing every 2s") {
		t.Errorf("the flash should be gone at its end:\n%s", frame)
	}

	press(m, "space")
	if due := m.nextChange(); !due.Equal(now.Add(time.Second)) {
		t.Errorf("paused: due at %v, want every second", due)
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

// The alarm fires at the time it was last set to, and not at all when
// stopped.
func TestAlarm(t *testing.T) {
	var a alarm
	cmd := a.wait()
	fired := make(chan tea.Msg, 1)
	go func() { fired <- cmd() }()
	a.set(time.Now().Add(time.Hour), time.Now())
	a.set(time.Now().Add(20*time.Millisecond), time.Now())
	select {
	case msg := <-fired:
		if _, ok := msg.(clockMsg); !ok {
			t.Fatalf("got %T", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("moved earlier, the alarm did not fire")
	}
	a.rang()
	cmd = a.wait()
	go func() { fired <- cmd() }()
	// Far enough ahead that only a stall of a second between the two
	// calls could let it ring before it is stopped.
	a.set(time.Now().Add(time.Second), time.Now())
	a.set(time.Time{}, time.Now())
	select {
	case <-fired:
		t.Fatal("a stopped alarm fired")
	case <-time.After(1500 * time.Millisecond):
	}
}
