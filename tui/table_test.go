package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// The fast width and cut must agree with ansi.StringWidth and
// ansi.Truncate on anything, not only on what pgmedic draws.
func TestWidthAndCutAgreeWithAnsi(t *testing.T) {
	pieces := []string{
		"", "a", "SELECT 1", " ", "\x1b[1;31m", "\x1b[m", "\x1b[?25l", "\x1b[", "\x1b]0;title\x07", "\x1b",
		"…", "▶ ", "├─", "│ ", "└─", "█░", "●", "⟳", "✖", "⏸", "▲", "▼", "·",
		"▶\ufe0f", "e\u0301", "日本語", "👍", "👨\u200d👩\u200d👧", "🇫🇷", "\t", "\n", "\u200b", "Ω", "\u0085",
	}
	var cases []string
	for _, a := range pieces {
		for _, b := range pieces {
			cases = append(cases, a+b, "x"+a+b+"y", a+"12345678901234567890"+b)
		}
	}
	for _, s := range cases {
		if got, want := ansiWidth(s), ansi.StringWidth(s); got != want {
			t.Errorf("ansiWidth(%q) = %d, ansi.StringWidth says %d", s, got, want)
		}
		for w := 1; w <= ansi.StringWidth(s)+1; w++ {
			got, n := cut(s, w)
			want := ansi.Truncate(s, w, "…")
			if got != want || n != ansi.StringWidth(want) {
				t.Errorf("cut(%q, %d) = %q, %d; ansi.Truncate says %q, %d", s, w, got, n, want, ansi.StringWidth(want))
			}
		}
	}
	if s, n := cut("anything", 0); s != "" || n != 0 {
		t.Errorf("cut to nothing: %q, %d", s, n)
	}
	if got := fitCell("ab", 5, true) + "|" + fitCell("ab", 5, false) + "|" + fitCell(strings.Repeat("x", 9), 5, false); got != "   ab|ab   |xxxx…" {
		t.Errorf("fitCell: %q", got)
	}
}
