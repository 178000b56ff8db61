package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/report"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// detail is the pane `enter` opens: everything about one backend, index
// or the pool, wrapped and scrollable. It follows its target across
// refreshes and says so when the target is gone.
type detail struct {
	sel  target
	vp   viewport.Model
	w    int
	text string // unwrapped; wrapped to the width on every resize

	// wrapped holds each line of text as last wrapped, at wrapWidth;
	// content is them all, as the viewport has it.
	wrapped   map[string]string
	wrapWidth int
	content   string
	lines     []string // content's lines

	locks    []inspect.Lock
	locksErr error
	locksSet bool

	// plan is the backend's statement's plan as lines, once x asked.
	plan []string
}

func (d *detail) setLocks(c *common, locks []inspect.Lock, err error) {
	d.locks, d.locksErr, d.locksSet = locks, err, true
	d.refresh(c)
}

// setPlan shows a plan, or that one is being made (nil, nil).
func (d *detail) setPlan(c *common, p *inspect.Plan, err error) {
	switch {
	case err != nil:
		d.plan = []string{"(not planned: " + clean(err.Error()) + ")"}
	case p == nil:
		d.plan = []string{"(planning…)"}
	default:
		d.plan = report.PlanLines(p)
	}
	d.refresh(c)
	// The plan is what was asked for: show it.
	d.vp.GotoBottom()
}

func newDetail(c *common, sel target) *detail {
	if sel.entry == nil && (c.snap == nil || (sel.pid == 0 && sel.index == nil && !sel.pool)) {
		return nil
	}
	d := &detail{sel: sel, vp: viewport.New()}
	d.refresh(c)
	return d
}

func (d *detail) setSize(w, h int) {
	d.w = w
	d.vp.SetWidth(w)
	d.vp.SetHeight(h)
	d.wrap()
}

// wrap fits the text to the width. lipgloss wraps and pads each line on
// its own, so wrapping line by line gives the same block, and the lines a
// refresh left as they were (most of them) are not wrapped again.
func (d *detail) wrap() {
	width := max(20, d.w-2)
	if d.w == 0 {
		width = MinWidth - 2
	}
	if width != d.wrapWidth {
		d.wrapped, d.wrapWidth = nil, width
	}
	style := lipgloss.NewStyle().Width(width)
	lines := strings.Split(d.text, "\n")
	wrapped := make(map[string]string, len(lines))
	for i, l := range lines {
		w, ok := d.wrapped[l]
		if !ok {
			w = style.Render(l)
		}
		wrapped[l], lines[i] = w, w
	}
	d.wrapped = wrapped
	// The locks, read again after each refresh, are mostly the same.
	if content := strings.Join(lines, "\n"); content != d.content {
		d.content, d.lines = content, strings.Split(content, "\n")
		d.vp.SetContent(content)
	}
}

// window is what the viewport's View draws of lines that are already
// wrapped and padded: the visible ones padded to its width, then blank
// lines to its height. The viewport gets there with lipgloss, measuring
// every grapheme of the window again after each refresh, though the lines
// were measured when they were wrapped; TestDetailWindowIsTheViewports
// holds the two together.
func (d *detail) window() string {
	w, h := d.vp.Width(), d.vp.Height()
	if w <= 0 || h <= 0 {
		return ""
	}
	y := min(d.vp.YOffset(), len(d.lines))
	shown := d.lines[y:min(y+h, len(d.lines))]
	var b strings.Builder
	b.Grow(h * (w + 1))
	for i := range h {
		if i > 0 {
			b.WriteByte('\n')
		}
		line := ""
		if i < len(shown) {
			line = shown[i]
		}
		b.WriteString(line)
		writeSpaces(&b, w-ansiWidth(line))
	}
	return b.String()
}

func (d *detail) update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	d.vp, cmd = d.vp.Update(msg)
	return cmd
}

// view is the viewport's window.
func (d *detail) view(*common) string { return d.window() }

func (d *detail) refresh(c *common) {
	var text string
	switch {
	case d.sel.entry != nil:
		text = entryDetail(d.sel.entry)
	case d.sel.pool:
		text = poolDetail(c.snap)
	case d.sel.index != nil:
		text = indexDetail(c.snap, d.sel.index)
	default:
		// The state history goes last: at 80x24 the query and the locks
		// are what a responder must see without scrolling.
		text = backendDetail(c, d.sel.pid) + d.locksText()
		if len(d.plan) > 0 {
			text += "\nPLAN (x plans it again)\n" + strings.Join(d.plan, "\n") + "\n"
		}
		if b := c.snap.Backend(d.sel.pid); b != nil {
			if h := c.states.text(b, c.snap.ServerTime); h != "" {
				text += "\n" + h
			}
		}
	}
	d.text = text
	d.wrap()
}

// entryDetail is a command-log entry in full: what ran, on what, how it
// ended, and every attempt.
func entryDetail(r *actions.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s at %s", clean(r.Plan.Title), strings.ToUpper(r.Outcome), r.Started.Format("2006-01-02 15:04:05"))
	if r.Duration > 0 {
		fmt.Fprintf(&b, ", after %s", human.Duration(r.Duration))
	}
	if r.Message != "" {
		b.WriteString("\n" + clean(r.Message))
	}
	if r.SQLState != "" {
		b.WriteString(" (SQLSTATE " + clean(r.SQLState) + ")")
	}
	if r.Plan.Refusal != "" {
		b.WriteString("\n\nRefused: " + clean(r.Plan.Refusal))
		if r.Plan.Alternative != "" {
			b.WriteString("\nInstead: " + clean(r.Plan.Alternative))
		}
	}
	b.WriteString("\n\nSQL:")
	for _, s := range r.Plan.Statements {
		b.WriteString("\n  " + clean(s.Display) + ";")
	}
	if len(r.Attempts) > 0 {
		b.WriteString("\n\nAttempts:")
		for _, a := range r.Attempts {
			b.WriteString("\n  " + clean(a))
		}
	}
	if r.BlockedBefore > 0 || r.BlockedAfter > 0 {
		fmt.Fprintf(&b, "\n\nSessions waiting on a lock: %d before, %d after", r.BlockedBefore, r.BlockedAfter)
	}
	if len(r.NewRoots) > 0 {
		fmt.Fprintf(&b, "\nNew root blockers after it: %v", r.NewRoots)
	}
	return b.String()
}

// locksText lists what the backend holds and waits for, as last read.
func (d *detail) locksText() string {
	switch {
	case !d.locksSet:
		return "\nLOCKS\n(reading…)\n"
	case d.locksErr != nil:
		return "\nLOCKS\n(not read: " + clean(d.locksErr.Error()) + ")\n"
	case len(d.locks) == 0:
		return "\nLOCKS\n(none)\n"
	}
	var b strings.Builder
	b.WriteString("\nLOCKS\n")
	for _, l := range d.locks {
		state := "holds  "
		if !l.Granted {
			state = "WAITS  "
		}
		fmt.Fprintf(&b, "%s %-24s %-13s %s\n", state, clean(l.Mode), clean(l.LockType), clean(l.Object))
	}
	if len(d.locks) == inspect.MaxLocksPerBackend {
		fmt.Fprintf(&b, "(only the first %d are shown)\n", inspect.MaxLocksPerBackend)
	}
	return b.String()
}

func backendDetail(c *common, pid int) string {
	s := c.snap
	b := s.Backend(pid)
	if b == nil {
		return fmt.Sprintf("Backend %d is gone: it was not in the last snapshot (esc to go back).", pid)
	}
	now := s.ServerTime
	var out strings.Builder
	n := c.node(pid)
	fmt.Fprintf(&out, "BACKEND %d  %s  (%s)\n\n", pid, stateWord(b, n), clean(b.BackendType))
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&out, "%-16s %s\n", name, value)
		}
	}
	field("user", clean(b.User))
	field("application", clean(b.ApplicationName))
	field("database", clean(b.Database))
	field("client", clean(b.ClientAddr))
	field("state", clean(b.State))
	if b.WaitEventType != "" {
		field("wait event", clean(b.WaitEventType)+":"+clean(b.WaitEvent))
	}
	stamp := func(name string, t *time.Time) {
		if t != nil {
			field(name, fmt.Sprintf("%s (%s ago)", t.Format("2006-01-02 15:04:05 MST"), human.Duration(now.Sub(*t))))
		}
	}
	stamp("connected", b.BackendStart)
	stamp("transaction", b.XactStart)
	stamp("query started", b.QueryStart)
	stamp("state since", b.StateChange)
	if b.LeaderPID != 0 && b.LeaderPID != b.PID {
		field("parallel leader", fmt.Sprint(b.LeaderPID))
	}
	if b.Waiting != nil {
		field("waits for", lockText(b.Waiting)+" for "+human.Duration(b.WaitAge(now)))
	}
	if len(b.BlockedBy) > 0 {
		blocked := pidList(b.BlockedBy)
		if len(b.QueuedBehind) > 0 {
			blocked += " (only queued ahead: " + pidList(b.QueuedBehind) + ")"
		}
		if b.BlockersTotal > len(b.BlockedBy) {
			blocked += fmt.Sprintf(" and %d more", b.BlockersTotal-len(b.BlockedBy))
		}
		field("blocked by", blocked)
	}
	if b.PreparedGID != "" {
		field("held by", "prepared transaction '"+clean(b.PreparedGID)+"'")
	}
	if n != nil && len(n.Children) > 0 {
		var kids []int
		for _, ch := range n.Children {
			kids = append(kids, s.LockForest.Nodes[ch].PID)
		}
		field("blocks", fmt.Sprintf("%d session(s) in all, directly: %s", n.BlockedTotal, pidList(kids)))
		field("longest wait", human.Duration(n.LongestWait))
	}
	out.WriteString(progressDetail(s, pid))
	fmt.Fprintf(&out, "\nQUERY\n%s\n", safetext.Text(b.Query))
	return out.String()
}

func indexDetail(s *inspect.Snapshot, sel *inspect.Index) string {
	var ix *inspect.Index
	for i := range s.Indexes {
		if s.Indexes[i].OID == sel.OID && s.Indexes[i].Database == sel.Database {
			ix = &s.Indexes[i]
		}
	}
	if ix == nil {
		return fmt.Sprintf("Index %s is no longer invalid or no longer exists: it was not in the last snapshot "+
			"(dropped or rebuilt by someone else?). esc to go back.", clean(sel.QualifiedName()))
	}
	var out strings.Builder
	fmt.Fprintf(&out, "INDEX %s on %s (database %s, oid %d)\n\n", clean(ix.QualifiedName()), clean(ix.QualifiedTable()), clean(ix.Database), ix.OID)
	fmt.Fprintf(&out, "%-16s %s: %s\n", "status", ix.Status, ix.Status.Describe())
	fmt.Fprintf(&out, "%-16s valid=%v ready=%v live=%v\n", "flags", ix.Valid, ix.Ready, ix.Live)
	if ix.Unique {
		line := "yes"
		if ix.RejectsDuplicates() {
			line += ": ready, so every insert and update still checks it and rejects duplicates, though no query uses it"
		}
		fmt.Fprintf(&out, "%-16s %s\n", "unique", line)
	}
	if ix.Constraint != "" {
		fmt.Fprintf(&out, "%-16s %s constraint %s\n", "backs", ix.ConstraintType, clean(inspect.QuoteIdent(ix.Constraint)))
	}
	if len(ix.ReferencedBy) > 0 {
		fmt.Fprintf(&out, "%-16s %s\n", "foreign keys", clean(strings.Join(ix.ReferencedBy, ", ")))
	}
	if ix.ParentIndex != "" {
		fmt.Fprintf(&out, "%-16s %s\n", "partition of", clean(ix.ParentIndex))
	}
	if ix.BuildPID != 0 {
		fmt.Fprintf(&out, "%-16s pid %d\n", "being built by", ix.BuildPID)
	}
	if ix.SizeBytes != nil {
		fmt.Fprintf(&out, "%-16s %s\n", "size", human.Bytes(*ix.SizeBytes))
	}
	def := safetext.Text(ix.Definition)
	if def == "" {
		def = "(not read: the table is locked ACCESS EXCLUSIVE, and reading it would wait behind that lock)"
	}
	fmt.Fprintf(&out, "\nDEFINITION\n%s\n", def)
	return out.String()
}

func poolDetail(s *inspect.Snapshot) string {
	sat := &s.Saturation
	var out strings.Builder
	fmt.Fprintf(&out, "POOL: %d of %d usable slots used (%.0f%%); max_connections %d, %d reserved "+
		"(superuser_reserved_connections %d, reserved_connections %d)\n\n",
		sat.Used, sat.Usable, sat.Percent, sat.Max, s.Server.Reserved, s.Server.SuperuserReserved, s.Server.RoleReserved)
	fmt.Fprintf(&out, "%d active, %d idle, %d idle in transaction, %d aborted, %d waiting on locks, %d other\n",
		sat.Active, sat.Idle, sat.IdleInTx, sat.IdleInTxAborted, sat.WaitingOnLock, sat.OtherStates)
	for _, g := range []struct {
		name   string
		counts []inspect.Count
	}{{"application", sat.ByApplication}, {"user", sat.ByUser}, {"database", sat.ByDatabase}, {"client", sat.ByClient}} {
		fmt.Fprintf(&out, "\nBY %s\n", strings.ToUpper(g.name))
		for _, c := range g.counts {
			fmt.Fprintf(&out, "%6d  %s\n", c.N, orNone(clean(c.Key)))
		}
	}
	return out.String()
}
