package clipboard

import (
	"encoding/base64"
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
