package tui

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgmedic/pgmedic/inspect"
)

// sliceReplay is a recording held in memory: the recording package's
// reader is tested on files in its own package; here the model's moves
// in time are what is tested.
type sliceReplay struct {
	snaps  []*inspect.Snapshot
	events []inspect.Event
	reads  int
}

func (r *sliceReplay) Len() int { return len(r.snaps) }
func (r *sliceReplay) At(i int) (*inspect.Snapshot, error) {
	if i < 0 || i >= len(r.snaps) {
		return nil, errors.New("out of range")
	}
	r.reads++
	return r.snaps[i], nil
}
func (r *sliceReplay) Sample(i int) (inspect.Sample, error) { return inspect.SampleOf(r.snaps[i]), nil }
func (r *sliceReplay) Index(t time.Time) (int, error) {
	return max(0, sort.Search(len(r.snaps), func(i int) bool { return r.snaps[i].ServerTime.After(t) })-1), nil
}
func (r *sliceReplay) Samples(from, to time.Time) ([]inspect.Sample, error) {
	var out []inspect.Sample
	for _, s := range r.snaps {
		if !s.ServerTime.Before(from) && !s.ServerTime.After(to) {
			out = append(out, inspect.SampleOf(s))
		}
	}
	return out, nil
}
func (r *sliceReplay) Events() []inspect.Event { return r.events }
func (r *sliceReplay) End() time.Time          { return r.snaps[len(r.snaps)-1].ServerTime }

// story is ten minutes at a refresh a second: the queue behind the
// migration grows by one every 20 seconds from refresh 60, and the
// blocker is gone at refresh 480.
func story() *sliceReplay {
	r := &sliceReplay{}
	start := fixedNow.Add(-10 * time.Minute)
	for i := range 600 {
		var s *inspect.Snapshot
		if i >= 60 && i < 480 {
			s = fixture(1 + (i-60)/20)
		} else {
			s = fixture(0)
			s.Backends = s.Backends[2:] // no blocker, no migration
			s.LockForest = inspect.BuildForest(s.Backends, s.ServerTime)
		}
		at := start.Add(time.Duration(i) * time.Second)
		s.TakenAt, s.ServerTime = at, at
		s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, at)
		r.snaps = append(r.snaps, s)
	}
	r.events = []inspect.Event{
		{At: start.Add(60 * time.Second), Kind: inspect.BlockerStart, PID: 4101, Text: "root blocker pid 4101 (api, UPDATE users) holds up 2 sessions on users"},
		{At: start.Add(300 * time.Second), Kind: inspect.QueueOver, PID: 4101, Text: "pid 4101 holds up 10 sessions"},
		{At: start.Add(479*time.Second + 300*time.Millisecond), Kind: inspect.ActionTaken, PID: 4101, Text: "terminate pid 4101 (api): done"},
		{At: start.Add(480 * time.Second), Kind: inspect.BlockerEnd, PID: 4101, Text: "root blocker pid 4101 is gone after 7m0s"},
	}
	return r
}

func replayModel(t *testing.T, w, h int) (*Model, *sliceReplay) {
	t.Helper()
	r := story()
	m := NewReplay(r, "recording of postgres@db1:5432/shop", Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Init()
	return m, r
}

func TestReplayMoves(t *testing.T) {
	m, r := replayModel(t, 120, 40)
	start := r.snaps[0].ServerTime
	at := func() time.Duration { return m.c.snap.ServerTime.Sub(start) }
	steps := []struct {
		keys []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"right"}, time.Second},
		{[]string{"l", "l"}, 3 * time.Second},
		{[]string{"left"}, 2 * time.Second},
		{[]string{"]"}, 62 * time.Second},
		{[]string{"["}, 2 * time.Second},
		{[]string{"n"}, 60 * time.Second},  // the blocker appears
		{[]string{"n"}, 300 * time.Second}, // its queue passes 10
		{[]string{"n"}, 479 * time.Second}, // the refresh before the terminate
		{[]string{"n"}, 480 * time.Second}, // it is gone
		{[]string{"p"}, 479 * time.Second},
		{[]string{">"}, 599 * time.Second},
		{[]string{"<"}, 0},
	}
	for _, s := range steps {
		press(m, s.keys...)
		if got := at(); got != s.want {
			t.Fatalf("after %v: at +%s, want +%s", s.keys, got, s.want)
		}
	}
	// At the start, going back says so instead of moving.
	press(m, "left")
	if !strings.Contains(m.flash, "at the start of the recording") || at() != 0 {
		t.Fatalf("left at the start: %q at +%s", m.flash, at())
	}
}

// The history on screen is the recording's at the cursor: after a jump
// the sparkline and the queue's growth are those of that moment.
func TestReplayHistoryFollowsTheCursor(t *testing.T) {
	m, _ := replayModel(t, 120, 40)
	press(m, ">")
	n := len(m.c.history.Samples())
	if n != 600 { // the whole story: it is shorter than HistorySpan
		t.Fatalf("%d samples kept after jumping to the end", n)
	}
	press(m, "<")
	if n := len(m.c.history.Samples()); n != 1 {
		t.Fatalf("%d samples at the start", n)
	}
	press(m, "right")
	if n := len(m.c.history.Samples()); n != 2 {
		t.Fatalf("%d samples after a step", n)
	}
}

func TestReplayPlays(t *testing.T) {
	m, _ := replayModel(t, 120, 40)
	cmd := press(m, "space")
	if !m.rp.playing || cmd == nil {
		t.Fatal("space does not play")
	}
	press(m, "+", "+")
	if m.rp.speed != 4 {
		t.Fatalf("speed %d", m.rp.speed)
	}
	for range 3 {
		m.Update(replayTickMsg{gen: m.gen})
	}
	if m.rp.cursor != 3 {
		t.Fatalf("cursor %d after three ticks", m.rp.cursor)
	}
	m.Update(replayTickMsg{gen: m.gen - 1}) // a tick from before a pause
	if m.rp.cursor != 3 {
		t.Fatal("a stale tick moved the cursor")
	}
	mustContain(t, screen(m), "▶ 4×")
	press(m, "space")
	m.Update(replayTickMsg{gen: m.gen})
	if m.rp.playing || m.rp.cursor != 3 {
		t.Fatalf("paused, yet at %d", m.rp.cursor)
	}
	for range 5 {
		press(m, "+")
	}
	if m.rp.speed != maxSpeed || !strings.Contains(m.flash, "already at 16×") {
		t.Fatalf("speed %d, %q", m.rp.speed, m.flash)
	}
	// Playing to the end stops there.
	press(m, ">")
	m.rp.cursor = m.rp.rec.Len() - 2
	press(m, "space")
	m.Update(replayTickMsg{gen: m.gen})
	if m.rp.playing {
		t.Fatal("still playing at the end")
	}
}

// Every action says why it does nothing in a replay, and nothing runs.
func TestReplayRefusesActions(t *testing.T) {
	m, _ := replayModel(t, 120, 40)
	press(m, "n") // the blocker is on screen, selected in Triage
	for _, k := range []string{"K", "C", "D", "R"} {
		press(m, k)
		if !strings.Contains(m.flash, "a replay shows the past") {
			t.Fatalf("%s: %q", k, m.flash)
		}
		if m.life.busy() || m.life.asking() {
			t.Fatalf("%s opened a dialog", k)
		}
	}
	frame := screen(m)
	if strings.Contains(frame, "K terminate") || strings.Contains(frame, "pause refresh") {
		t.Fatalf("the footer offers what a replay cannot do:\n%s", frame)
	}
	// Nor is there a statement left to plan.
	press(m, "enter")
	if cmd := press(m, "x"); cmd != nil || !strings.Contains(m.flash, "a replay shows the past: the statement is no longer there") {
		t.Fatalf("x in a replay's details: %q", m.flash)
	}
}

func TestReplayEventsList(t *testing.T) {
	m, _ := replayModel(t, 120, 40)
	press(m, "e")
	frame := screen(m)
	mustContain(t, frame, "EVENTS  4 in the recording", "holds up 10 sessions", "terminate pid 4101")
	press(m, "down", "enter") // from the first event to the second
	if m.eventList != nil || m.c.snap.ServerTime.Sub(m.rp.rec.(*sliceReplay).snaps[0].ServerTime) != 300*time.Second {
		t.Fatalf("enter on the second event: at %s", m.c.snap.ServerTime)
	}
}

func TestGoldenReplay(t *testing.T) {
	for _, size := range goldenSizes {
		for _, v := range []struct {
			name string
			keys []string
		}{{"triage", []string{"n", "n"}}, {"events", []string{"n", "n", "e"}}, {"locks", []string{"n", "n", "3"}}} {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				m, _ := replayModel(t, size[0], size[1])
				press(m, v.keys...)
				frame := screen(m)
				for i, line := range strings.Split(frame, "\n") {
					if w := ansiWidth(line); w > size[0] {
						t.Fatalf("line %d is %d cells wide: %q", i, w, line)
					}
				}
				golden.RequireEqual(t, frame)
			})
		}
	}
}
