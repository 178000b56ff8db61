// Package clipboard delivers copied text to the clipboards pgmedic can
// reach: the terminal's own through OSC 52 (which crosses SSH), wrapped
// for tmux and GNU screen when running inside them, and a local desktop
// clipboard when there is one. None of them works everywhere, so all are
// used at once.
package clipboard

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/atotto/clipboard"
	"github.com/charmbracelet/x/ansi"
)

// Env is what decides the delivery: the environment variables that say
// where pgmedic runs.
type Env struct {
	Tmux   bool // $TMUX: inside tmux
	Screen bool // $STY: inside GNU screen
	SSH    bool // $SSH_CONNECTION or $SSH_TTY: a local clipboard is not the user's
	// TmuxForwards: the tmux pgmedic runs in takes OSC 52 from programs
	// (set-clipboard on) or lets it through (allow-passthrough), as its
	// server said at start; no hint is needed then.
	TmuxForwards bool
}

// FromEnviron reads the process environment, and asks the tmux server
// pgmedic runs in, if any, how it treats OSC 52.
func FromEnviron() Env {
	e := Env{
		Tmux:   os.Getenv("TMUX") != "",
		Screen: os.Getenv("STY") != "",
		SSH:    os.Getenv("SSH_CONNECTION") != "" || os.Getenv("SSH_TTY") != "",
	}
	if e.Tmux {
		e.TmuxForwards = TmuxForwards()
	}
	return e
}

// TmuxForwards asks the tmux server named by $TMUX whether OSC 52 from a
// program reaches the outer terminal: set-clipboard on, or
// allow-passthrough on (or all, tmux 3.4+). It says false when tmux
// cannot be asked within a second: the hint then stays.
func TmuxForwards() bool {
	socket, _, _ := strings.Cut(os.Getenv("TMUX"), ",")
	if socket == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	option := func(name string) string {
		out, err := exec.CommandContext(ctx, "tmux", "-S", socket, "show-options", "-gv", name).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if option("set-clipboard") == "on" {
		return true
	}
	p := option("allow-passthrough")
	return p == "on" || p == "all"
}

// Passthrough returns the OSC 52 sequence wrapped for the multiplexer
// pgmedic runs in, to be written raw; "" outside tmux and screen. tmux
// forwards it with `set -g allow-passthrough on`; with
// `set -g set-clipboard on` it also takes the plain sequence itself.
func (e Env) Passthrough(text string) string {
	seq := ansi.SetSystemClipboard(text)
	switch {
	case e.Tmux:
		return ansi.TmuxPassthrough(seq)
	case e.Screen:
		return ansi.ScreenPassthrough(seq, 768)
	}
	return ""
}

// Local reports whether a desktop clipboard is reachable here: not over
// SSH (it would be the server's), and a clipboard tool must exist.
func (e Env) Local() bool { return !e.SSH && !clipboard.Unsupported }

// WriteLocal writes the desktop clipboard.
func WriteLocal(text string) error { return clipboard.WriteAll(text) }

// TmuxHint is the one line that makes OSC 52 arrive through tmux, for
// when its server does not forward it (Env.TmuxForwards).
const TmuxHint = "if it does not arrive, tmux needs: set -g set-clipboard on (and set -g allow-passthrough on)"
