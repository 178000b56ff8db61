package tui

import (
	"image/color"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Rows, header lines and tabs are kept from one frame to the next. A
// model that drew a frame after every message must show what a model
// that received the same messages and draws only once shows.
func TestCachedFramesMatchFreshOnes(t *testing.T) {
	snap := func(n int) tea.Msg { return snapshotMsg{snap: fixture(n)} }
	scripts := map[string][]tea.Msg{
		"refresh":     {keyMsg("j"), snap(20), keyMsg("j"), snap(4)},
		"resize":      {keyMsg("j"), tea.WindowSizeMsg{Width: 120, Height: 40}, keyMsg("j"), tea.WindowSizeMsg{Width: 200, Height: 60}},
		"theme":       {keyMsg("j"), tea.BackgroundColorMsg{Color: color.White}, keyMsg("j")},
		"move":        {keyMsg("j"), keyMsg("j"), keyMsg("k"), keyMsg("G"), keyMsg("g")},
		"sort":        {keyMsg("s"), keyMsg("j"), keyMsg("o"), keyMsg("s")},
		"filter":      {keyMsg("/"), keyMsg("a"), keyMsg("p"), keyMsg("enter"), keyMsg("j"), keyMsg("esc")},
		"flash":       {keyMsg("space"), keyMsg("j"), keyMsg("space")},
		"views":       {keyMsg("2"), keyMsg("j"), keyMsg("3"), snap(15), keyMsg("2"), keyMsg("4"), keyMsg("1")},
		"expand more": {keyMsg("G"), keyMsg("enter"), keyMsg("j")},
	}
	for name, script := range scripts {
		for _, v := range views {
			drawn := cacheModel(v.keys)
			once := cacheModel(v.keys)
			for _, msg := range script {
				if s, ok := msg.(snapshotMsg); ok {
					s.gen = drawn.gen
					msg = s
				}
				drawn.Update(msg)
				_ = drawn.View()
				once.Update(msg)
			}
			if got, want := drawn.View().Content, once.View().Content; got != want {
				t.Errorf("%s in %s: the frame drawn from caches differs from a fresh one:\n%s\nwant:\n%s", name, v.name, got, want)
			}
		}
	}
}

func cacheModel(keys []string) *Model {
	m := New(&fakeSource{snap: fixture(12)}, Options{Now: func() time.Time { return fixedNow }, Theme: ""})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	m.fetch()
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(12)})
	press(m, keys...)
	return m
}

// A refresh rebuilds only the pane on screen; the others catch up when
// shown, and show the latest snapshot then.
func TestHiddenPanesShowTheLatestSnapshot(t *testing.T) {
	for _, v := range views[1:4] {
		m := newTestModel(t, fixture(3), 200, 60)
		m.Update(snapshotMsg{gen: m.gen, snap: fixture(20)})
		press(m, v.keys...)
		fresh := newTestModel(t, fixture(20), 200, 60)
		press(fresh, v.keys...)
		fresh.panes[fresh.active].refresh(&fresh.c) // built from the snapshot, whatever the model did
		// The health line's sparkline is of every snapshot seen: the two
		// models saw different ones.
		if got, want := withoutLine(m.View().Content, 2), withoutLine(fresh.View().Content, 2); got != want {
			t.Errorf("%s shown after a refresh on Triage:\n%s\nwant:\n%s", v.name, got, want)
		}
	}
}

// The detail pane draws the viewport's window itself; it must be what
// the viewport would draw, at any size and scroll position.
func TestDetailWindowIsTheViewports(t *testing.T) {
	s := fixture(40)
	s.Backends[0].Query = "SELECT " + strings.Repeat("a_rather_long_column_name, ", 60) + "日本語 1"
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}, {97, 31}} {
		for _, keys := range [][]string{{"enter"}, {"4", "enter"}, {"4", "j", "j", "enter"}, {"2", "j", "j", "j", "enter"}, {"1", "j", "j", "enter"}} {
			m := newTestModel(t, s, size[0], size[1])
			press(m, keys...)
			for step := range 12 {
				if got, want := m.detail.window(), m.detail.vp.View(); got != want {
					t.Fatalf("%v at %v, %d down: the window differs from the viewport's:\n%q\nwant:\n%q", keys, size, step, got, want)
				}
				press(m, "down")
				if step == 6 {
					press(m, "space", "space", "space") // pages down, to the end
				}
			}
		}
	}
}

// withoutLine is frame without its line i.
func withoutLine(frame string, i int) string {
	lines := strings.Split(frame, "\n")
	return strings.Join(append(lines[:i:i], lines[i+1:]...), "\n")
}
