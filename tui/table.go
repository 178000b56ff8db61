package tui

import (
	"slices"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// column describes one table column. Columns are dropped, lowest priority
// first, until the rest fit; the flex column (query text, definition)
// takes whatever width is left, and is the first to shrink.
type column struct {
	title    string
	width    int  // preferred width
	min      int  // narrowest useful width (flex column only)
	priority int  // higher stays longer
	right    bool // right-aligned (numbers, ages)
	flex     bool
}

// fitColumns returns the columns that fit in width, in their original
// order, with the flex column sized to the remainder.
func fitColumns(cols []column, width int) []column {
	keep := make([]bool, len(cols))
	for i := range keep {
		keep[i] = true
	}
	need := func() int {
		n := 2 // selection marker
		for i, c := range cols {
			if keep[i] {
				w := c.width
				if c.flex {
					w = c.min
				}
				n += w + 1
			}
		}
		return n
	}
	for need() > width {
		drop := -1
		for i, c := range cols {
			if keep[i] && (drop < 0 || c.priority < cols[drop].priority) {
				drop = i
			}
		}
		if drop < 0 || cols[drop].priority >= 100 {
			break // the essential columns stay; cells will be cut
		}
		keep[drop] = false
	}
	out := make([]column, 0, len(cols))
	spare := width - need()
	for i, c := range cols {
		if !keep[i] {
			continue
		}
		if c.flex {
			c.width = c.min + max(spare, 0)
		}
		out = append(out, c)
	}
	return out
}

// ansiWidth is the number of cells s takes on screen. What pgmedic draws
// is mostly printable ASCII, some of it inside SGR sequences, with a few
// one-cell symbols (tree lines, bars, the ellipsis); those are counted
// byte by byte. Anything else goes to ansi.StringWidth: its grapheme
// segmentation of every character would cost more than drawing the frame.
func ansiWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f:
			n++
			i++
		case c == 0x1b && i+1 < len(s) && s[i+1] == '[':
			j := csiEnd(s, i+2)
			if j < 0 {
				return ansi.StringWidth(s)
			}
			i = j
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(s[i:])
			// A symbol stays one cell unless something that could join
			// it into a wider cluster (a variation selector, a combining
			// mark, a joiner) follows: only ASCII, an escape or another
			// known symbol may.
			if !narrowSymbol[r] || !standsAlone(s, i+size) {
				return ansi.StringWidth(s)
			}
			n++
			i += size
		default:
			return ansi.StringWidth(s)
		}
	}
	return n
}

// csiEnd returns the index after a CSI sequence whose parameters start at
// i, or -1 when it is not one.
func csiEnd(s string, i int) int {
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x40: // parameters and intermediates
		case c >= 0x40 && c < 0x7f: // the final byte
			return i + 1
		default:
			return -1
		}
	}
	return -1
}

func standsAlone(s string, i int) bool {
	if i >= len(s) || s[i] < 0x80 {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return narrowSymbol[r]
}

// narrowSymbol holds the symbols pgmedic draws itself, each checked
// against ansi.StringWidth once, so the fast count can never disagree
// with it.
var narrowSymbol = func() map[rune]bool {
	m := map[rune]bool{}
	for _, r := range "…▶▸▲▼·●⟳✖⏸█░├└│─" {
		if ansi.StringWidth(string(r)) == 1 {
			m[r] = true
		}
	}
	return m
}()

// isPlain reports whether s is printable ASCII only: one cell a byte.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

const blanks = "                                                                                                                                "

// writeSpaces writes n spaces.
func writeSpaces(b *strings.Builder, n int) {
	for n > len(blanks) {
		b.WriteString(blanks)
		n -= len(blanks)
	}
	if n > 0 {
		b.WriteString(blanks[:n])
	}
}

// fitCell pads or cuts s to exactly w cells.
func fitCell(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	s, n := cut(s, w)
	if n == w {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + w - n)
	writeCell(&b, s, n, w, right)
	return b.String()
}

// cut shortens s to at most w cells, ending in "…" when it was longer,
// and returns its width.
func cut(s string, w int) (string, int) {
	if w <= 0 {
		return "", 0
	}
	if isPlain(s) {
		if len(s) <= w {
			return s, len(s)
		}
		return s[:w-1] + "…", w // what ansi.Truncate does with ASCII
	}
	n := ansiWidth(s)
	if n > w {
		s = ansi.Truncate(s, w, "…")
		n = ansiWidth(s)
	}
	return s, n
}

// writeCell writes s, n cells wide, padded to w.
func writeCell(b *strings.Builder, s string, n, w int, right bool) {
	if right {
		writeSpaces(b, w-n)
	}
	b.WriteString(s)
	if !right {
		writeSpaces(b, w-n)
	}
}

// table renders rows of plain cells; the selected row gets a marker and
// the Selected style, so it reads without colour.
//
// A frame is drawn after every message, and most frames show the same
// rows as the last one, so each rendered row is kept until the pane
// rebuilds its rows (forget) or the width changes.
type table struct {
	all  []column
	cols []column
	// index maps each shown column back to its position in all, so cells
	// built for every column can be picked.
	index []int
	width int

	lines    []string // rendered rows by row number; "" is not rendered yet
	selected struct {
		row  int
		line string
	}
	head struct {
		sortCol int
		desc    bool
		line    string
	}
}

// newTable copies cols: a pane may widen a column of its own table (the
// Locks tree), and two models must not share that.
func newTable(cols []column) *table { return &table{all: slices.Clone(cols)} }

func (t *table) setWidth(w int) {
	t.width = w
	t.cols = fitColumns(t.all, w)
	t.index = t.index[:0]
	for _, c := range t.cols {
		for i, a := range t.all {
			if a.title == c.title {
				t.index = append(t.index, i)
				break
			}
		}
	}
	t.forget()
}

// shows reports whether column col (an index into the table's columns)
// is on screen at the current width.
func (t *table) shows(col int) bool { return slices.Contains(t.index, col) }

// forget drops the rendered rows: the pane's rows, their order or the
// styles changed.
func (t *table) forget() {
	clear(t.lines)
	t.lines = t.lines[:0]
	t.selected.line = ""
	t.head.line = ""
}

func (t *table) header(c *common, sortCol int, desc bool) string {
	if t.head.line != "" && t.head.sortCol == sortCol && t.head.desc == desc {
		return t.head.line
	}
	var b strings.Builder
	b.WriteString("  ")
	for i, col := range t.cols {
		title := col.title
		if t.index[i] == sortCol {
			if desc {
				title += "▼"
			} else {
				title += "▲"
			}
		}
		b.WriteString(c.paint(&c.styles.Column, fitCell(title, col.width, col.right)))
		b.WriteByte(' ')
	}
	t.head.sortCol, t.head.desc, t.head.line = sortCol, desc, b.String()
	return t.head.line
}

// row renders one row; cells has one entry per column of all. style, when
// set, colours the row's state cell (column stateCol).
func (t *table) row(c *common, cells []string, selected bool, stateCol int, stateStyle *lipgloss.Style) string {
	var b strings.Builder
	b.Grow(t.width + 16)
	if selected {
		b.WriteString("▶ ")
	} else {
		b.WriteString("  ")
	}
	n := 2
	for i, col := range t.cols {
		cell, w := cut(cells[t.index[i]], col.width)
		if !selected && stateStyle != nil && t.index[i] == stateCol {
			b.WriteString(c.paint(stateStyle, fitCell(cell, col.width, col.right)))
		} else {
			writeCell(&b, cell, w, col.width, col.right)
		}
		n += col.width
		if i < len(t.cols)-1 {
			b.WriteByte(' ')
			n++
		}
	}
	line := b.String()
	if selected {
		if n != t.width {
			line = fitCell(line, t.width, false)
		}
		return c.styles.Selected.Render(line)
	}
	return line
}

// window draws the list's visible rows. row returns a row's cells and its
// state word, which colours the stateCol cell; it is called only for rows
// not drawn before.
func (t *table) window(b *strings.Builder, c *common, l *list, stateCol int, row func(i int) ([]string, string)) {
	st := &c.styles
	start, end := l.window()
	b.Grow((end - start) * (t.width + 32))
	for i := start; i < end; i++ {
		b.WriteByte('\n')
		if i == l.cursor {
			if t.selected.line == "" || t.selected.row != i {
				cells, word := row(i)
				t.selected.row, t.selected.line = i, t.row(c, cells, true, stateCol, stateStyle(st, word))
			}
			b.WriteString(t.selected.line)
			continue
		}
		if i >= len(t.lines) {
			t.lines = append(t.lines, make([]string, i+1-len(t.lines))...)
		}
		if t.lines[i] == "" {
			cells, word := row(i)
			t.lines[i] = t.row(c, cells, false, stateCol, stateStyle(st, word))
		}
		b.WriteString(t.lines[i])
	}
}
