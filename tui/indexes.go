package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// maxBuildLines bounds the builds block above the index list.
const maxBuildLines = 4

const (
	icStatus = iota
	icIndex
	icTable
	icKind
	icSize
	icFlags
	icDef
)

var indexColumns = []column{
	{title: "STATUS", width: 8, priority: 100},
	{title: "INDEX", width: 26, priority: 100},
	{title: "TABLE", width: 18, priority: 70},
	{title: "WHAT HAPPENED", width: 20, priority: 90},
	{title: "SIZE", width: 9, priority: 60, right: true},
	{title: "FLAGS", width: 18, priority: 80},
	{title: "DEFINITION", min: 10, priority: 40, flex: true},
}

type indexRow struct {
	key   string
	ix    *inspect.Index
	cells []string
	word  string
}

type indexes struct {
	rows   []indexRow
	builds []string // one rendered line each, without the bar
	bars   []buildBar
	list   list
	table  *table
	w, h   int
}

type buildBar struct {
	percent *float64
	eta     *float64
}

func newIndexes() *indexes { return &indexes{table: newTable(indexColumns)} }

func (p *indexes) title() string { return "Indexes" }

func (p *indexes) refresh(c *common) {
	p.rows, p.builds, p.bars = p.rows[:0], p.builds[:0], p.bars[:0]
	if c.snap != nil {
		for i := range c.snap.Indexes {
			p.rows = append(p.rows, newIndexRow(&c.snap.Indexes[i]))
		}
		for i := range c.snap.Builds {
			b := &c.snap.Builds[i]
			p.builds = append(p.builds, buildLine(b, c.snap.ServerTime))
			p.bars = append(p.bars, buildBar{b.Percent, b.ETASeconds})
		}
	}
	keys := make([]string, len(p.rows))
	for i := range p.rows {
		keys[i] = p.rows[i].key
	}
	p.list.setKeys(keys)
	p.table.forget()
	p.setSize(p.w, p.h)
}

func newIndexRow(ix *inspect.Index) indexRow {
	word := "INVALID"
	switch ix.Status {
	case inspect.IndexBuilding:
		word = "BUILDING"
	case inspect.IndexReindexNew, inspect.IndexReindexOld:
		word = "LEFTOVER"
	}
	var flags []string
	if ix.Unique {
		flags = append(flags, "UNIQUE")
	}
	if ix.RejectsDuplicates() {
		flags = append(flags, "rejects dups")
	}
	if ix.Constraint != "" {
		flags = append(flags, "backs "+ix.ConstraintType)
	}
	if len(ix.ReferencedBy) > 0 {
		flags = append(flags, "FK target")
	}
	if ix.Partitioned {
		flags = append(flags, "partitioned")
	}
	size := "locked"
	if ix.SizeBytes != nil {
		size = human.Bytes(*ix.SizeBytes)
	}
	def := clean(ix.Definition)
	if def == "" {
		def = "(not read: the table is locked ACCESS EXCLUSIVE)"
	}
	name := ix.QualifiedName()
	cells := []string{word, clean(name), clean(ix.QualifiedTable()), kindText(ix.Status), size, strings.Join(flags, ", "), def}
	return indexRow{key: indexKey(ix), ix: ix, cells: cells, word: word}
}

// kindText is the short form of the classification, for a column.
func kindText(s inspect.IndexStatus) string {
	switch s {
	case inspect.IndexBuilding:
		return "still being built"
	case inspect.IndexFailedDuringBuild:
		return "failed during build"
	case inspect.IndexFailedAfterBuild:
		return "failed after build"
	case inspect.IndexReindexNew:
		return "REINDEX left _ccnew"
	case inspect.IndexReindexOld:
		return "REINDEX left _ccold"
	case inspect.IndexPartitionedIncomplete:
		return "partition missing"
	case inspect.IndexDropInterrupted:
		return "drop interrupted"
	}
	return string(s)
}

func buildLine(b *inspect.IndexBuild, now time.Time) string {
	name := b.Index
	if name == "" {
		name = "(new index)"
	}
	line := fmt.Sprintf("pid %d %s %s on %s: %s", b.PID, clean(b.Command), clean(name), clean(b.Table), clean(b.Phase))
	if b.Step > 0 {
		line += fmt.Sprintf(" (%d/%d)", b.Step, b.Steps)
	}
	if b.LockersTotal > 0 {
		line += fmt.Sprintf(", waited for %d of %d", b.LockersDone, b.LockersTotal)
	}
	if b.CurrentLockerPID != 0 {
		line += fmt.Sprintf(", waiting for pid %d", b.CurrentLockerPID)
	}
	if b.Started != nil {
		line += ", running " + human.Duration(now.Sub(*b.Started))
	}
	return line
}

// bar renders a phase's progress as text that reads without colour.
func (b buildBar) render(width int) string {
	if b.percent == nil {
		return "[" + strings.Repeat("·", width) + "] no counter in this phase"
	}
	filled := min(width, int(*b.percent*float64(width)/100+0.5))
	s := fmt.Sprintf("[%s%s] %5.1f%%", strings.Repeat("█", filled), strings.Repeat("░", width-filled), *b.percent)
	if b.eta != nil {
		s += " ETA " + human.Duration(time.Duration(*b.eta*float64(time.Second)))
	}
	return s
}

func (p *indexes) buildBlockLines() int {
	if len(p.builds) == 0 {
		return 0
	}
	return 1 + 2*min(len(p.builds), maxBuildLines) + 1
}

func (p *indexes) setSize(w, h int) {
	p.w, p.h = w, h
	p.table.setWidth(w)
	p.list.setHeight(h - 1 - p.buildBlockLines() - 1)
}

func (p *indexes) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *indexes) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *indexes) selected() target {
	if p.list.cursor < len(p.rows) {
		return target{index: p.rows[p.list.cursor].ix}
	}
	return target{}
}

func (p *indexes) view(c *common) string {
	if c.snap == nil {
		return "\n  Waiting for the first snapshot…"
	}
	var b strings.Builder
	b.WriteString(p.drawTop(c))
	if len(p.rows) == 0 {
		return b.String()
	}
	b.WriteString(p.table.header(c, -1, false))
	p.table.window(&b, c, &p.list, icStatus, func(i int) ([]string, string) {
		return p.rows[i].cells, labelStyleWord(p.rows[i].word)
	})
	return b.String()
}

// drawTop draws the builds in progress and the list's title.
func (p *indexes) drawTop(c *common) string {
	st := &c.styles
	var b strings.Builder
	if len(p.builds) > 0 {
		fmt.Fprintf(&b, "%s\n", st.Column.Render(fmt.Sprintf("BUILDS IN PROGRESS (%d)", len(p.builds))))
		for i, line := range p.builds {
			if i == maxBuildLines {
				break
			}
			fmt.Fprintf(&b, "  %s\n    %s\n", st.Info.Render("BUILDING")+" "+line, p.bars[i].render(30))
		}
		if len(p.builds) > maxBuildLines {
			fmt.Fprintf(&b, "  … and %d more builds\n", len(p.builds)-maxBuildLines)
		} else {
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "%s in %s\n", st.Column.Render(fmt.Sprintf("INVALID INDEXES (%d)", len(p.rows))), clean(strings.Join(c.snap.Databases, ", ")))
	if len(p.rows) == 0 {
		b.WriteString("  " + st.OK.Render("None:") + " every index is valid.")
	}
	return b.String()
}
