package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Emoji whose drawn width terminals disagree on: joined (ZWJ), skin-toned,
// flags, chosen by a variation selector, a keycap.
const disputed = "👩‍👩‍👧‍👦👩‍💻👍🏽🇩🇪❤️1️⃣"

// drawnWidth is the widest a terminal may draw line: as the layout counts
// it (grapheme clusters), or one character at a time, as terminals that
// join nothing do (a family emoji then takes eight cells, not two).
func drawnWidth(line string) int {
	return max(ansi.StringWidth(line), ansi.StringWidthWc(line))
}

func emojiSnapshot() *fakeSource {
	s := fixture(12)
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Own {
			continue
		}
		b.ApplicationName = disputed + " " + b.ApplicationName + " 名前"
		b.Query = "SELECT '" + disputed + "' AS family, 'café 名前' /* " + strings.Repeat(disputed, 5) + " */ FROM " + disputed
	}
	s.Saturation = inspectSaturation(s)
	s.LockForest = inspectForest(s)
	return &fakeSource{snap: s}
}

// Emoji in query text and application names must not push a row past the
// edge, in any view or in the dialog that names the session, however the
// terminal draws them.
func TestDisputedEmojiStayWithinTheTerminal(t *testing.T) {
	screens := append([]struct {
		name string
		keys []string
	}{{"terminate", []string{"K"}}}, views...)
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		for _, v := range screens {
			t.Run(fmt.Sprintf("%s_%dx%d", v.name, size[0], size[1]), func(t *testing.T) {
				src := emojiSnapshot()
				m := New(src, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				m.Update(snapshotMsg{gen: m.gen, snap: src.snap})
				press(m, v.keys...)
				frame := screen(m)
				lines := strings.Split(frame, "\n")
				if len(lines) > size[1] {
					t.Errorf("%d lines on a %d-line terminal", len(lines), size[1])
				}
				for i, l := range lines {
					if w := drawnWidth(l); w > size[0] {
						t.Errorf("line %d may be drawn %d wide on %d columns: %q", i, w, size[0], l)
					}
				}
				if v.name == "terminate" {
					mustContain(t, frame, "Terminate backend 4101", "[y] yes, run it")
					borderIntact(t, lines)
				}
				shows := map[string]bool{"terminate": true, "triage": true, "connections": true, "detail": true}
				if shows[v.name] && !strings.Contains(frame, "\uFFFD") {
					t.Errorf("no placeholder on screen:\n%s", frame)
				}
			})
		}
	}
}

// borderIntact fails unless the dialog's box is closed: every line from
// its top corner to its bottom one ends in the right border, in the same
// column however the terminal counts.
func borderIntact(t *testing.T, lines []string) {
	t.Helper()
	top := -1
	for i, l := range lines {
		if strings.Contains(l, "┌") {
			top = i
			break
		}
	}
	if top < 0 {
		t.Fatalf("no dialog on screen:\n%s", strings.Join(lines, "\n"))
	}
	right := drawnWidth(strings.TrimRight(lines[top], " "))
	for i := top; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " ")
		end := map[bool]string{true: "┘", false: "│"}[strings.Contains(l, "└")]
		if i == top {
			end = "┐"
		}
		if !strings.HasSuffix(l, end) || drawnWidth(l) != right || ansi.StringWidth(l) != ansi.StringWidthWc(l) {
			t.Errorf("the dialog's border is cut on line %d: %q", i, l)
		}
		if end == "┘" {
			return
		}
	}
	t.Error("the dialog has no bottom border")
}
