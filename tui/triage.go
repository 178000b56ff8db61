package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// finding is one line of the Triage view: what is wrong, and the key
// that deals with it.
type finding struct {
	key    string
	label  string // BLOCKING, DEADLOCK, POOL, INVALID, ...
	text   string // already sanitized
	hint   string // recommended key, e.g. "[K] terminate"
	target target
}

// idleInTxNotice is how long an idle transaction may sit before Triage
// mentions it even when it blocks nobody yet.
const idleInTxNotice = 30 * time.Second

// findings ranks what is wrong right now: deadlocks, root blockers by
// sessions held up, a filling pool, invalid indexes (unique ones that
// still reject duplicates first), builds in progress, and forgotten idle
// transactions. It is pure.
func findings(s *inspect.Snapshot, warn float64, keys *KeyMap) []finding {
	if s == nil {
		return nil
	}
	now := s.ServerTime
	var out []finding
	terminate := hint(keys.Terminate)
	f := &s.LockForest
	roots := make(map[int]bool)
	for _, pass := range []bool{true, false} { // cycles first
		for _, r := range f.Roots {
			n := &f.Nodes[r]
			if n.Cycle != pass {
				continue
			}
			roots[n.PID] = true
			out = append(out, rootFinding(s, n, now, keys, terminate))
		}
	}

	sat := &s.Saturation
	if sat.Percent >= warn {
		text := fmt.Sprintf("%.0f%% of usable slots in use (%d/%d, %d reserved)",
			sat.Percent, sat.Used, sat.Usable, s.Server.Reserved)
		if sat.Percent >= 100 {
			text += ": new connections of ordinary roles are refused"
		}
		if len(sat.ByApplication) > 0 {
			top := sat.ByApplication[0]
			text += fmt.Sprintf("; top: %s %d", orNone(clean(top.Key)), top.N)
		}
		out = append(out, finding{key: "pool", label: "POOL", text: text, hint: "[enter] details", target: target{pool: true}})
	}
	out = append(out, poolerFindings(s)...)

	// Unique indexes that still reject duplicates hurt the application
	// now; list them before the rest.
	for _, pass := range []bool{true, false} {
		for i := range s.Indexes {
			ix := &s.Indexes[i]
			if ix.RejectsDuplicates() != pass {
				continue
			}
			out = append(out, indexFinding(ix, keys, s.Server.InRecovery))
		}
	}
	for i := range s.Builds {
		b := &s.Builds[i]
		out = append(out, finding{key: "build:" + fmt.Sprint(b.PID), label: "BUILD", text: buildText(b), target: target{pid: b.PID}})
	}
	out = append(out, operationFindings(s)...)
	out = append(out, replicationFindings(s)...)

	var idle []finding
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Own || !b.IdleInTransaction() || roots[b.PID] || b.StateAge(now) < idleInTxNotice {
			continue
		}
		idle = append(idle, finding{
			key: pidKey(b.PID), label: "IDLE IN TX",
			text: fmt.Sprintf("pid %d idle in tx %s (open %s) · app %s · user %s: keeps its locks and snapshot",
				b.PID, human.Duration(b.StateAge(now)), human.Duration(b.XactAge(now)), orNone(clean(b.ApplicationName)), orNone(clean(b.User))),
			hint: terminate, target: target{pid: b.PID},
		})
	}
	return append(out, idle...)
}

// rootFinding leads with what a responder must tell apart at once: the
// application, what its statement does, and how many it holds up on
// which relation; then the pid, its state and the longest wait.
func rootFinding(s *inspect.Snapshot, n *inspect.LockNode, now time.Time, keys *KeyMap, terminate string) finding {
	held := fmt.Sprintf("holds up %d%s", n.BlockedTotal, heldOn(s, n))
	longest := "longest wait " + human.Duration(n.LongestWait)
	switch {
	case n.Backend < 0 && n.PID == 0:
		gid := n.PreparedGID
		if gid == "" {
			gid = "(unknown gid)"
		}
		return finding{key: "prepared:" + gid, label: "PREPARED", target: target{gid: n.PreparedGID},
			text: fmt.Sprintf("2PC '%s' %s, %s: no backend to cancel; COMMIT/ROLLBACK PREPARED in its database", clean(gid), held, longest)}
	case n.Backend < 0:
		return finding{key: pidKey(n.PID), label: "BLOCKING", text: fmt.Sprintf("pid %d (exited since) %s, %s", n.PID, held, longest)}
	}
	b := &s.Backends[n.Backend]
	label, hintText := "BLOCKING", terminate
	if n.Cycle {
		label = "DEADLOCK"
	}
	what := clean(b.State)
	switch {
	case b.IdleInTransaction():
		what = fmt.Sprintf("idle in tx %s", human.Duration(b.StateAge(now)))
	case b.State == "active":
		what = fmt.Sprintf("active %s", human.Duration(b.QueryAge(now)))
		hintText = hint(keys.Cancel) + " " + terminate
	case b.State == "idle":
		what = "idle (holds a session-level lock)"
	}
	who := orNone(clean(b.ApplicationName))
	if g := gist(b.Query); g != "" {
		// "ALTER TABLE users · holds up 26" says the relation once.
		if on, ok := strings.CutPrefix(heldOn(s, n), " on "); ok && strings.HasSuffix(g, " "+on) {
			held = fmt.Sprintf("holds up %d", n.BlockedTotal)
		}
		if b.State != "active" {
			g = "last " + g
		}
		who += ": " + g
	}
	text := fmt.Sprintf("%s · %s · pid %d %s · %s · user %s", who, held, n.PID, what, longest, orNone(clean(b.User)))
	if n.Cycle {
		text += " · wait cycle: the server aborts one side after deadlock_timeout"
	}
	return finding{key: pidKey(n.PID), label: label, text: text, hint: hintText, target: target{pid: n.PID}}
}

// heldOn names what the sessions waiting directly on n wait for: the
// relation most of them want (" on users"), or " on its row locks" when
// they wait for its transaction to end.
func heldOn(s *inspect.Snapshot, n *inspect.LockNode) string {
	count := map[string]int{}
	best := ""
	for _, ch := range n.Children {
		c := &s.LockForest.Nodes[ch]
		if c.Backend < 0 || c.Queued {
			continue
		}
		w := s.Backends[c.Backend].Waiting
		if w == nil {
			continue
		}
		on := " on " + clean(w.Relation)
		switch {
		case w.LockType == "transactionid":
			on = " on its row locks"
		case w.LockType == "virtualxid":
			on = " until its transaction ends"
		case w.Relation == "":
			on = " on a " + clean(w.LockType) + " lock"
		}
		count[on]++
		if best == "" || count[on] > count[best] {
			best = on
		}
	}
	return best
}

// indexFinding offers no key on a standby: the fix is DDL, which only the
// primary runs (D and R there say so when pressed).
func indexFinding(ix *inspect.Index, keys *KeyMap, standby bool) finding {
	label := "INVALID"
	h := hint(keys.DropIndex) + " " + hint(keys.RebuildIndex)
	switch ix.Status {
	case inspect.IndexBuilding:
		label, h = "BUILDING", ""
	case inspect.IndexReindexNew, inspect.IndexReindexOld:
		label, h = "LEFTOVER", hint(keys.DropIndex)
	}
	if standby && h != "" {
		h = "on the primary"
	}
	text := clean(ix.QualifiedName()) + " " + kindText(ix.Status)
	if ix.RejectsDuplicates() {
		text += ", UNIQUE: still rejects duplicates"
	}
	text += " · on " + clean(ix.QualifiedTable())
	if ix.Database != "" {
		text += " · db " + clean(ix.Database)
	}
	return finding{key: indexKey(ix), label: label, text: text, hint: h, target: target{index: ix}}
}

func buildText(b *inspect.IndexBuild) string {
	name := b.Index
	if name == "" {
		name = "(new index)"
	}
	text := fmt.Sprintf("pid %d building %s on %s:", b.PID, clean(name), clean(b.Table))
	if b.Step > 0 {
		text += fmt.Sprintf(" %d/%d", b.Step, b.Steps)
	}
	text += " " + clean(b.Phase)
	if b.Percent != nil {
		text += fmt.Sprintf(" %.0f%%", *b.Percent)
	}
	if b.ETASeconds != nil {
		text += " ETA " + human.Duration(time.Duration(*b.ETASeconds*float64(time.Second)))
	}
	if b.CurrentLockerPID != 0 {
		text += fmt.Sprintf(" · waiting for pid %d", b.CurrentLockerPID)
	}
	return text + " (" + clean(b.Command) + ")"
}

// hint is a binding as a short call to action: "[K] terminate".
func hint(b key.Binding) string { return "[" + b.Help().Key + "] " + strings.Fields(b.Help().Desc)[0] }

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// triage is the default view.
type triage struct {
	rows  []finding
	list  list
	table *table
	// notes are the snapshot's warnings, wrapped to the width: what
	// pgmedic cannot see qualifies every finding, so they stand above
	// them rather than in a row that truncates or scrolls away.
	notes    []string
	warnings []string
	// queue is the queue behind the selected blocker, drawn below the
	// findings: worked out when the snapshot, the size or the selection
	// changes, not on every frame.
	queue      []string
	queueTotal int // sessions behind that blocker, drawn or not
	w, h       int
}

// maxNoteShare caps the notes at a third of the view: the findings stay
// the point of it.
const maxNoteShare = 3

func newTriage() *triage {
	return &triage{table: newTable([]column{
		{title: "WHAT", width: 10, priority: 100},
		{title: "FINDING", min: 30, priority: 100, flex: true},
		{title: "KEY", width: 16, priority: 50},
	})}
}

func (t *triage) title() string { return "Triage" }

func (t *triage) refresh(c *common) {
	t.rows = findings(c.snap, c.opts.WarnPercent, &c.keys)
	if (c.forecastOK || c.queueGrowing) && c.snap != nil {
		// Before the pool's own line and the indexes: it says what will
		// stop the application next, after who blocks it now.
		at := 0
		for at < len(t.rows) && (t.rows[at].label == "BLOCKING" || t.rows[at].label == "DEADLOCK" || t.rows[at].label == "PREPARED") {
			at++
		}
		sat := &c.snap.Saturation
		f := finding{key: "forecast", label: "FILLING", target: target{pool: true}, hint: "[enter] details",
			text: fmt.Sprintf("%s: %d of %d usable slots in use, growing steadily for minutes", forecastText(c.forecast), sat.Used, sat.Usable)}
		if !c.forecastOK {
			// The pool is not filling yet, but the sessions queued on
			// locks are, and each one holds a slot.
			f.text = fmt.Sprintf("lock queue growing +%.0f/min: %d sessions waiting on locks, each holding a slot; %d of %d usable slots in use",
				c.queueRate, sat.WaitingOnLock, sat.Used, sat.Usable)
		}
		t.rows = slices.Insert(t.rows, at, f)
	}
	if c.poolerForecastOK && c.snap != nil && c.snap.Pooler != nil {
		samples := c.history.Samples()
		last := samples[len(samples)-1]
		db, _, _ := strings.Cut(last.PoolerPool, "/")
		f := finding{key: "forecast:pgbouncer", label: "FILLING", target: target{poolDB: db},
			text: fmt.Sprintf("PgBouncer pool %s: every server connection busy %s (+%.0f/min); %d of %d in use, growing steadily for minutes",
				clean(last.PoolerPool), whenText(c.poolerForecast), c.poolerForecast.PerMinute, last.PoolerBusy, last.PoolerCapacity)}
		at := 0
		for at < len(t.rows) && (t.rows[at].label == "BLOCKING" || t.rows[at].label == "DEADLOCK" || t.rows[at].label == "PREPARED") {
			at++
		}
		t.rows = slices.Insert(t.rows, at, f)
	}
	keys := make([]string, len(t.rows))
	for i := range t.rows {
		keys[i] = t.rows[i].key
	}
	t.list.setKeys(keys)
	t.table.forget()
	t.fitKeyColumn()
	var warnings []string
	if c.snap != nil {
		warnings = c.snap.Warnings
	}
	if !slices.Equal(warnings, t.warnings) {
		t.warnings = warnings
		t.layout()
	}
	t.queue, t.queueTotal = t.queueLines(c)
}

func (t *triage) setSize(w, h int) {
	t.w, t.h = w, h
	t.table.setWidth(w)
	t.fitKeyColumn()
	t.layout()
}

// layout wraps the warnings to the width, and gives the list what is
// left of the height.
func (t *triage) layout() {
	t.notes = t.notes[:0]
	wrap := lipgloss.NewStyle().Width(max(20, t.w-2))
	for _, w := range t.warnings {
		for i, line := range strings.Split(wrap.Render(clean(w)), "\n") {
			lead := "  "
			if i == 0 {
				lead = noteMark + " "
			}
			t.notes = append(t.notes, lead+strings.TrimRight(line, " "))
		}
	}
	if limit := max(1, t.h/maxNoteShare); len(t.notes) > limit {
		last, _ := cut(t.notes[limit-1], max(1, t.w-2))
		t.notes = append(t.notes[:limit-1], last+" …")
	}
	t.list.setHeight(t.h - 2 - len(t.notes))
}

// noteMark begins each warning: the word is in the text, the colour only
// repeats it.
const noteMark = "⚠"

func (t *triage) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	moved := moveList(&t.list, &c.keys, msg)
	if moved {
		t.queue, t.queueTotal = t.queueLines(c)
	}
	return moved, nil
}

func (t *triage) commands(c *common) []command { return moveCommands(&c.keys) }

func (t *triage) selected() target {
	if t.list.cursor < len(t.rows) {
		return t.rows[t.list.cursor].target
	}
	return target{}
}

func (t *triage) view(c *common) string {
	st := &c.styles
	if c.err != nil {
		// The header has one line for the error; the advice (which slots
		// are reserved for whom, say) needs the whole paragraph.
		msg := lipgloss.NewStyle().Width(max(20, c.width-2)).Render("✖ " + clean(c.err.Error()))
		if c.snap == nil {
			return msg
		}
		return msg + "\n" + st.Stale.Render("STALE") + " what follows is the last data read:\n" + t.findingsView(c)
	}
	if c.snap == nil {
		return "\n  Waiting for the first snapshot…"
	}
	return t.findingsView(c)
}

func (t *triage) findingsView(c *common) string {
	st := &c.styles
	var b strings.Builder
	for _, n := range t.notes {
		if rest, ok := strings.CutPrefix(n, noteMark); ok {
			n = st.Warn.Render(noteMark) + rest
		}
		b.WriteString(n + "\n")
	}
	if len(t.rows) == 0 {
		sat := &c.snap.Saturation
		fmt.Fprintf(&b, "\n  %s no session is blocked, no index is invalid, no build is running,\n"+
			"  and the pool is at %.0f%% (%d of %d usable slots).", st.OK.Render("Nothing looks wrong:"), sat.Percent, sat.Used, sat.Usable)
		return b.String()
	}
	b.WriteString(t.table.header(c, -1, false))
	t.table.window(&b, c, &t.list, 0, func(i int) ([]string, string) {
		r := &t.rows[i]
		return []string{r.label, r.text, t.hintFor(r)}, labelStyleWord(r.label)
	})
	start, end := t.list.window()
	if room := t.h - len(t.notes) - 1 - (end - start) - 1; room > 2 && len(t.queue) > 0 {
		b.WriteString("\n\n" + c.paint(&c.styles.Title, fitCell(t.queue[0], t.w, false)))
		lines := t.queue[1:]
		if len(lines) > room-1 {
			shown := room - 2
			lines = append(lines[:shown:shown], fmt.Sprintf("  … and %d more", t.queueTotal-shown))
		}
		for _, l := range lines {
			b.WriteString("\n" + fitCell(l, t.w, false))
		}
	}
	return b.String()
}

// queueLines are who waits behind the selected blocker (or the first
// one), for the rows the findings leave: the tree the Locks view draws,
// one line a session, so the first screen shows what is stuck and on
// what: a heading, then up to maxQueueLines sessions, and how many wait
// in all. The view draws what fits.
func (t *triage) queueLines(c *common) ([]string, int) {
	s := c.snap
	if s == nil {
		return nil, 0
	}
	root := c.node(t.selected().pid)
	if root == nil || len(root.Children) == 0 {
		if len(s.LockForest.Roots) == 0 {
			return nil, 0
		}
		root = &s.LockForest.Nodes[s.LockForest.Roots[0]]
		if len(root.Children) == 0 {
			return nil, 0
		}
	}
	head := fmt.Sprintf("BEHIND PID %d: %d waiting", root.PID, root.BlockedTotal)
	if root.LongestWait > 0 {
		// The longest waiter has waited since the block began, at least.
		head += fmt.Sprintf(", since %s (%s)", s.ServerTime.Add(-root.LongestWait).Format("15:04:05"),
			human.Duration(root.LongestWait))
	}
	if root.Backend >= 0 {
		if h := c.queues[queueKey(&s.Backends[root.Backend])]; h != nil && len(h.Samples()) > 1 {
			head += ", queue " + queueSpark(h.Samples())
		}
	}
	lines := []string{head + " · 3 shows all"}
	var walk func(n *inspect.LockNode, indent string)
	walk = func(n *inspect.LockNode, indent string) {
		for _, ch := range n.Children {
			if len(lines) > maxQueueLines {
				return
			}
			cn := &s.LockForest.Nodes[ch]
			line := fmt.Sprintf("%s%d", indent, cn.PID)
			if cn.Backend >= 0 {
				bk := &s.Backends[cn.Backend]
				wait := lockText(bk.Waiting)
				if cn.Queued {
					wait = "queued for " + wait
				}
				line += fmt.Sprintf(" %s · %s %s", orNone(clean(bk.ApplicationName)), wait, human.Duration(cn.Wait))
				if g := gist(bk.Query); g != "" {
					line += " · " + g
				}
			}
			lines = append(lines, line)
			walk(cn, indent+"  ")
		}
	}
	walk(root, "  ")
	return lines, root.BlockedTotal
}

// queueSpark is how a blocker's queue grew over the last minutes, a
// column a minute, against its largest.
func queueSpark(samples []inspect.Sample) string {
	top := 1
	for _, s := range samples {
		top = max(top, s.Used)
	}
	return spark(samples, sparkMinutes, func(s inspect.Sample) float64 { return float64(s.Used) / float64(top) })
}

// maxQueueLines bounds the queue worked out for Triage: more than a tall
// terminal shows.
const maxQueueLines = 100

// hintFor is a finding's key hint as the width allows: in full from 120
// columns, else only the keys when there are several ("[C] [K]"); the
// footer spells out what they do for the selected row.
func (t *triage) hintFor(r *finding) string {
	if t.w >= 120 || strings.Count(r.hint, "[") < 2 {
		return r.hint
	}
	var keys []string
	for _, w := range strings.Fields(r.hint) {
		if strings.HasPrefix(w, "[") {
			keys = append(keys, w)
		}
	}
	return strings.Join(keys, " ")
}

// fitKeyColumn makes the KEY column as wide as its widest hint.
func (t *triage) fitKeyColumn() {
	widest := len("KEY")
	for i := range t.rows {
		widest = max(widest, ansiWidth(t.hintFor(&t.rows[i])))
	}
	if widest != t.table.all[2].width {
		t.table.all[2].width = widest
		t.table.setWidth(t.w)
	}
}

func labelStyleWord(label string) string {
	switch label {
	case "POOL", "INVALID", "PREPARED", "FILLING", "REWRITE", "STANDBY", "SLOT", "REPLAY", "PGBOUNCER", "WAL":
		return "BLOCKING"
	case "LEFTOVER", "BUILDING", "BUILD", "PROGRESS":
		return "IDLE IN TX"
	}
	return label
}

// moveList applies the movement keys to a list.
// moveCommands are the keys that move a list's cursor (moveList).
func moveCommands(k *KeyMap) []command {
	return []command{{key: k.Up}, {key: k.Down}, {key: k.Top}, {key: k.Bottom}, {key: k.PageUp}, {key: k.PageDown}}
}

func moveList(l *list, k *KeyMap, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, k.Up):
		l.move(-1)
	case key.Matches(msg, k.Down):
		l.move(1)
	case key.Matches(msg, k.Top):
		l.top()
	case key.Matches(msg, k.Bottom):
		l.bottom()
	case key.Matches(msg, k.PageUp):
		l.page(-1)
	case key.Matches(msg, k.PageDown):
		l.page(1)
	default:
		return false
	}
	return true
}
