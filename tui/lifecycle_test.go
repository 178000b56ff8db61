package tui

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// Every stage, every event that moves it: the lifecycle as a table.
func TestLifecycleSteps(t *testing.T) {
	ok := actions.Plan{Kind: actions.Terminate, Title: "Terminate backend 4101"}
	refused := actions.Plan{Kind: actions.Cancel, Title: "Cancel 4101", Refusal: "idle in a transaction"}
	at := fixedNow.Add(time.Second)
	in := func(s stage) lifecycle { return lifecycle{stage: s, plan: ok, started: fixedNow} }
	for _, tc := range []struct {
		name string
		from lifecycle
		ev   event
		to   stage
		do   effect
	}{
		{"open an allowed plan", lifecycle{}, event{kind: evOpen, plan: ok}, confirming, 0},
		{"open a refused plan: audit it", lifecycle{}, event{kind: evOpen, plan: refused}, confirming, doAudit},
		{"q when idle quits", lifecycle{}, event{kind: evQuit}, idle, doQuit},
		{"yes starts it", lifecycle{stage: confirming, plan: ok}, event{kind: evYes, at: at}, running, doStart},
		{"no says so", lifecycle{stage: confirming, plan: ok}, event{kind: evNo}, idle, doNotRun},
		{"yes to a refusal only closes", lifecycle{stage: confirming, plan: refused}, event{kind: evYes}, idle, 0},
		{"no to a refusal only closes", lifecycle{stage: confirming, plan: refused}, event{kind: evNo}, idle, 0},
		{"progress", in(running), event{kind: evProgress, text: "waiting"}, running, 0},
		{"esc asks to stop", in(running), event{kind: evStop}, stopAsked, 0},
		{"stop: yes cancels", in(stopAsked), event{kind: evYes}, cancelling, doCancel},
		{"stop: no lets it run", in(stopAsked), event{kind: evNo}, running, 0},
		{"q asks to quit", in(running), event{kind: evQuit}, quitAsked, 0},
		{"quit: no keeps watching", in(quitAsked), event{kind: evNo}, running, 0},
		{"done", in(running), event{kind: evDone}, idle, doRecord},
		{"done while cancelling", in(cancelling), event{kind: evDone}, idle, doRecord},
		{"done under the stop question", in(stopAsked), event{kind: evDone}, idle, doRecord},
		{"done under the quit question", in(quitAsked), event{kind: evDone}, idle, doRecord},
		{"quit: yes cancels and waits", in(quitAsked), event{kind: evYes}, quitting, doCancel | doWait},
		{"quit: a second ctrl+c is yes", in(quitAsked), event{kind: evInterrupt}, quitting, doCancel | doWait},
		{"q while cancelling only waits", in(cancelling), event{kind: evQuit}, quitting, doWait},
		{"the result quits", in(quitting), event{kind: evDone}, idle, doRecord | doQuit},
		{"no result in time: quit anyway", in(quitting), event{kind: evGiveUp}, idle, doAbandon | doQuit},
		{"keys while quitting change nothing", in(quitting), event{kind: evInterrupt}, quitting, 0},
		{"a signal with nothing running quits", lifecycle{stage: confirming, plan: ok}, event{kind: evShutdown}, idle, doQuit},
		{"a signal cancels and waits", in(running), event{kind: evShutdown, text: "hangup"}, quitting, doCancel | doWait},
		{"a signal over a question: nobody will answer it", in(quitAsked), event{kind: evShutdown}, quitting, doCancel | doWait},
		{"a signal while cancelling waits", in(cancelling), event{kind: evShutdown}, quitting, doWait},
		{"a second signal changes nothing", in(quitting), event{kind: evShutdown}, quitting, 0},
		{"a stale give-up is nothing", in(running), event{kind: evGiveUp}, running, 0},
		{"esc while cancelling: already", in(cancelling), event{kind: evStop}, cancelling, 0},
		{"ctrl+c when idle quits", lifecycle{}, event{kind: evInterrupt}, idle, doQuit},
		{"ctrl+c in a plan's dialog quits: nothing runs", lifecycle{stage: confirming, plan: ok}, event{kind: evInterrupt}, idle, doQuit},
		{"ctrl+c while running asks", in(running), event{kind: evInterrupt}, quitAsked, 0},
		{"ctrl+c over the stop question asks to quit", in(stopAsked), event{kind: evInterrupt}, quitAsked, 0},
		{"an action key while running is no event", in(running), event{kind: evOpen, plan: refused}, running, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, do := step(tc.from, tc.ev)
			if got.stage != tc.to || do != tc.do {
				t.Errorf("stage %d effects %b, want stage %d effects %b", got.stage, do, tc.to, tc.do)
			}
			if got.busy() && got.plan.Title != ok.Title {
				t.Errorf("a busy stage lost its plan: %+v", got)
			}
		})
	}
	if l, _ := step(lifecycle{stage: confirming, plan: ok}, event{kind: evYes, at: at}); !l.started.Equal(at) {
		t.Errorf("the action starts at %v, want %v", l.started, at)
	}
	if l, _ := step(in(running), event{kind: evShutdown, text: "hangup"}); l.why != "hangup" {
		t.Errorf("a signal's quitting does not say why: %+v", l)
	}
	if l, _ := step(in(running), event{kind: evProgress, text: "waiting"}); l.progress != "waiting" {
		t.Errorf("progress %q", l.progress)
	}
}

// gateExecutor holds each action until the test lets it return, and
// remembers the context it ran under.
type gateExecutor struct {
	release chan actions.Result
	// honour makes a cancelled context end the action at once.
	honour bool

	mu    sync.Mutex
	plans []actions.Plan
	ctxs  []context.Context
}

func newGate(honour bool) *gateExecutor {
	return &gateExecutor{release: make(chan actions.Result, 1), honour: honour}
}

func (g *gateExecutor) Execute(ctx context.Context, p actions.Plan, _ *inspect.Snapshot, progress func(string)) actions.Result {
	g.mu.Lock()
	g.plans, g.ctxs = append(g.plans, p), append(g.ctxs, ctx)
	g.mu.Unlock()
	if !p.Allowed() {
		return actions.Result{Plan: p, Outcome: "refused", Message: p.Refusal, Started: fixedNow}
	}
	progress("waiting for the lock")
	done := ctx.Done()
	if !g.honour {
		done = nil
	}
	select {
	case r := <-g.release:
		r.Plan = p
		return r
	case <-done:
		return actions.Result{Plan: p, Outcome: "failed", Message: "cancelled by the user", Started: fixedNow}
	}
}

func (g *gateExecutor) ran() []actions.Plan {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]actions.Plan(nil), g.plans...)
}

func (g *gateExecutor) cancelled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ctxs) > 0 && g.ctxs[len(g.ctxs)-1].Err() != nil
}

// next feeds the action's next message (progress or result) to the model.
func next(t *testing.T, m *Model, listen tea.Cmd) tea.Cmd {
	t.Helper()
	got := make(chan tea.Msg, 1)
	go func() { got <- listen() }()
	select {
	case msg := <-got:
		_, cmd := m.Update(msg)
		return cmd
	case <-time.After(5 * time.Second):
		t.Fatal("the action sent nothing")
		return nil
	}
}

// startTerminate opens the terminate dialog on the root blocker and says
// yes; it returns the command that listens to the action.
func startTerminate(t *testing.T, m *Model) tea.Cmd {
	t.Helper()
	press(m, "K")
	listen := press(m, "y")
	if m.life.stage != running || listen == nil {
		t.Fatalf("y did not start the action: stage %d", m.life.stage)
	}
	return listen
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// isQuitNow is isQuit for a command that may also wait (a batch): it
// looks only at commands that return at once.
func isQuitNow(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	got := make(chan tea.Msg, 1)
	go func() { got <- cmd() }()
	select {
	case msg := <-got:
		_, ok := msg.(tea.QuitMsg)
		return ok
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// fits checks the frame against the terminal: no line wider, no more lines.
func fits(t *testing.T, m *Model, what string) string {
	t.Helper()
	frame := m.View().Content
	lines := strings.Split(frame, "\n")
	if len(lines) > m.c.height {
		t.Errorf("%s: %d lines on a %d-line terminal", what, len(lines), m.c.height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > m.c.width {
			t.Errorf("%s: line %d is %d wide: %q", what, i, w, ansi.Strip(l))
		}
	}
	return ansi.Strip(frame)
}

func TestActionStartProgressDone(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	listen := startTerminate(t, m)
	listen = next(t, m, listen) // progress
	if ran := g.ran(); len(ran) != 1 || ran[0].Backend.PID != 4101 {
		t.Fatalf("ran %+v", ran)
	}
	mustContain(t, screen(m), "RUNNING Terminate backend 4101", "waiting for the lock", "esc cancels")
	press(m, "K")
	if m.life.stage != running || !strings.Contains(m.flash, "still running; one action at a time") {
		t.Fatalf("a second action key: stage %d, flash %q", m.life.stage, m.flash)
	}
	g.release <- actions.Result{Outcome: "done", Message: "terminated", Started: fixedNow}
	next(t, m, listen)
	if m.life.stage != idle || len(m.Log()) != 1 || m.Log()[0].Outcome != "done" {
		t.Fatalf("after the result: stage %d, log %+v", m.life.stage, m.Log())
	}
	mustContain(t, screen(m), "DONE: terminated")
}

func TestActionFailed(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	listen := next(t, m, startTerminate(t, m))
	g.release <- actions.Result{Outcome: "failed", Message: "permission denied (SQLSTATE 42501)", Started: fixedNow}
	next(t, m, listen)
	if m.life.stage != idle || len(m.Log()) != 1 || m.Log()[0].OK() {
		t.Fatalf("stage %d, log %+v", m.life.stage, m.Log())
	}
	mustContain(t, screen(m), "FAILED: permission denied")
	startTerminate(t, m) // a failure leaves room for the next action
}

func TestActionCancelAsked(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	listen := next(t, m, startTerminate(t, m))
	press(m, "esc")
	if m.life.stage != stopAsked {
		t.Fatalf("esc: stage %d", m.life.stage)
	}
	mustContain(t, fits(t, m, "stop asked"), "Cancel Terminate backend 4101 (api)?", "[y] cancel it", "[n/esc] let it run")
	press(m, "n")
	if m.life.stage != running || g.cancelled() {
		t.Fatalf("n: stage %d, cancelled %v", m.life.stage, g.cancelled())
	}
	press(m, "esc", "y")
	if m.life.stage != cancelling || !g.cancelled() {
		t.Fatalf("esc y: stage %d, cancelled %v", m.life.stage, g.cancelled())
	}
	mustContain(t, fits(t, m, "cancelling"), "CANCELLING Terminate backend 4101")
	next(t, m, listen)
	if m.life.stage != idle || len(m.Log()) != 1 {
		t.Fatalf("stage %d, log %+v", m.life.stage, m.Log())
	}
	mustContain(t, screen(m), "FAILED: cancelled by the user")
}

// The action ends while a question about it is open: the question goes,
// the result shows, and nothing reaches for the action that is gone.
func TestActionEndsUnderItsQuestion(t *testing.T) {
	for _, key := range []string{"q", "esc"} {
		t.Run(key, func(t *testing.T) {
			g := newGate(true)
			m := withExecutor(t, fixture(3), g, false)
			listen := next(t, m, startTerminate(t, m))
			press(m, key)
			if !m.life.asking() {
				t.Fatalf("%s asked nothing", key)
			}
			g.release <- actions.Result{Outcome: "done", Message: "terminated", Started: fixedNow}
			next(t, m, listen)
			frame := fits(t, m, "after the action ended")
			mustContain(t, frame, "DONE: terminated")
			if strings.Contains(frame, "An action is running") || strings.Contains(frame, "Cancel Terminate") {
				t.Errorf("the question outlived the action:\n%s", frame)
			}
			if cmd := press(m, "y"); m.life.stage != idle || isQuit(cmd) {
				t.Errorf("y after the action ended: stage %d, quits %v", m.life.stage, isQuit(cmd))
			}
			if len(m.Log()) != 1 {
				t.Errorf("log %+v", m.Log())
			}
		})
	}
}

// ctrl+c is q: while an action runs it asks, and a second one says yes.
func TestCtrlCDuringAnActionAsks(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	next(t, m, startTerminate(t, m))
	if cmd := press(m, "ctrl+c"); isQuit(cmd) || m.life.stage != quitAsked || g.cancelled() {
		t.Fatalf("ctrl+c during an action: quits %v, stage %d, cancelled %v", isQuit(cmd), m.life.stage, g.cancelled())
	}
	mustContain(t, fits(t, m, "quit asked"), "An action is running: Terminate backend 4101 (api)", "Quit anyway?", "[y/ctrl+c] quit")
	press(m, "esc")
	if m.life.stage != running {
		t.Fatalf("esc keeps watching: stage %d", m.life.stage)
	}
	press(m, "ctrl+c")
	press(m, "ctrl+c")
	if !g.cancelled() {
		t.Error("a second ctrl+c did not cancel the action")
	}

	idle := withExecutor(t, fixture(3), g, false)
	if !isQuit(press(idle, "ctrl+c")) {
		t.Error("ctrl+c with nothing running must quit at once")
	}
}

// panicExecutor is an action with a bug in it.
type panicExecutor struct{}

func (panicExecutor) Execute(context.Context, actions.Plan, *inspect.Snapshot, func(string)) actions.Result {
	var ix *inspect.Index
	_ = ix.Name // a nil dereference, as a real bug would be
	return actions.Result{}
}

// A panic inside an action is that action's failure, not pgmedic's end:
// the result says what panicked and where, and the screen goes on.
func TestActionPanicIsAFailedResult(t *testing.T) {
	m := withExecutor(t, fixture(3), panicExecutor{}, false)
	next(t, m, startTerminate(t, m))
	if m.life.stage != idle || len(m.Log()) != 1 {
		t.Fatalf("after the panic: stage %d, log %+v", m.life.stage, m.Log())
	}
	r := m.Log()[0]
	if r.Outcome != "failed" || r.Plan.Kind != actions.Terminate ||
		!strings.Contains(r.Message, "panicked (runtime error: invalid memory address or nil pointer dereference)") ||
		!strings.Contains(r.Message, "panicExecutor.Execute at lifecycle_test.go") {
		t.Errorf("result %+v", r)
	}
	if r.Err == nil || !strings.Contains(r.Err.Error(), "goroutine") {
		t.Errorf("the stack is not kept with the result: %v", r.Err)
	}
	mustContain(t, fits(t, m, "after a panic"), "FAILED: pgmedic bug: the action panicked")
	press(m, "5")
	mustContain(t, screen(m), "FAILED pgmedic bug", "SELECT pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid = 4101")
	press(m, "1")
	startTerminate(t, m) // still alive, and free for the next action
}

// Quitting during an action cancels it and waits for its result, so the
// result (and the audit record written with it) is in the log printed on
// exit.
func TestQuitWaitsForTheCancelledAction(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	listen := next(t, m, startTerminate(t, m))
	press(m, "q")
	if cmd := press(m, "y"); isQuitNow(cmd) || m.life.stage != quitting || !g.cancelled() {
		t.Fatalf("y: quits at once %v, stage %d, cancelled %v", isQuitNow(cmd), m.life.stage, g.cancelled())
	}
	frame := fits(t, m, "quitting")
	mustContain(t, frame, "Quitting: cancelling Terminate backend 4101 (api)…", "Waiting for it to stop",
		"pgmedic quits anyway after 10s", "QUITTING: cancelling Terminate backend 4101 (api)…, waiting for it to stop")
	if cmd := press(m, "5", "ctrl+c", "y"); cmd != nil || m.life.stage != quitting || m.active != 0 {
		t.Errorf("keys while quitting: stage %d, view %d", m.life.stage, m.active)
	}
	if cmd := next(t, m, listen); !isQuit(cmd) {
		t.Fatal("the action's result did not quit")
	}
	if log := m.Log(); len(log) != 1 || log[0].Message != "cancelled by the user" {
		t.Errorf("log %+v", log)
	}
}

// An action that ignores its cancellation cannot keep pgmedic open: after
// the bound it quits, and the log says the action's end is unknown.
func TestQuitGivesUpWaiting(t *testing.T) {
	g := newGate(false)
	s := fixture(3)
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: g, StopWait: 20 * time.Millisecond})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	next(t, m, startTerminate(t, m))
	press(m, "ctrl+c")
	wait := press(m, "ctrl+c")
	if m.life.stage != quitting || wait == nil {
		t.Fatalf("stage %d", m.life.stage)
	}
	mustContain(t, fits(t, m, "quitting at 80x24"), "Waiting for it to stop", "after 20ms")
	waited := make(chan tea.Msg, 1)
	go func() { waited <- wait() }()
	select {
	case msg := <-waited:
		if _, cmd := m.Update(msg); !isQuit(cmd) {
			t.Fatal("the end of the wait did not quit")
		}
	case <-time.After(time.Minute): // a hang: the action never returns
		t.Fatal("still waiting a minute after the 20ms bound")
	}
	log := m.Log()
	if len(log) != 1 || log[0].Outcome != "unknown" || log[0].Plan.Kind != actions.Terminate ||
		!strings.Contains(log[0].Message, "pgmedic quit before Terminate backend 4101 (api) stopped") {
		t.Errorf("log %+v", log)
	}
	g.release <- actions.Result{} // let the goroutine end
}

// A refusal in the TUI is audited like one on the command line: the
// executor gets the plan and records it, without it ever being the
// running action.
func TestRefusedPlanIsAuditedNotRun(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	audit := press(m, "C") // cancel of an idle-in-transaction root: refused
	if m.life.stage != confirming || m.life.plan.Allowed() || audit == nil {
		t.Fatalf("C: stage %d, plan allowed %v", m.life.stage, m.life.plan.Allowed())
	}
	mustContain(t, fits(t, m, "refused"), "REFUSED:", "[esc] close")
	press(m, "esc")
	listen := startTerminate(t, m) // the refusal holds up nothing
	m.Update(audit())
	// The terminate runs in its own goroutine: the two reach the executor
	// in either order.
	if ran := g.ran(); !slices.ContainsFunc(ran, func(p actions.Plan) bool { return p.Kind == actions.Cancel && !p.Allowed() }) {
		t.Fatalf("the executor never saw the refusal: %+v", ran)
	}
	if m.life.stage != running || m.life.plan.Kind != actions.Terminate {
		t.Errorf("the refusal's result touched the running action: stage %d, %s", m.life.stage, m.life.plan.Kind)
	}
	if log := m.Log(); len(log) != 1 || log[0].Outcome != "refused" || log[0].Plan.Kind != actions.Cancel {
		t.Errorf("log %+v", log)
	}
	listen = next(t, m, listen)
	g.release <- actions.Result{Outcome: "done", Message: "terminated", Started: fixedNow}
	next(t, m, listen)
	press(m, "5")
	mustContain(t, screen(m), "REFUSED it is idle in a transaction", "DONE terminated")
}

// Every stage of an action drawn at 80×24: nothing wider than the
// terminal, nothing taller, and the answer keys or the wait on screen.
func TestActionStagesFit80x24(t *testing.T) {
	long := strings.Repeat("waiting for AccessExclusiveLock on public.orders held by pid 4101 ", 3)
	g := newGate(true)
	s := fixture(12)
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: g})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	check := func(what string, wants ...string) {
		t.Helper()
		mustContain(t, fits(t, m, what), wants...)
	}
	check("idle", "Triage")
	press(m, "C")
	check("refused", "REFUSED:", "[esc] close")
	press(m, "esc", "4", "R")
	check("confirming a rebuild", "[y] yes, run it", "[n/esc] no (default)")
	press(m, "esc", "1", "K")
	check("confirming", "[y] yes, run it")
	listen := press(m, "y")
	check("running", "RUNNING Terminate backend 4101")
	m.Update(actionProgressMsg{text: long, ch: nil})
	check("running with long progress", "RUNNING")
	press(m, "esc")
	check("stop asked", "[y] cancel it", "[n/esc] let it run")
	press(m, "n", "q")
	check("quit asked", "[y/ctrl+c] quit", "[n/esc] keep watching")
	press(m, "n", "esc", "y")
	check("cancelling", "CANCELLING Terminate backend 4101")
	m.Update(shutdownMsg{why: "hangup"})
	check("quitting", "Quitting (hangup): cancelling", "pgmedic quits anyway after 10s", "QUITTING")
	for m.life.stage == quitting {
		listen = next(t, m, listen)
	}
	check("done", "FAILED: cancelled by the user")

	m = New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: panicExecutor{}})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	press(m, "K")
	next(t, m, press(m, "y"))
	check("after a panic", "FAILED: pgmedic bug")
	press(m, "5")
	check("the log after a panic", "COMMAND LOG", "FAILED pgmedic bug")
}
