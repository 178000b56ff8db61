package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/internal/beat"
	"github.com/pgmedic/pgmedic/internal/terminal"
)

// Run shows m full-screen on the terminal in and out until the user quits
// or ctx ends; an error drawing (the terminal went away) ends it too.
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
	p, d := program(ctx, m, scr, in, width, height, prof, env)

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

// program is the Bubble Tea program behind Run, without the terminal
// set-up: tests give it any reader and a screen on any writer.
func program(ctx context.Context, m *Model, scr *terminal.Screen, in io.Reader, width, height int,
	profile colorprofile.Profile, env []string) (*tea.Program, *drawn) {
	d := &drawn{m: m, scr: scr}
	return tea.NewProgram(d,
		tea.WithContext(ctx),
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
	v := d.m.View()
	if err := d.scr.Draw(v.Content, v.WindowTitle); err != nil {
		d.err = err
		return d, tea.Quit
	}
	return d, cmd
}

// View is empty: the screen has drawn the frame already.
func (d *drawn) View() tea.View { return tea.View{} }

// filter writes raw sequences (an OSC 52 copy, the tmux passthrough, the
// background-colour query) to the screen at once, in order with the
// frames, instead of leaving them to Bubble Tea's next tick.
func (d *drawn) filter(_ tea.Model, msg tea.Msg) tea.Msg {
	if raw, ok := msg.(tea.RawMsg); ok {
		if _, err := d.scr.WriteString(fmt.Sprint(raw.Msg)); err != nil && d.err == nil {
			d.err = err
		}
		return nil
	}
	return msg
}
