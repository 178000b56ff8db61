package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/internal/beat"
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
	if term.IsTerminal(int(in.Fd())) {
		state, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("could not put the terminal in raw mode: %w", err)
		}
		defer term.Restore(int(in.Fd()), state) //nolint:errcheck // nothing better to do at exit
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
	defer m.abandon() // should the program end with an action still running

	// Refreshes are woken by a timer of their own (see internal/beat).
	timer := beat.New(func() { p.Send(timerMsg{}) })
	defer timer.Close()
	m.timer = timer

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

	if err := scr.Open(width, height); err != nil {
		return fmt.Errorf("the screen failed: %w", err)
	}
	_, err = p.Run()
	if err == nil {
		err = d.err
	}
	if cerr := scr.Close(); err == nil && cerr != nil {
		err = cerr
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
func program(m *Model, scr *terminal.Screen, in io.Reader, width, height int,
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

// drawn runs the model and draws its frame after every update.
type drawn struct {
	m   *Model
	scr *terminal.Screen
	err error
}

func (d *drawn) Init() tea.Cmd { return d.m.Init() }

func (d *drawn) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if size, ok := msg.(tea.WindowSizeMsg); ok {
		d.scr.Resize(size.Width, size.Height)
	}
	_, cmd := d.m.Update(msg)
	if d.err != nil {
		return d, cmd // nothing left to draw on
	}
	v := d.m.View()
	if err := d.scr.Draw(v.Content, v.WindowTitle); err != nil {
		return d, tea.Batch(cmd, d.lost(err))
	}
	return d, cmd
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
