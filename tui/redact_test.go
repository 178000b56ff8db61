package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgmedic/pgmedic/internal/redact"
)

// Presenter mode: --read-only --redact. No literal of the fixture reaches
// any view, and the header says both.
func TestRedactedScreens(t *testing.T) {
	s := fixture(3)
	literals := []string{"alice@example.com", "4111-1111", "'EUR'"}
	for i := range s.Backends {
		switch s.Backends[i].PID {
		case 4101:
			s.Backends[i].Query = "UPDATE users SET email = 'alice@example.com', card = '4111-1111' WHERE id = 42"
		case 4300:
			s.Backends[i].Query = "SELECT sum(total) FROM orders WHERE currency = 'EUR' AND id IN (7, 8, 9)"
		}
	}
	redact.New().Snapshot(s)
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, ReadOnly: true, Redacted: true})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	for _, keys := range [][]string{nil, {"2"}, {"3"}, {"1", "enter"}} {
		press(m, keys...)
		frame := screen(m)
		for _, lit := range literals {
			if strings.Contains(frame, lit) {
				t.Errorf("view %v shows the literal %q", keys, lit)
			}
		}
		mustContain(t, frame, "READ-ONLY", "REDACTED")
	}
	press(m, "esc", "2")
	mustContain(t, screen(m), "UPDATE users SET email = $1, card = $2 WHERE id = $3")
	golden.RequireEqual(t, screen(m))
}
