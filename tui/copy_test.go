package tui

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/internal/clipboard"
)

// copies runs a copy command and returns what reaches the terminal: the
// OSC 52 payload and any raw passthrough sequence.
func copies(t *testing.T, cmd tea.Cmd) (osc52 string, raw []string) {
	t.Helper()
	if cmd == nil {
		t.Fatal("no copy command")
	}
	first := cmd()
	batch, ok := first.(tea.BatchMsg)
	if !ok { // tea.Batch of one command is that command
		batch = tea.BatchMsg{func() tea.Msg { return first }}
	}
	for _, c := range batch {
		switch msg := c().(type) {
		case tea.RawMsg:
			seq := fmt.Sprint(msg.Msg)
			if p, ok := strings.CutPrefix(seq, "\x1b]52;c;"); ok && strings.HasSuffix(p, "\a") {
				text, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(p, "\a"))
				if err != nil {
					t.Fatalf("OSC 52 payload %q: %v", p, err)
				}
				osc52 = string(text)
				continue
			}
			raw = append(raw, seq)
		case nil:
		default:
			t.Fatalf("unexpected message %T from a copy", msg)
		}
	}
	return osc52, raw
}

func copyModel(t *testing.T, env clipboard.Env) *Model {
	t.Helper()
	s := fixture(3)
	for i := range s.Backends {
		if s.Backends[i].PID == 4101 {
			s.Backends[i].Query = "UPDATE users\n\tSET x = 1 /* \x1b]52;c;eA==\x07 */"
		}
	}
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}, Clipboard: env})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	return m
}

func TestCopyWhatIsShown(t *testing.T) {
	m := copyModel(t, clipboard.Env{SSH: true})
	osc, raw := copies(t, press(m, "2", "y"))
	if osc != "UPDATE users\n\tSET x = 1 /* ]52;c;eA== */" || len(raw) != 0 {
		t.Errorf("copied %q (raw %q), want the full query without control characters", osc, raw)
	}
	mustContain(t, screen(m), "copied the query of pid 4101")

	osc, _ = copies(t, press(m, "4", "y"))
	if osc != "CREATE UNIQUE INDEX accounts_email_uq ON public.accounts USING btree (email)" {
		t.Errorf("Indexes copies the definition, got %q", osc)
	}

	press(m, "1", "K")
	osc, _ = copies(t, press(m, "ctrl+y"))
	if !strings.HasPrefix(osc, "SELECT pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid = 4101 AND") || m.life.stage != confirming {
		t.Errorf("ctrl+y in the dialog copies its SQL and keeps the dialog open: %q, dialog %v", osc, m.life.stage == confirming)
	}
	press(m, "esc")

	osc, _ = copies(t, press(m, "ctrl+y"))
	for _, want := range []string{"### pgmedic incident summary", "**Root blockers**", "pid 4101", "**Invalid indexes**"} {
		if !strings.Contains(osc, want) {
			t.Errorf("the summary lacks %q:\n%s", want, osc)
		}
	}
}

func TestCopyThroughTmuxAndScreen(t *testing.T) {
	m := copyModel(t, clipboard.Env{Tmux: true, SSH: true})
	osc, raw := copies(t, press(m, "2", "y"))
	if osc == "" || len(raw) != 1 || !strings.HasPrefix(raw[0], "\x1bPtmux;") {
		t.Errorf("inside tmux: osc52 %q, raw %q; want both, the raw one wrapped for tmux", osc, raw)
	}
	mustContain(t, screen(m), "set -g set-clipboard on")
	// A tmux that forwards OSC 52 needs no advice.
	m = copyModel(t, clipboard.Env{Tmux: true, SSH: true, TmuxForwards: true})
	press(m, "2", "y")
	if frame := screen(m); !strings.Contains(frame, "copied the query") || strings.Contains(frame, "set-clipboard") {
		t.Errorf("a forwarding tmux is still given the hint:\n%s", frame)
	}
	m = copyModel(t, clipboard.Env{Screen: true, SSH: true})
	if _, raw := copies(t, press(m, "2", "y")); len(raw) != 1 || !strings.HasPrefix(raw[0], "\x1bP") {
		t.Errorf("inside screen: raw %q", raw)
	}
}
