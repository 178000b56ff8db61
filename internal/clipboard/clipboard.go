// Package clipboard delivers copied text to the clipboards pgmedic can
// reach: the terminal's own through OSC 52 (which crosses SSH), wrapped
// for tmux and GNU screen when running inside them, and a local desktop
// clipboard when there is one. None of them works everywhere, so all are
// used at once.
package clipboard

import (
	"os"

	"github.com/atotto/clipboard"
	"github.com/charmbracelet/x/ansi"
)

// Env is what decides the delivery: the environment variables that say
// where pgmedic runs.
type Env struct {
	Tmux   bool // $TMUX: inside tmux
	Screen bool // $STY: inside GNU screen
	SSH    bool // $SSH_CONNECTION or $SSH_TTY: a local clipboard is not the user's
}

// FromEnviron reads the process environment.
func FromEnviron() Env {
	return Env{
		Tmux:   os.Getenv("TMUX") != "",
		Screen: os.Getenv("STY") != "",
		SSH:    os.Getenv("SSH_CONNECTION") != "" || os.Getenv("SSH_TTY") != "",
	}
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

// TmuxHint is the one line that makes OSC 52 arrive through tmux.
const TmuxHint = "if it does not arrive, tmux needs: set -g set-clipboard on (and set -g allow-passthrough on)"
