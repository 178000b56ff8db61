package clipboard

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPassthrough(t *testing.T) {
	text := "SELECT 1"
	b64 := base64.StdEncoding.EncodeToString([]byte(text))
	if got := (Env{}).Passthrough(text); got != "" {
		t.Errorf("outside a multiplexer: %q", got)
	}
	tmux := (Env{Tmux: true}).Passthrough(text)
	if !strings.HasPrefix(tmux, "\x1bPtmux;") || !strings.Contains(tmux, b64) {
		t.Errorf("tmux passthrough %q", tmux)
	}
	screen := (Env{Screen: true}).Passthrough(text)
	if !strings.HasPrefix(screen, "\x1bP") || !strings.Contains(screen, b64[:8]) {
		t.Errorf("screen passthrough %q", screen)
	}
	if (Env{SSH: true}).Local() {
		t.Error("over SSH the local clipboard is the server's, not the user's")
	}
}

// TmuxForwards asks the real tmux server named by $TMUX: a private one
// here, with each setting that lets OSC 52 through, and without.
func TestTmuxForwards(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI: ", err)
		}
		t.Skip("tmux is not installed")
	}
	socket := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("tmux", append([]string{"-S", socket, "-f", "/dev/null"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
	}
	tmux("new-session", "-d", "-x", "80", "-y", "24", "sleep 600")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", socket, "kill-server").Run() })
	t.Setenv("TMUX", socket+",1,0")
	tmux("set-option", "-g", "set-clipboard", "off")
	tmux("set-option", "-g", "allow-passthrough", "off")
	if TmuxForwards() {
		t.Error("with set-clipboard off and allow-passthrough off, tmux was said to forward OSC 52")
	}
	if e := FromEnviron(); !e.Tmux || e.TmuxForwards {
		t.Errorf("FromEnviron %+v; want inside tmux, not forwarding", e)
	}
	tmux("set-option", "-g", "allow-passthrough", "on")
	if !TmuxForwards() {
		t.Error("allow-passthrough on: tmux lets the wrapped sequence through")
	}
	tmux("set-option", "-g", "allow-passthrough", "off")
	tmux("set-option", "-g", "set-clipboard", "on")
	if !TmuxForwards() {
		t.Error("set-clipboard on: tmux takes OSC 52 from programs")
	}
	t.Setenv("TMUX", filepath.Join(t.TempDir(), "none")+",1,0")
	if TmuxForwards() {
		t.Error("a tmux server that does not answer was said to forward OSC 52")
	}
}
