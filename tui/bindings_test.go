package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/actions"
)

// footer is the footer's text, wrapped lines joined: the keys that apply
// now, or what the last refused key said.
func footer(m *Model) string {
	lines := strings.Split(screen(m), "\n")
	n := len(m.footer())
	for i := len(lines) - n; i < len(lines); i++ {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines[len(lines)-n:], " ")
}

// offers checks the footer: each of wants is offered, none of nots.
func offers(t *testing.T, m *Model, what string, wants, nots []string) {
	t.Helper()
	f := footer(m)
	for _, w := range wants {
		if !strings.Contains(f, w) {
			t.Errorf("%s: the footer does not offer %q: %q", what, w, f)
		}
	}
	for _, n := range nots {
		if strings.Contains(f, n) {
			t.Errorf("%s: the footer offers %q: %q", what, n, f)
		}
	}
	for _, l := range m.footer() {
		if w := ansiWidth(l); w > m.c.width {
			t.Errorf("%s: a footer line is %d wide, the terminal %d", what, w, m.c.width)
		}
	}
}

// refuses presses key and checks that nothing opened and the footer says
// why, in the words given.
func refuses(t *testing.T, m *Model, key, why string) {
	t.Helper()
	stage, help, detail, filtering := m.life.stage, m.showHelp, m.detail != nil, m.filtering
	press(m, key)
	if m.life.stage != stage || m.showHelp != help || (m.detail != nil) != detail || m.filtering != filtering {
		t.Errorf("%s did something: stage %d→%d, help %v→%v, detail %v→%v, filtering %v→%v",
			key, stage, m.life.stage, help, m.showHelp, detail, m.detail != nil, filtering, m.filtering)
	}
	if f := footer(m); !strings.Contains(f, key+": "+why) {
		t.Errorf("%s: the footer says %q, want %q", key, f, key+": "+why)
	}
	m.flash = "" // back to the keys
}

func model80(t *testing.T, exec Executor, readOnly bool) *Model {
	t.Helper()
	s := fixture(12)
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: exec, ReadOnly: readOnly})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	return m
}

// Every view and overlay, at 80×24, with real key presses: the footer
// offers what applies to the selected row first and always ends with the
// help and the way out; a key that does not apply says why and changes
// nothing.
func TestKeysSayWhy(t *testing.T) {
	m := model80(t, &fakeExecutor{}, false)

	// Triage, on the idle-in-transaction root blocker: terminate is
	// offered, cancel is not (its plan is refused: nothing runs to cancel).
	offers(t, m, "triage", []string{"K terminate backend", "enter details", "? help", "q quit"}, []string{"C cancel", "D drop", "/ filter"})
	if !strings.HasSuffix(strings.TrimRight(footer(m), " "), "? help  q quit") {
		t.Errorf("the footer does not end with the help and the way out: %q", footer(m))
	}
	refuses(t, m, "/", "Triage lists findings: filter in Connections (2), Locks (3) or Indexes (4)")
	refuses(t, m, "D", "select an index first (Triage or Indexes)")
	press(m, "C") // refused by its plan: the dialog says why in full
	if m.life.stage != confirming || m.life.plan.Allowed() {
		t.Fatalf("C on an idle session: stage %d, allowed %v", m.life.stage, m.life.plan.Allowed())
	}
	mustContain(t, screen(m), "REFUSED:", "terminate it instead")
	offers(t, m, "a refusal", []string{"n/esc close", "ctrl+y copy its SQL", "any other key closes"}, []string{"y run it"})
	press(m, "y")
	if m.life.stage != idle {
		t.Fatalf("y did not close the refusal: stage %d", m.life.stage)
	}

	// Down to the invalid index: the footer follows the row.
	press(m, "down")
	offers(t, m, "triage, an index", []string{"D drop invalid index", "R rebuild index"}, []string{"K terminate"})
	refuses(t, m, "K", "select a session first (Triage, Connections or Locks)")

	// Connections: sorting and filtering; index keys belong elsewhere.
	press(m, "2")
	offers(t, m, "connections", []string{"K terminate backend", "/ filter", "s sort by age", "? help", "q quit"}, nil)
	refuses(t, m, "R", "select an index first (Triage or Indexes)")
	// At 80 columns XACT, USER, DB and CLIENT are not shown: s skips them.
	for _, want := range []string{"AGE▲", "PID▲", "APP▲", "STATE▲"} {
		press(m, "s")
		if head := strings.Split(screen(m), "\n")[4]; !strings.Contains(head, want) {
			t.Errorf("s: the header does not show %q: %q", want, head)
		}
	}

	// The filter holds every key until enter or esc.
	press(m, "/")
	if !m.filtering {
		t.Fatal("/ does not open the filter in Connections")
	}
	press(m, "K", "q")
	if m.life.stage != idle || m.c.filter != "Kq" {
		t.Errorf("keys typed into the filter acted: stage %d, filter %q", m.life.stage, m.c.filter)
	}
	press(m, "esc")
	if m.filtering || m.c.filter != "" {
		t.Errorf("esc leaves the filter open or set: %v %q", m.filtering, m.c.filter)
	}

	// The help: only ? esc and q close it; anything else says so.
	press(m, "?")
	offers(t, m, "help", []string{"? close the help"}, []string{"q quit"})
	mustContain(t, screen(m), "Connections", "In every view", "drop invalid index — select an index first")
	refuses(t, m, "K", "the help is open; ? or esc closes it")
	press(m, "esc")

	// A detail window: close, copy, quit.
	press(m, "enter")
	if m.detail == nil {
		t.Fatal("enter opens no details")
	}
	offers(t, m, "details", []string{"esc close", "y copy query", "q quit"}, []string{"K terminate"})
	press(m, "esc")

	// Locks; then Indexes, where D and R act and K does not.
	press(m, "3")
	offers(t, m, "locks", []string{"K terminate backend", "enter details", "/ filter"}, []string{"s sort"})
	press(m, "4")
	offers(t, m, "indexes", []string{"D drop invalid index", "R rebuild index"}, []string{"K terminate"})
	refuses(t, m, "C", "select a session first (Triage, Connections or Locks)")

	// The command log: empty, enter has nothing to show; the filter is
	// for the row views.
	press(m, "5")
	refuses(t, m, "enter", "nothing selected")
	refuses(t, m, "/", "the log is not filtered: filter in Connections (2), Locks (3) or Indexes (4)")

	// A question: y, n/esc, ctrl+y, and any other key is no.
	press(m, "1", "g", "K")
	offers(t, m, "a question", []string{"y run it", "n/esc no", "ctrl+y copy its SQL", "any other key: no"}, []string{"q quit"})
	press(m, "x")
	if m.life.stage != idle || !strings.Contains(footer(m), "not run: nothing was changed") {
		t.Errorf("x did not answer no: stage %d, footer %q", m.life.stage, footer(m))
	}
}

// While an action runs, another action key says so; in read-only mode and
// without an executor every action key says why, the footer offers none
// of them and the help gives the reason.
func TestActionKeysSayWhy(t *testing.T) {
	g := newGate(true)
	m := model80(t, g, false)
	startTerminate(t, m)
	m.flash = ""
	press(m, "down", "D")
	if f := footer(m); !strings.Contains(f, "is still running; one action at a time") {
		t.Errorf("D while an action runs: %q", f)
	}
	g.release <- actions.Result{Outcome: "done"}

	for _, c := range []struct {
		name string
		m    *Model
		why  string
	}{
		{"read-only", model80(t, &fakeExecutor{}, true), "read-only: started with --read-only"},
		{"no executor", model80(t, nil, false), "actions are not available in this session"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			offers(t, m, c.name, []string{"enter details", "q quit"}, []string{"K terminate", "C cancel"})
			refuses(t, m, "K", c.why)
			press(m, "down")
			offers(t, m, c.name, nil, []string{"D drop", "R rebuild"})
			refuses(t, m, "D", c.why)
			press(m, "?")
			mustContain(t, screen(m), "terminate backend — "+c.why)
		})
	}
}

// A result longer than the footer is read whole at 80 columns, wrapped
// over the bottom of the body; the log then shows it, and enter on the
// log entry shows it in full with its SQL.
func TestResultReadWhole(t *testing.T) {
	long := "terminated; its transaction, open 7m00s, rolled back; 13 sessions waiting on it can proceed, " +
		"and pid 4102 (migrate) now holds the queue: 12 sessions waiting on it"
	exec := &fakeExecutor{result: func(p actions.Plan) actions.Result {
		return actions.Result{Plan: p, Outcome: "done", Message: long, Started: fixedNow, BlockedBefore: 13, BlockedAfter: 12}
	}}
	m := model80(t, exec, false)
	press(m, "K")
	runAll(m, press(m, "y"))
	if f := footer(m); !strings.Contains(f, "pid 4102 (migrate) now holds the queue: 12 sessions waiting on it") {
		t.Errorf("the result is cut: %q", f)
	}
	for i, l := range strings.Split(screen(m), "\n") {
		if w := ansiWidth(l); w > 80 {
			t.Errorf("line %d is %d wide", i, w)
		}
	}
	if n := len(strings.Split(screen(m), "\n")); n != 24 {
		t.Errorf("the frame is %d lines, want 24", n)
	}
	m.flash = ""
	press(m, "5", "enter")
	if m.detail == nil {
		t.Fatal("enter on a log entry opens nothing")
	}
	mustContain(t, screen(m), "Terminate backend 4101", "DONE at", "SQL:", "pg_terminate_backend(pid, 3000)",
		"13 before, 12 after")
}

// A reason in the help can carry server words: they are shown escaped.
func TestHelpReasonsAreSanitized(t *testing.T) {
	s := fixture(3)
	s.Indexes[0].Constraint = "uq\x1b[2J\x1b]0;pwned\x07"
	s.Indexes[0].ConstraintType = "unique"
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	press(m, "4", "?")
	raw := m.View().Content
	if strings.Contains(raw, "\x1b[2J") || strings.Contains(raw, "\x1b]0;") {
		t.Errorf("the help carries the constraint's escapes raw")
	}
	mustContain(t, screen(m), "drop invalid index — it implements the unique constraint", `\x1b[2J`)
}
