package tui

import (
	"strings"

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

func ansiWidth(s string) int { return ansi.StringWidth(s) }

// fitCell pads or cuts s to exactly w cells.
func fitCell(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	pad := w - ansi.StringWidth(s)
	if right {
		return strings.Repeat(" ", pad) + s
	}
	return s + strings.Repeat(" ", pad)
}

// table renders rows of plain cells; the selected row gets a marker and
// the Selected style, so it reads without colour.
type table struct {
	all  []column
	cols []column
	// index maps each shown column back to its position in all, so cells
	// built for every column can be picked.
	index []int
	width int
}

func newTable(cols []column) *table { return &table{all: cols} }

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
}

func (t *table) header(st *Styles, sortCol int, desc bool) string {
	var b strings.Builder
	b.WriteString("  ")
	for i, c := range t.cols {
		title := c.title
		if t.index[i] == sortCol {
			if desc {
				title += "▼"
			} else {
				title += "▲"
			}
		}
		b.WriteString(st.Column.Render(fitCell(title, c.width, c.right)))
		b.WriteByte(' ')
	}
	return b.String()
}

// row renders one row; cells has one entry per column of all. style, when
// set, colours the row's state cell (column stateCol).
func (t *table) row(st *Styles, cells []string, selected bool, stateCol int, stateStyle *lipgloss.Style) string {
	var b strings.Builder
	if selected {
		b.WriteString("▶ ")
	} else {
		b.WriteString("  ")
	}
	for i, c := range t.cols {
		cell := fitCell(cells[t.index[i]], c.width, c.right)
		if !selected && stateStyle != nil && t.index[i] == stateCol {
			cell = stateStyle.Render(cell)
		}
		b.WriteString(cell)
		if i < len(t.cols)-1 {
			b.WriteByte(' ')
		}
	}
	line := b.String()
	if selected {
		return st.Selected.Render(fitCell(line, t.width, false))
	}
	return line
}

// window draws the list's visible rows. row returns a row's cells and its
// state word, which colours the stateCol cell.
func (t *table) window(b *strings.Builder, st *Styles, l *list, stateCol int, row func(i int) ([]string, string)) {
	start, end := l.window()
	for i := start; i < end; i++ {
		cells, word := row(i)
		b.WriteByte('\n')
		b.WriteString(t.row(st, cells, i == l.cursor, stateCol, stateStyle(st, word)))
	}
}
