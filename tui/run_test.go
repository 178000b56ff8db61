package tui

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/terminal"
)

// A shutdown (a signal, a lost terminal) while an action runs is a quit
// nobody can answer: the action is cancelled and its result awaited.
func TestShutdownWaitsForTheAction(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	if _, cmd := m.Update(shutdownMsg{why: "hangup"}); !isQuit(cmd) {
		t.Error("a shutdown with nothing running must quit at once")
	}
	m = withExecutor(t, fixture(3), g, false)
	listen := next(t, m, startTerminate(t, m))
	press(m, "q") // a question nobody will answer
	if _, cmd := m.Update(shutdownMsg{why: "hangup"}); isQuitNow(cmd) || m.life.stage != quitting || !g.cancelled() {
		t.Fatalf("shutdown: stage %d, cancelled %v", m.life.stage, g.cancelled())
	}
	mustContain(t, fits(t, m, "shutdown"), "Quitting (hangup): cancelling Terminate backend 4101 (api)…")
	if !isQuit(next(t, m, listen)) || len(m.Log()) != 1 {
		t.Errorf("the result did not quit, or is not logged: %+v", m.Log())
	}
}

// session runs a model in the real program on a screen writing to out,
// with no keyboard: the test sends the keys.
type session struct {
	m    *Model
	p    *tea.Program
	d    *drawn
	done chan error
}

func startSession(t *testing.T, m *Model, out *syncWriter) *session {
	t.Helper()
	scr := terminal.New(out, colorprofile.ANSI256)
	if err := scr.Open(120, 40); err != nil {
		t.Fatal(err)
	}
	p, d := program(m, scr, nil, 120, 40, colorprofile.ANSI256, []string{"TERM=xterm-256color"})
	s := &session{m: m, p: p, d: d, done: make(chan error, 1)}
	go func() {
		_, err := p.Run()
		if err == nil {
			err = d.err
		}
		s.done <- err
	}()
	return s
}

func (s *session) keys(keys ...string) {
	for _, k := range keys {
		s.p.Send(keyMsg(k))
	}
}

// ended waits for the program's end, up to d.
func (s *session) ended(d time.Duration) (bool, error) {
	select {
	case err := <-s.done:
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// syncWriter is a terminal that may break, as one does when its SSH
// session drops.
type syncWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	broken bool
}

var errHungUp = errors.New("write /dev/pts/3: input/output error")

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken {
		return 0, errHungUp
	}
	return w.buf.Write(p)
}

func (w *syncWriter) breakDown() {
	w.mu.Lock()
	w.broken = true
	w.mu.Unlock()
}

// firstSnapshot waits until the screen shows the first snapshot's root
// blocker: before it, an action key has nothing to act on.
func firstSnapshot(t *testing.T, out *syncWriter) {
	t.Helper()
	for range 6000 { // a minute: only a hang takes that long
		out.mu.Lock()
		drawn := bytes.Contains(out.buf.Bytes(), []byte("BLOCKING"))
		out.mu.Unlock()
		if drawn {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no frame from the first snapshot")
}

// waitRunning waits until the executor has the action.
func waitRunning(t *testing.T, g *gateExecutor) {
	t.Helper()
	for range 6000 { // a minute: only a hang takes that long
		if len(g.ran()) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the action never started")
}

// SIGHUP (a dropped SSH session), SIGTERM and the end of Run's context
// all end the session the same way: the action is cancelled, pgmedic
// waits for its result, and the result is in the log printed on exit.
func TestSignalsEndTheSessionAfterTheAction(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(cancel context.CancelFunc)
	}{
		{"SIGHUP", func(context.CancelFunc) { _ = syscall.Kill(os.Getpid(), syscall.SIGHUP) }},
		{"SIGTERM", func(context.CancelFunc) { _ = syscall.Kill(os.Getpid(), syscall.SIGTERM) }},
		{"context", func(cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(false) // it ends when the test says, cancelled or not
			m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }, Executor: g})
			out := &syncWriter{}
			s := startSession(t, m, out)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := endOn(ctx, s.p, time.Minute)
			defer stop()
			firstSnapshot(t, out)
			s.keys("K", "y")
			waitRunning(t, g)

			tc.send(cancel)
			if ended, _ := s.ended(300 * time.Millisecond); ended {
				t.Fatal("the program ended before the action returned")
			}
			if !g.cancelled() {
				t.Error("the action was not cancelled")
			}
			g.release <- actions.Result{Outcome: "failed", Message: "canceling statement due to user request", Started: fixedNow}
			if ended, err := s.ended(5 * time.Second); !ended || err != nil {
				t.Fatalf("ended %v, err %v", ended, err)
			}
			if log := m.Log(); len(log) != 1 || !strings.Contains(log[0].Message, "due to user request") {
				t.Errorf("log %+v", log)
			}
		})
	}
}

// A program stuck past the bound is killed rather than left running.
func TestEndOnKillsAStuckProgram(t *testing.T) {
	g := newGate(false)
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }, Executor: g, StopWait: time.Hour})
	out := &syncWriter{}
	s := startSession(t, m, out)
	ctx, cancel := context.WithCancel(context.Background())
	stop := endOn(ctx, s.p, 200*time.Millisecond)
	defer stop()
	firstSnapshot(t, out)
	s.keys("K", "y")
	waitRunning(t, g)
	cancel()
	if ended, err := s.ended(5 * time.Second); !ended || !errors.Is(err, tea.ErrProgramKilled) {
		t.Fatalf("ended %v, err %v", ended, err)
	}
	g.release <- actions.Result{}
}

// A terminal that goes away mid-action ends the session as a signal
// does, and Run reports the failed write.
func TestLostTerminalWaitsForTheAction(t *testing.T) {
	g := newGate(true)
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }, Executor: g})
	out := &syncWriter{}
	s := startSession(t, m, out)
	firstSnapshot(t, out)
	s.keys("K", "y")
	waitRunning(t, g)
	out.breakDown()
	s.keys("2") // a frame to draw, on a terminal that is gone
	ended, err := s.ended(5 * time.Second)
	if !ended || !errors.Is(err, errHungUp) {
		t.Fatalf("ended %v, err %v", ended, err)
	}
	if !g.cancelled() {
		t.Error("the action was not cancelled")
	}
	if log := m.Log(); len(log) != 1 || log[0].Message != "cancelled by the user" {
		t.Errorf("log %+v", log)
	}
}

// boomModel is the real model with a bug: the key ! panics in Update.
type boomModel struct{ *Model }

func (b boomModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "!" {
		panic("boom")
	}
	_, cmd := b.Model.Update(msg)
	return b, cmd
}

// panickySource has a bug in reading the server: it runs as a command,
// on a goroutine of Bubble Tea's.
type panickySource struct{ fakeSource }

func (p *panickySource) Snapshot(context.Context) (*inspect.Snapshot, error) {
	panic("decoding went wrong")
}

// A panic in the main program, in Update or in a command, ends it with
// the terminal given back first: out of the alternate screen, out of raw
// mode, and only then the trace, where it can be read and pasted.
func TestPanicTracePrintedAfterTheScreen(t *testing.T) {
	for _, tc := range []struct {
		name, value, frame string
		model              func() tea.Model
		keys               []string
	}{
		{"in Update", "boom", "boomModel.Update", func() tea.Model {
			return boomModel{New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})}
		}, []string{"2", "!"}},
		{"in a command", "decoding went wrong", "(*panickySource).Snapshot", func() tea.Model {
			return New(&panickySource{}, Options{Now: func() time.Time { return fixedNow }})
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term := &syncWriter{} // the screen and stderr are one terminal
			scr := terminal.New(term, colorprofile.ANSI256)
			p, d := program(tc.model(), scr, nil, 120, 40, colorprofile.ANSI256, []string{"TERM=xterm-256color"})
			restored := func() { _, _ = term.Write([]byte("<raw mode undone>")) }
			done := make(chan error, 1)
			go func() { done <- show(p, d, scr, 120, 40, restored, term) }()
			time.Sleep(100 * time.Millisecond)
			for _, k := range tc.keys {
				p.Send(keyMsg(k))
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the program did not end after the panic")
			}
			if !errors.Is(err, tea.ErrProgramPanic) || !strings.Contains(err.Error(), tc.value) {
				t.Errorf("err %v", err)
			}
			out := term.buf.String()
			leave := strings.LastIndex(out, ansi.ResetModeAltScreenSaveCursor)
			raw := strings.Index(out, "<raw mode undone>")
			trace := strings.Index(out, "pgmedic panicked: "+tc.value)
			if leave < 0 || raw < leave || trace < raw {
				t.Fatalf("left the alternate screen at %d, raw mode at %d, trace at %d, want them in that order", leave, raw, trace)
			}
			if rest := out[trace:]; !strings.Contains(rest, tc.frame) || strings.Contains(rest, "\x1b[") {
				t.Errorf("the trace lacks %s or is followed by escapes:\n%s", tc.frame, rest)
			}
		})
	}
}

// An action still running when the program ends without waiting (a bug,
// a forced kill) is cancelled rather than left to the server alone.
func TestAbandonCancelsTheAction(t *testing.T) {
	g := newGate(true)
	m := withExecutor(t, fixture(3), g, false)
	listen := next(t, m, startTerminate(t, m))
	m.abandon()
	if !g.cancelled() {
		t.Error("abandon did not cancel the running action")
	}
	next(t, m, listen)
	m.abandon() // nothing running: nothing to do
}
