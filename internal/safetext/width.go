package safetext

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Placeholder stands for a character whose drawn width terminals disagree
// on. Every layout in pgmedic counts cells with the same library lipgloss
// uses, and a row is exactly as wide as the screen: one character drawn
// wider than counted pushes the row past the edge, wraps it and cuts the
// dialog's border. A family emoji (four emoji joined by U+200D) counts as
// 2 cells, yet terminals draw 2, 8, or the pieces one by one; flags,
// skin tones and emoji chosen by a variation selector vary the same way.
// Over SSH we cannot ask the terminal, so such a character is replaced
// before it reaches the screen rather than measured.
//
// U+FFFD rather than "?": it cannot be mistaken for text the server sent
// (a ? is common in SQL), and it already marks invalid UTF-8 here. It is
// one cell under the same East Asian "ambiguous is narrow" rule that the
// screen's box-drawing borders rely on. The exact text stays available
// where width does not matter: the copy key and the JSON outputs.
const Placeholder = "\uFFFD"

// settle replaces, in text already escaped, each grapheme cluster whose
// width is not agreed on with Placeholder.
func settle(s string) string {
	if !mayCluster(s) {
		return s
	}
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); {
		if r, n := utf8.DecodeRuneInString(s[i:]); r < 0x300 {
			// No rule of segmentation joins two characters below
			// U+0300 (CR LF aside, and CR is escaped by now), and the
			// segmenter costs far more than this check.
			if next, _ := utf8.DecodeRuneInString(s[i+n:]); next < 0x300 || i+n == len(s) {
				i += n
				continue
			}
		}
		cluster, w := ansi.FirstGraphemeCluster(s[i:], ansi.GraphemeWidth)
		if len(cluster) == 0 {
			break
		}
		if !agreed(cluster, w) {
			if done == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[done:i])
			b.WriteString(Placeholder)
			done = i + len(cluster)
		}
		i += len(cluster)
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// mayCluster is the fast path: below U+0300 every character is a cluster
// of its own, one cell wide, and nothing there joins or modifies another.
func mayCluster(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xcc { // lead byte of U+0300 and everything above
			return true
		}
	}
	return false
}

// agreed reports whether terminals draw the cluster w cells wide, as the
// width library counts it. Plain CJK (two cells) and a letter with
// combining accents (one) are; what follows is not.
func agreed(cluster string, w int) bool {
	r, size := utf8.DecodeRuneInString(cluster)
	if size == len(cluster) {
		// A lone regional indicator is half a flag: some terminals draw
		// a letter in one cell, others a box in two.
		return !isRegionalIndicator(r)
	}
	sum := 0
	for _, r := range cluster {
		switch {
		case r == 0x200d, // zero width joiner: 👩‍👩‍👧‍👦 is one glyph or four
			r == 0xfe0e || r == 0xfe0f,   // text or emoji presentation: ❤ or ❤️
			r >= 0x1f3fb && r <= 0x1f3ff, // skin tone modifiers
			r == 0x20e3,                  // combining keycap: 1️⃣
			isRegionalIndicator(r):       // flags: 🇩🇪
			return false
		}
		sum += ansi.StringWidth(string(r))
	}
	// Otherwise a cluster drawn one character at a time must still count
	// the same, or terminals that do not join it (क्ष) overflow.
	return sum == w
}

func isRegionalIndicator(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }
