package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/internal/terminal"
)

// Run shows m full-screen on the terminal in and out until the user quits.
// ctx's end, SIGHUP, SIGTERM and an error drawing (the terminal went away)
// end it too, as quitting does: a running action is cancelled and its
// result waited for (see endOn).
// Bubble Tea reads the keys and runs the model; frames are drawn by
// internal/terminal as soon as Update changes them, and not otherwise,
// so an idle pgmedic does not wake up between refreshes. profile nil
// means detect it from the terminal and environment.
func Run(ctx context.Context, m *Model, in, out *os.File, profile *colorprofile.Profile) error {
	// Keys come raw from a terminal; from anything else (a pipe, in a
	// script) they are read as they come, as Bubble Tea did.
	restore, cooked, raw := func() {}, func() error { return nil }, func() error { return nil }
	if term.IsTerminal(int(in.Fd())) {
		state, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("could not put the terminal in raw mode: %w", err)
		}
		cooked = func() error { return term.Restore(int(in.Fd()), state) }
		raw = func() error { _, err := term.MakeRaw(int(in.Fd())); return err }
		restore = sync.OnceFunc(func() { _ = cooked() }) // nothing better to do at exit
		defer restore()
	}
	width, height, err := term.GetSize(int(out.Fd()))
	if err != nil {
		return fmt.Errorf("could not read the terminal's size: %w", err)
	}
	env := os.Environ()
	prof := colorprofile.Detect(out, env)
	if profile != nil {
		prof = *profile
	}
	scr := terminal.New(out, prof)
	p, d := program(m, scr, in, width, height, prof, env)
	// ctrl+z: Bubble Tea stops reading keys and stops the process, but
	// without its renderer it leaves the terminal as it is; the screen and
	// the raw mode are pgmedic's to give back and take again.
	d.release = func() error {
		err := scr.Close()
		return errors.Join(err, cooked())
	}
	d.retake = func() (int, int, error) {
		if err := raw(); err != nil {
			return 0, 0, err
		}
		w, h, err := term.GetSize(int(out.Fd()))
		if err != nil {
			return 0, 0, err
		}
		return w, h, scr.Open(w, h)
	}
	defer m.abandon() // should the program end with an action still running

	// Bubble Tea follows the terminal's size only with its own renderer.
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer func() {
		signal.Stop(winch) // no delivery after this returns
		close(winch)       // so the goroutine below ends
	}()
	go func() {
		for range winch {
			if w, h, err := term.GetSize(int(out.Fd())); err == nil {
				p.Send(tea.WindowSizeMsg{Width: w, Height: h})
			}
		}
	}()

	stop := endOn(ctx, p, m.stopWait()+killGrace)
	defer stop()

	return show(p, d, scr, width, height, restore, os.Stderr)
}

// show runs the program on the screen, then gives the terminal back: out
// of the alternate screen, out of raw mode (restore), and only then the
// trace of a panic, to errOut. Written any earlier, it would land in the
// alternate screen and vanish with it, or be mangled by raw mode.
func show(p *tea.Program, d *drawn, scr *terminal.Screen, width, height int, restore func(), errOut io.Writer) error {
	if err := scr.Open(width, height); err != nil {
		restore()
		return fmt.Errorf("the screen failed: %w", err)
	}
	_, err := p.Run()
	if err == nil {
		err = d.err
	}
	if cerr := scr.Close(); err == nil && cerr != nil {
		err = cerr
	}
	restore()
	if c := d.panicked; c != nil {
		fmt.Fprintf(errOut, "pgmedic panicked: %v\n\n%s\n", c.value, c.stack)
		return fmt.Errorf("%w: %v", tea.ErrProgramPanic, c.value)
	}
	return err
}

// killGrace is how much longer than the model's own wait for a cancelled
// action Run waits, after a signal, before it kills the program: the
// model quits on its own unless it is stuck.
const killGrace = 5 * time.Second

// endOn turns what ends a session from outside into a shutdownMsg: SIGHUP
// (the SSH connection dropped), SIGTERM, and ctx's end (the interrupt
// main listens for). The model then cancels a running action and waits
// for its result, as when quitting by hand, and the log is printed as on
// any exit. Should the program still run after limit, it is killed.
// Bubble Tea's own handler would quit at once on SIGTERM, and SIGHUP's
// default is to die with the terminal raw and the action unrecorded.
func endOn(ctx context.Context, p *tea.Program, limit time.Duration) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var why string
		select {
		case s := <-sigs:
			why = s.String()
		case <-ctx.Done():
			why = context.Cause(ctx).Error()
		case <-done:
			return
		}
		p.Send(shutdownMsg{why: why})
		select {
		case <-time.After(limit):
			p.Kill()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// program is the Bubble Tea program behind Run, without the terminal
// set-up: tests give it any reader and a screen on any writer.
func program(m tea.Model, scr *terminal.Screen, in io.Reader, width, height int,
	profile colorprofile.Profile, env []string) (*tea.Program, *drawn) {
	d := &drawn{m: m, scr: scr}
	return tea.NewProgram(d,
		tea.WithoutSignalHandler(), // see endOn
		tea.WithInput(in),
		tea.WithOutput(scr),
		tea.WithEnvironment(env),
		tea.WithColorProfile(profile),
		tea.WithWindowSize(width, height),
		// No renderer: its ticker is what internal/terminal exists to avoid.
		// Bubble Tea still ticks to flush its own output buffer, which
		// pgmedic never fills (control sequences go through the filter
		// below), so the slowest tick is plenty.
		tea.WithoutRenderer(),
		tea.WithFPS(1),
		tea.WithFilter(d.filter),
	), d
}

// suspendKey is the keymap's, read once: drawn sees keys before the model.
var suspendKey = DefaultKeyMap().Suspend

// drawn runs the model and draws its frame after every update.
type drawn struct {
	m        tea.Model
	scr      *terminal.Screen
	err      error
	panicked *caught

	// release gives the terminal back before the process stops on ctrl+z,
	// retake takes it again on SIGCONT and returns its size; nil where
	// there is no terminal (tests), and ctrl+z is then an ordinary key.
	release func() error
	retake  func() (width, height int, err error)
}

// caught is a panic in the model or one of its commands, kept for show
// to print once the terminal is itself again. Bubble Tea would print it
// at once, into the alternate screen that is about to be left.
type caught struct {
	value any
	stack []byte
}

// panicMsg carries a command's panic to the event loop.
type panicMsg struct{ caught }

func (d *drawn) Init() (cmd tea.Cmd) {
	defer d.catch(&cmd)
	return d.guard(d.m.Init())
}

func (d *drawn) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if d.panicked != nil {
		return d, nil // the model's state is suspect; quitting
	}
	if p, ok := msg.(panicMsg); ok {
		d.panicked = &p.caught
		return d, tea.Quit
	}
	return d, d.update(msg)
}

func (d *drawn) update(msg tea.Msg) (cmd tea.Cmd) {
	defer d.catch(&cmd)
	switch m := msg.(type) {
	case tea.KeyPressMsg:
		if d.release != nil && key.Matches(m, suspendKey) {
			return tea.Suspend
		}
	case tea.SuspendMsg:
		return nil // the process was stopped and has resumed; ResumeMsg follows
	case tea.ResumeMsg:
		if d.retake == nil {
			return nil
		}
		w, h, err := d.retake()
		if err != nil {
			return d.lost(err)
		}
		// The size may have changed while stopped; the frame is drawn
		// whole either way, the screen having been opened afresh.
		msg = tea.WindowSizeMsg{Width: w, Height: h}
	}
	if size, ok := msg.(tea.WindowSizeMsg); ok {
		d.scr.Resize(size.Width, size.Height)
	}
	_, cmd = d.m.Update(msg)
	cmd = d.guard(cmd)
	if d.err != nil {
		return cmd // nothing left to draw on
	}
	v := d.m.View()
	if err := d.scr.Draw(v.Content, v.WindowTitle); err != nil {
		return tea.Batch(cmd, d.lost(err))
	}
	return cmd
}

// catch, deferred, turns a panic in the model into the end of the
// program.
func (d *drawn) catch(cmd *tea.Cmd) {
	if v := recover(); v != nil {
		d.panicked = &caught{value: v, stack: debug.Stack()}
		*cmd = tea.Quit
	}
}

// guard catches a panic in a command (a refresh, a lock read), which runs
// on a goroutine of Bubble Tea's, and hands it to the event loop. The
// commands of a batch run separately, so each is guarded in turn.
func (d *drawn) guard(cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() (msg tea.Msg) {
		defer func() {
			if v := recover(); v != nil {
				msg = panicMsg{caught{value: v, stack: debug.Stack()}}
			}
		}()
		msg = cmd()
		if batch, ok := msg.(tea.BatchMsg); ok {
			for i := range batch {
				batch[i] = d.guard(batch[i])
			}
		}
		return msg
	}
}

// lost notes that the terminal went away (an SSH session dropped and the
// writes fail) and ends the session as a signal would: a running action
// is not left behind unrecorded.
func (d *drawn) lost(err error) tea.Cmd {
	if d.err != nil {
		return nil
	}
	d.err = err
	return func() tea.Msg { return shutdownMsg{why: "the terminal went away"} }
}

// View is empty: the screen has drawn the frame already.
func (d *drawn) View() tea.View { return tea.View{} }

// filter writes raw sequences (an OSC 52 copy, the tmux passthrough, the
// background-colour query) to the screen at once, in order with the
// frames, instead of leaving them to Bubble Tea's next tick.
func (d *drawn) filter(_ tea.Model, msg tea.Msg) tea.Msg {
	if _, ok := msg.(tea.SuspendMsg); ok && d.release != nil {
		// Here, on the event loop, just before Bubble Tea stops the
		// process: no frame can be drawn in between.
		if err := d.release(); err != nil {
			if cmd := d.lost(err); cmd != nil {
				return cmd()
			}
			return nil
		}
		return msg
	}
	if raw, ok := msg.(tea.RawMsg); ok {
		if _, err := d.scr.WriteString(fmt.Sprint(raw.Msg)); err != nil {
			if cmd := d.lost(err); cmd != nil {
				return cmd()
			}
		}
		return nil
	}
	return msg
}
