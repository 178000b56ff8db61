package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgmedic/pgmedic/inspect"
)

var goldenSizes = [][2]int{{80, 24}, {100, 30}, {120, 40}, {200, 60}}

// colourSize is the size whose goldens keep the escapes: a style lost
// anywhere fails there.
var colourSize = [2]int{100, 30}

// views reaches each screen from a fresh model.
var views = []struct {
	name string
	keys []string
}{
	{"triage", nil},
	{"connections", []string{"2"}},
	{"locks", []string{"3"}},
	{"indexes", []string{"4"}},
	{"log", []string{"5"}},
	{"detail", []string{"enter"}},
	{"help", []string{"?"}},
	{"help_indexes", []string{"4", "?"}},
	{"filter", []string{"2", "/", "a", "p", "i"}},
	{"filtered", []string{"2", "/", "m", "i", "g", "enter"}},
}

// Golden screens of the stripped View(): run `go test ./tui -update` after
// a deliberate change of the screens, and read the diff.
func TestGoldenScreens(t *testing.T) {
	for _, size := range goldenSizes {
		for _, v := range views {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				m := actingModel(t, size[0], size[1])
				press(m, v.keys...)
				golden.RequireEqual(t, screen(m))
				if size == colourSize {
					t.Run("colour", func(t *testing.T) { golden.RequireEqual(t, m.View().Content) })
				}
			})
		}
	}
}

// actingModel is the fixture with an executor, as a live session has:
// the footers then offer the actions a responder sees.
func actingModel(t *testing.T, w, h int) *Model {
	t.Helper()
	m := New(&fakeSource{snap: fixture(12)}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(12)})
	return m
}

// plainRoleWarnings are what a role without pg_monitor is told.
var plainRoleWarnings = []string{
	`3 backend(s) of other roles show no query or state, and whether they are client backends is inferred: ` +
		`role "watcher" lacks pg_read_all_stats (GRANT pg_monitor TO watcher, or connect as a superuser)`,
	`2 session(s) of other roles cannot be cancelled or terminated from here: ` +
		`role "watcher" lacks pg_signal_backend (GRANT pg_signal_backend TO watcher, or connect as a superuser)`,
}

// What pgmedic cannot see stands above the findings, wrapped, at every
// size.
func TestGoldenTriageWarnings(t *testing.T) {
	for _, size := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			s := fixture(12)
			s.Server.User, s.Server.Role = "watcher", inspect.RolePrivileges{}
			s.Warnings = plainRoleWarnings
			golden.RequireEqual(t, screen(newTestModel(t, s, size[0], size[1])))
		})
	}
}

// No line is ever wider than the terminal, nor the frame taller, at any
// size and in any view.
func TestNoLineWiderThanTerminal(t *testing.T) {
	s := fixture(40)
	s.Warnings = plainRoleWarnings
	for w := 60; w <= 240; w += 7 {
		for h := 16; h <= 70; h += 9 {
			for _, v := range views {
				m := newTestModel(t, s, w, h)
				press(m, v.keys...)
				lines := strings.Split(m.View().Content, "\n")
				if len(lines) > h {
					t.Errorf("%s at %dx%d: %d lines", v.name, w, h, len(lines))
				}
				for i, l := range lines {
					if lw := ansi.StringWidth(l); lw > w {
						t.Errorf("%s at %dx%d: line %d is %d wide: %q", v.name, w, h, i, lw, ansi.Strip(l))
					}
				}
			}
		}
	}
}

// Server strings with escape sequences are shown escaped, never raw.
func TestHostileTextNeverReachesTheTerminal(t *testing.T) {
	s := fixture(2)
	hostile := "SELECT 1 /* \x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07\u009b31m \u202edesrever */"
	for i := range s.Backends {
		if s.Backends[i].PID == 4101 {
			s.Backends[i].Query = hostile
			s.Backends[i].ApplicationName = "app\x1b[31mred"
			s.Backends[i].User = "evil\x1b]0;title\x07"
		}
	}
	s.Indexes[0].Definition = "CREATE UNIQUE INDEX x ON t (\x1b[5m)"
	s.LockForest = inspectForest(s)
	for _, v := range views {
		m := newTestModel(t, s, 200, 60)
		press(m, v.keys...)
		raw := m.View().Content
		for _, bad := range []string{"\x1b[2J", "\x1b]", "\x07", "\u009b", "\u202e", "\x1b[5m", "\x1b[31mred"} {
			if strings.Contains(raw, bad) {
				t.Errorf("%s: the frame contains %q raw", v.name, bad)
			}
		}
	}
	m := newTestModel(t, s, 200, 60)
	press(m, "enter")
	mustContain(t, screen(m), `\x1b[2J\x1b]0;pwned\x07`, `evil\x1b]0;title\x07`, `\u202edesrever`)
}

// The confirmation dialogs, whose answer keys must always be on screen.
func TestGoldenDialogs(t *testing.T) {
	for _, size := range goldenSizes {
		for _, d := range []struct {
			name string
			keys []string
		}{{"terminate", []string{"K"}}, {"rebuild", []string{"4", "R"}}, {"refused", []string{"C"}}} {
			t.Run(fmt.Sprintf("%s_%dx%d", d.name, size[0], size[1]), func(t *testing.T) {
				m := New(&fakeSource{snap: fixture(12)}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				m.Update(snapshotMsg{gen: m.gen, snap: fixture(12)})
				press(m, d.keys...)
				frame := screen(m)
				if !strings.Contains(frame, "[y] yes, run it") && !strings.Contains(frame, "[esc] close") {
					t.Errorf("the answer keys are not on screen:\n%s", frame)
				}
				if size == colourSize {
					t.Run("colour", func(t *testing.T) { golden.RequireEqual(t, m.View().Content) })
				}
				for i, l := range strings.Split(frame, "\n") {
					if ansi.StringWidth(l) > size[0] {
						t.Errorf("line %d is wider than %d", i, size[0])
					}
				}
				golden.RequireEqual(t, frame)
			})
		}
	}
}

// The questions and the wait while an action runs.
func TestGoldenActionStages(t *testing.T) {
	for _, size := range goldenSizes {
		for _, st := range []struct {
			name string
			keys []string
			msg  tea.Msg
		}{
			{"stop", []string{"esc"}, nil},
			{"quit", []string{"ctrl+c"}, nil},
			{"cancelling", []string{"esc", "y"}, nil},
			{"quitting", nil, shutdownMsg{why: "hangup"}},
			{"running", nil, nil},
			{"refused_while_running", []string{"down", "D"}, nil},
		} {
			t.Run(fmt.Sprintf("%s_%dx%d", st.name, size[0], size[1]), func(t *testing.T) {
				g := newGate(true)
				m := New(&fakeSource{snap: fixture(12)}, Options{Now: func() time.Time { return fixedNow }, Executor: g})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				m.Update(snapshotMsg{gen: m.gen, snap: fixture(12)})
				press(m, "K", "y")
				m.Update(actionProgressMsg{text: "waiting for the lock"})
				press(m, st.keys...)
				if st.msg != nil {
					m.Update(st.msg)
				}
				golden.RequireEqual(t, fits(t, m, st.name))
				if size == colourSize {
					t.Run("colour", func(t *testing.T) { golden.RequireEqual(t, m.View().Content) })
				}
			})
		}
	}
}

// The Progress view, Triage with long operations, and a rewrite's
// details, at every size.
func TestGoldenProgress(t *testing.T) {
	for _, size := range goldenSizes {
		for _, v := range []struct {
			name string
			keys []string
		}{{"triage", nil}, {"progress", []string{"6"}}, {"rewrite", []string{"6", "G", "enter"}}} {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				m := New(&fakeSource{snap: progressFixture()}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				m.Update(snapshotMsg{gen: m.gen, snap: progressFixture()})
				press(m, v.keys...)
				out := screen(m)
				for i, line := range strings.Split(out, "\n") {
					if n := ansi.StringWidth(line); n > size[0] {
						t.Errorf("line %d is %d wide at %d columns", i, n, size[0])
					}
				}
				golden.RequireEqual(t, out)
			})
		}
	}
}
