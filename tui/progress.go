package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// longOperation is how long an operation that blocks nobody may run
// before Triage mentions it.
const longOperation = 5 * time.Minute

const (
	pcPID = iota
	pcCommand
	pcTable
	pcPhase
	pcProgress
	pcRate
	pcLeft
	pcBlocks
	pcRunning
)

var progressColumns = []column{
	{title: "PID", width: 7, priority: 100, right: true},
	{title: "COMMAND", width: 13, priority: 100},
	{title: "TABLE", width: 16, priority: 90},
	{title: "PHASE", min: 18, priority: 80, flex: true}, // the rate and the run time give way first
	{title: "PROGRESS", width: 17, priority: 95},
	{title: "RATE", width: 14, priority: 60, right: true},
	{title: "LEFT", width: 12, priority: 85},
	{title: "BLOCKS", width: 6, priority: 82, right: true},
	{title: "RUNNING", width: 8, priority: 50, right: true},
}

// longOp is one long operation in words, whatever view it came from: an
// index build, another progress view, or a rewrite that has none.
type longOp struct {
	pid      int
	command  string
	table    string
	phase    string
	progress string
	rate     string
	left     string
	blocking int
	started  *time.Time
	// rewrite is set for a statement with no progress view.
	rewrite *inspect.Rewrite
}

// longOps lists the snapshot's long operations: builds, then the other
// progress views, then rewrites.
func longOps(s *inspect.Snapshot) []longOp {
	var out []longOp
	for i := range s.Builds {
		b := &s.Builds[i]
		name := b.Index
		if name == "" {
			name = "(new index)"
		}
		op := longOp{pid: b.PID, command: b.Command, table: b.Table, phase: stepText(b.Phase, b.Step, b.Steps) + " · " + name,
			progress: percentText(b.Percent, 0, ""), left: etaText(b.ETASeconds, nil, b.Percent != nil), started: b.Started}
		if b.CurrentLockerPID != 0 {
			op.left = fmt.Sprintf("waits for %d", b.CurrentLockerPID)
		}
		out = append(out, op)
	}
	for i := range s.Operations {
		o := &s.Operations[i]
		op := longOp{pid: o.PID, command: o.Kind, table: o.Table, phase: stepText(o.Phase, o.Step, o.Steps),
			progress: percentText(o.Percent, o.Done, o.Unit), rate: rateText(o.PerSecond, o.Unit),
			left: etaText(o.ETASeconds, o.PerSecond, o.Total > 0), blocking: o.Blocking, started: o.Started}
		if o.Detail != "" {
			op.phase += " · " + o.Detail
		}
		out = append(out, op)
	}
	for i := range s.Rewrites {
		r := &s.Rewrites[i]
		table := r.Table
		if table == "" {
			table = "(reading…)"
		}
		out = append(out, longOp{pid: r.PID, command: "ALTER TABLE", table: table, phase: r.Action + sizeText(r),
			progress: "not reported", left: "not known", blocking: r.Blocking, started: r.Started, rewrite: r})
		if strings.HasPrefix(r.Action, "refreshes") {
			out[len(out)-1].command = "REFRESH MATVIEW"
		}
	}
	for i := range out {
		op := &out[i]
		op.command, op.table, op.phase = clean(op.command), clean(op.table), clean(op.phase)
		if op.blocking == 0 { // a build's: the view has no count of its own
			op.blocking = s.LockForest.BlockedBehind(op.pid)
		}
	}
	return out
}

func stepText(phase string, step, steps int) string {
	if phase == "" {
		phase = "running"
	}
	if step > 0 {
		return fmt.Sprintf("%s (%d/%d)", phase, step, steps)
	}
	return phase
}

// percentText is a bar and a percentage, or how much was done when the
// total is not known, or "–" in a phase that counts nothing.
func percentText(pct *float64, done int64, unit string) string {
	switch {
	case pct != nil:
		filled := min(8, int(*pct*8/100+0.5))
		return fmt.Sprintf("%s%s %5.1f%%", strings.Repeat("█", filled), strings.Repeat("░", 8-filled), *pct)
	case unit == "bytes":
		return human.Bytes(done) + " so far"
	case unit != "":
		return fmt.Sprintf("%s %s", count(done), unit)
	}
	return "–"
}

func rateText(rate *float64, unit string) string {
	switch {
	case rate == nil || unit == "":
		return ""
	case unit == "bytes":
		return human.Bytes(int64(*rate)) + "/s"
	}
	return count(int64(math.Round(*rate))) + " " + unit + "/s"
}

// etaText is the time left in the phase at the recent rate: "stalled"
// when nothing moved in the rate's window.
func etaText(eta, rate *float64, hasTotal bool) string {
	switch {
	case eta != nil:
		return "~" + human.Duration(time.Duration(*eta*float64(time.Second))) + " left"
	case rate != nil && *rate == 0 && hasTotal:
		return "stalled"
	case hasTotal:
		return "measuring…"
	}
	return "–"
}

// count writes 1234567 as 1.2M.
func count(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func sizeText(r *inspect.Rewrite) string {
	var parts []string
	if r.SizeBytes != nil {
		parts = append(parts, "about "+human.Bytes(*r.SizeBytes))
	}
	if r.Rows != nil {
		parts = append(parts, count(*r.Rows)+" rows estimated")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// opFindingText is an operation's line in Triage.
func opFindingText(op *longOp, now time.Time) string {
	text := fmt.Sprintf("%s %s: %s", op.command, op.table, op.phase)
	if op.rewrite != nil {
		text = fmt.Sprintf("%s rewrites %s: %s; progress not reported, cancelling is safe", op.command, op.table, op.phase)
	} else if op.progress != "–" {
		text += " · " + op.progress
		if op.left != "–" && op.left != "" {
			text += " · " + op.left
		}
	}
	if op.blocking > 0 {
		text += fmt.Sprintf(" · blocks %d", op.blocking)
	}
	text += fmt.Sprintf(" · pid %d", op.pid)
	if op.started != nil {
		text += " running " + human.Duration(now.Sub(*op.started))
	}
	return text
}

// operationFindings are the long operations Triage lists: those that
// block anyone, rewrites, and the rest once they have run longOperation.
// Index builds have findings of their own.
func operationFindings(s *inspect.Snapshot) []finding {
	var out []finding
	for _, op := range longOps(s)[len(s.Builds):] {
		long := op.started != nil && s.ServerTime.Sub(*op.started) >= longOperation
		if op.blocking == 0 && op.rewrite == nil && !long {
			continue
		}
		label := "PROGRESS"
		if op.rewrite != nil {
			label = "REWRITE"
		}
		out = append(out, finding{key: fmt.Sprintf("op:%d", op.pid), label: label, text: opFindingText(&op, s.ServerTime),
			hint: "[enter] details", target: target{pid: op.pid}})
	}
	return out
}

type progressRow struct {
	pid   int
	cells []string
	word  string // BLOCKING when it blocks anyone
}

type progressPane struct {
	rows  []progressRow
	list  list
	table *table
	w, h  int
}

func newProgress() *progressPane { return &progressPane{table: newTable(progressColumns)} }

func (p *progressPane) title() string { return "Progress" }

func (p *progressPane) refresh(c *common) {
	p.rows = p.rows[:0]
	if c.snap != nil {
		for _, op := range longOps(c.snap) {
			running := ""
			if op.started != nil {
				running = human.Duration(c.snap.ServerTime.Sub(*op.started))
			}
			blocks := ""
			if op.blocking > 0 {
				blocks = fmt.Sprint(op.blocking)
			}
			word := ""
			if op.blocking > 0 {
				word = "BLOCKING"
			}
			p.rows = append(p.rows, progressRow{pid: op.pid, word: word, cells: []string{fmt.Sprint(op.pid), op.command,
				op.table, op.phase, op.progress, op.rate, op.left, blocks, running}})
		}
	}
	keys := make([]string, len(p.rows))
	for i := range p.rows {
		keys[i] = fmt.Sprintf("op:%d:%d", p.rows[i].pid, i)
	}
	p.list.setKeys(keys)
	p.table.forget()
	p.setSize(p.w, p.h)
}

func (p *progressPane) setSize(w, h int) {
	p.w, p.h = w, h
	p.table.setWidth(w)
	p.list.setHeight(h - 2)
}

func (p *progressPane) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *progressPane) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *progressPane) selected() target {
	if p.list.cursor < len(p.rows) {
		return target{pid: p.rows[p.list.cursor].pid}
	}
	return target{}
}

func (p *progressPane) view(c *common) string {
	if c.snap == nil {
		return "\n  Waiting for the first snapshot…"
	}
	st := &c.styles
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", st.Column.Render(fmt.Sprintf("LONG OPERATIONS (%d)", len(p.rows))))
	if len(p.rows) == 0 {
		b.WriteString("  " + st.OK.Render("None:") + " no index build, VACUUM, CLUSTER, ANALYZE, COPY, base backup or table rewrite is running.")
		return b.String()
	}
	b.WriteString(p.table.header(c, -1, false))
	p.table.window(&b, c, &p.list, pcCommand, func(i int) ([]string, string) {
		return p.rows[i].cells, p.rows[i].word
	})
	return b.String()
}

// progressDetail is the selected backend's operation in full, for the
// details pane: "" when it runs none.
func progressDetail(s *inspect.Snapshot, pid int) string {
	var out strings.Builder
	for _, op := range longOps(s) {
		if op.pid != pid {
			continue
		}
		if r := op.rewrite; r != nil {
			fmt.Fprintf(&out, "\nPROGRESS\n%s on %s\n%-16s %s\n", op.command, op.table, "what", clean(r.Action))
			if size := sizeText(r); size != "" {
				fmt.Fprintf(&out, "%-16s %s: the catalog's estimate, from the last VACUUM or ANALYZE\n", "size",
					strings.Trim(size, " ()"))
			}
			fmt.Fprintf(&out, "%s\n%s\n", clean(r.Meaning), clean(r.Unknown))
			continue
		}
		fmt.Fprintf(&out, "\nPROGRESS\n%s on %s\n%-16s %s\n", op.command, op.table, "phase", op.phase)
		fmt.Fprintf(&out, "%-16s %s\n", "done", op.progress)
		if op.rate != "" {
			fmt.Fprintf(&out, "%-16s %s over the last %s\n", "rate", op.rate, human.Duration(inspect.RateWindow))
		}
		fmt.Fprintf(&out, "%-16s %s\n", "left", op.left)
	}
	return out.String()
}
