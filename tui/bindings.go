package tui

import (
	"cmp"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/actions"
)

// A command is one thing a key does where it is bound: in a view, in an
// overlay (a question, the filter, the help, a detail window) or
// anywhere on the screen.
type command struct {
	key key.Binding
	// off says why the command does not apply now, or "" when it does;
	// nil when it always applies. A key whose command is off says why
	// when pressed, and the footer leaves it out.
	off func() string
	// elsewhere says why the command does nothing in this view: the key
	// is bound everywhere so that it can say so, but it belongs to other
	// views (and the README's table lists it only there).
	elsewhere string
	// refused says why what the key would do is refused, though the key
	// still does it (an action's dialog explains a refusal in full):
	// the footer leaves it out and the help gives the reason.
	refused func() string
	do      func(msg tea.KeyPressMsg) tea.Cmd
	// hint ranks the command in the footer, lower first; 0 keeps it out
	// (the tabs already show the view keys, for one).
	hint int
}

func (c *command) why() string {
	switch {
	case c.elsewhere != "":
		return c.elsewhere
	case c.off == nil:
		return ""
	}
	return c.off()
}

// whyNot is why the footer does not offer c, or "".
func (c *command) whyNot() string {
	if why := c.why(); why != "" || c.refused == nil {
		return why
	}
	return c.refused()
}

// A layer is one level of the key stack.
type layer struct {
	title string
	cmds  []command
	// rest takes a key none of cmds matched: an overlay that holds every
	// key (a question, the filter) sets it, and no layer below sees the
	// key. nil lets the key through.
	rest func(msg tea.KeyPressMsg) tea.Cmd
}

// Footer hints, in the order the footer shows them: what acts on the
// selected row first, the way out last.
const (
	hintAnswer = iota + 1
	hintPlay
	hintStep
	hintJump
	hintEvent
	hintCancel
	hintTerminate
	hintDrop
	hintRebuild
	hintPooler // and the three after it: PAUSE, RESUME, KILL, RECONNECT
	_
	_
	_
	hintDetails
	hintExplain
	hintFilter
	hintSort
	hintOrder
	hintGroup
	hintBack
	hintCopy
	hintPause
	hintHelp = 98
	hintQuit = 99
)

// layers is the key stack, topmost first. ctrl+c is above all of it
// (onKey).
func (m *Model) layers() []layer {
	switch {
	case m.life.stage == quitting:
		return []layer{{title: "Quitting", rest: func(tea.KeyPressMsg) tea.Cmd { return nil }}}
	case m.life.asking():
		return []layer{m.questionLayer()}
	case m.filtering:
		return []layer{m.filterLayer()}
	case m.showHelp:
		return []layer{m.helpLayer()}
	case m.eventList != nil:
		return []layer{m.eventsLayer()}
	case m.servers != nil:
		return []layer{m.serversLayer()}
	case m.detail != nil:
		return []layer{m.detailLayer()}
	case m.rp != nil:
		return []layer{m.viewLayer(m.active), m.replayLayer(), m.screenLayer()}
	}
	return []layer{m.viewLayer(m.active), m.screenLayer()}
}

// onKey finds the key's command in the stack, from the top, and runs it,
// or says why it does not apply now.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		// Quits at once only when nothing runs; else it asks, as q does.
		return m.apply(event{kind: evInterrupt})
	}
	for _, l := range m.layers() {
		for i := range l.cmds {
			c := &l.cmds[i]
			if !key.Matches(msg, c.key) {
				continue
			}
			if why := c.why(); why != "" {
				m.setFlash("%s: %s", c.key.Help().Key, why)
				return nil
			}
			return c.do(msg)
		}
		if l.rest != nil {
			return l.rest(msg)
		}
	}
	return nil
}

// bind is a binding with the help text the moment gives it.
func bind(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// questionLayer holds every key while a question is open: y answers yes,
// any other key no.
func (m *Model) questionLayer() layer {
	k := &m.c.keys
	yes, no := "run it", "no"
	refused := m.life.stage == confirming && !m.life.plan.Allowed()
	switch {
	case m.life.stage == stopAsked:
		yes = "stop it"
	case m.life.stage == quitAsked:
		yes = "quit anyway"
	case refused:
		no = "close"
	}
	answerNo := func(tea.KeyPressMsg) tea.Cmd { return m.apply(event{kind: evNo}) }
	l := layer{title: "In a question", rest: answerNo, cmds: []command{{key: bind(k.No, no), hint: hintBack, do: answerNo}}}
	if !refused { // a refusal has nothing to run: y closes it like any key
		l.cmds = append(l.cmds, command{key: bind(k.Yes, yes), hint: hintAnswer,
			do: func(tea.KeyPressMsg) tea.Cmd { return m.apply(event{kind: evYes, at: m.c.opts.Now()}) }})
	}
	if m.life.stage == confirming {
		// The one key that does not close the dialog.
		l.cmds = append(l.cmds, command{key: bind(k.CopySummary, "copy its SQL"), hint: hintCopy,
			do: func(tea.KeyPressMsg) tea.Cmd { return m.copyCmd(m.copyTarget()) }})
	}
	return l
}

func (m *Model) filterLayer() layer {
	k := &m.c.keys
	return layer{title: "While filtering", rest: m.onFilterInput, cmds: []command{
		{key: bind(k.Details, "keep the filter"), hint: hintAnswer, do: func(tea.KeyPressMsg) tea.Cmd {
			m.filtering = false
			m.input.Blur()
			return nil
		}},
		{key: bind(k.Back, "clear the filter"), hint: hintBack, do: func(tea.KeyPressMsg) tea.Cmd {
			m.filtering = false
			m.input.Blur()
			m.clearFilter()
			return nil
		}},
	}}
}

func (m *Model) helpLayer() layer {
	k := &m.c.keys
	closeHelp := func(tea.KeyPressMsg) tea.Cmd {
		m.showHelp = false
		return nil
	}
	return layer{title: "In the help", cmds: []command{
		{key: bind(k.Help, "close the help"), hint: hintHelp, do: closeHelp},
		{key: bind(k.Back, "close the help"), do: closeHelp},
		{key: bind(k.Quit, "close the help"), do: closeHelp},
	}, rest: func(msg tea.KeyPressMsg) tea.Cmd {
		m.setFlash("%s: the help is open; ? or esc closes it", msg.String())
		return nil
	}}
}

func (m *Model) detailLayer() layer {
	k := &m.c.keys
	closeDetail := func(tea.KeyPressMsg) tea.Cmd {
		m.detail = nil
		return nil
	}
	return layer{title: "In a detail window", rest: func(msg tea.KeyPressMsg) tea.Cmd { return m.detail.update(msg) },
		cmds: []command{
			{key: bind(k.Back, "close"), hint: hintBack, do: closeDetail},
			{key: bind(k.Details, "close"), do: closeDetail},
			{key: k.Explain, hint: hintExplain, off: m.explainOff, do: m.explain},
			m.copyCommand(hintCopy),
			{key: bind(k.Down, "scroll"), do: m.detailScroll},
			{key: bind(k.Up, "scroll"), do: m.detailScroll},
			{key: k.Quit, hint: hintQuit, do: m.quit},
		}}
}

func (m *Model) detailScroll(msg tea.KeyPressMsg) tea.Cmd { return m.detail.update(msg) }

// viewLayer is what the keys do in view i: the view's own keys (moving,
// sorting) and those that act on its selected row.
func (m *Model) viewLayer(i int) layer {
	k := &m.c.keys
	p := m.panes[i]
	l := layer{title: p.title()}
	byPane := func(msg tea.KeyPressMsg) tea.Cmd {
		_, cmd := p.update(&m.c, msg)
		return cmd
	}
	for _, c := range p.commands(&m.c) {
		if c.do == nil {
			c.do = byPane
		}
		l.cmds = append(l.cmds, c)
	}
	filter := command{key: k.Filter, hint: hintFilter, do: m.startFilter}
	switch i {
	case 0:
		filter.elsewhere = "Triage lists findings: filter in Connections (2), Locks (3) or Indexes (4)"
	case 4:
		filter.elsewhere = "the log is not filtered: filter in Connections (2), Locks (3) or Indexes (4)"
	case 5:
		filter.elsewhere = "the progress list is not filtered: filter in Connections (2), Locks (3) or Indexes (4)"
	case poolerView:
		filter.elsewhere = "the pools are not filtered: filter in Connections (2), Locks (3) or Indexes (4)"
	case replicationView:
		filter.elsewhere = "the standbys are not filtered: filter in Connections (2), Locks (3) or Indexes (4)"
	}
	l.cmds = append(l.cmds,
		command{key: k.Details, hint: hintDetails, off: m.detailsOff, do: m.openDetails},
		filter,
		m.actionCommand(i, k.Cancel, actions.Cancel, hintCancel),
		m.actionCommand(i, k.Terminate, actions.Terminate, hintTerminate),
		m.actionCommand(i, k.DropIndex, actions.DropIndex, hintDrop),
		m.actionCommand(i, k.RebuildIndex, actions.Rebuild, hintRebuild),
		m.actionCommand(i, k.PoolerPause, actions.PoolerPause, hintPooler),
		m.actionCommand(i, k.PoolerResume, actions.PoolerResume, hintPooler+1),
		m.actionCommand(i, k.PoolerKill, actions.PoolerKill, hintPooler+2),
		m.actionCommand(i, k.PoolerReconnect, actions.PoolerReconnect, hintPooler+3),
	)
	return l
}

// nextTab is the view step views on from the active one (n-1 is one
// back), past those without a tab.
func (m *Model) nextTab(step int) int {
	n := len(m.panes)
	i := (m.active + step) % n
	for !m.tabShown(i) {
		i = (i + step) % n
	}
	return i
}

// screenLayer is what the keys do in every view.
func (m *Model) screenLayer() layer {
	k := &m.c.keys
	view := func(i int) func(tea.KeyPressMsg) tea.Cmd {
		return func(tea.KeyPressMsg) tea.Cmd {
			m.active = i
			return nil
		}
	}
	n := len(m.panes)
	pause := "pause refresh"
	if m.paused {
		pause = "resume refresh"
	}
	cmds := []command{
		{key: k.Triage, do: view(0)},
		{key: k.Connections, do: view(1)},
		{key: k.Locks, do: view(2)},
		{key: k.Indexes, do: view(3)},
		{key: k.Log, do: view(4)},
		{key: k.Progress, do: view(5)},
		{key: k.Pooler, do: view(poolerView)},
		{key: k.Replication, do: view(replicationView)},
		{key: k.NextView, do: func(tea.KeyPressMsg) tea.Cmd { return view(m.nextTab(1))(tea.KeyPressMsg{}) }},
		{key: k.PrevView, do: func(tea.KeyPressMsg) tea.Cmd { return view(m.nextTab(n - 1))(tea.KeyPressMsg{}) }},
		{key: bind(k.Back, m.backWhat()), hint: hintBack, off: m.backOff, do: m.back},
		m.copyCommand(hintCopy),
		{key: k.CopySummary, off: m.summaryOff,
			do: func(tea.KeyPressMsg) tea.Cmd { return m.copyCmd(m.summary(), "the incident summary") }},
		{key: bind(k.Pause, pause), hint: hintPause, do: func(tea.KeyPressMsg) tea.Cmd { return m.togglePause() }},
		{key: k.Faster, do: func(tea.KeyPressMsg) tea.Cmd { return m.setInterval(m.interval / 2) }},
		{key: k.Slower, do: func(tea.KeyPressMsg) tea.Cmd { return m.setInterval(m.interval * 2) }},
		{key: k.Events, off: m.eventsOff, do: m.openEvents},
		{key: k.Servers, off: m.serversOff, do: m.openServers},
		{key: k.Help, hint: hintHelp, do: func(tea.KeyPressMsg) tea.Cmd {
			m.showHelp = true
			return nil
		}},
		{key: k.Quit, hint: hintQuit, do: m.quit},
		// Run handles ctrl+z, where the terminal is; listed for the help.
		{key: k.Suspend, do: func(tea.KeyPressMsg) tea.Cmd { return nil }},
	}
	if m.rp != nil {
		// A replay's space and +/- move in time (replayLayer).
		cmds = slices.DeleteFunc(cmds, func(c command) bool {
			return c.key.Help().Key == k.Pause.Help().Key || c.key.Help().Key == k.Faster.Help().Key ||
				c.key.Help().Key == k.Slower.Help().Key
		})
	}
	return layer{title: "In every view", cmds: cmds}
}

func (m *Model) quit(tea.KeyPressMsg) tea.Cmd {
	if m.life.busy() {
		return m.apply(event{kind: evQuit})
	}
	return tea.Quit
}

// backWhat, backOff and back: esc stops a running action (it asks
// first), or clears the filter.
func (m *Model) backWhat() string {
	if m.life.busy() {
		return "stop the action"
	}
	return "clear the filter"
}

func (m *Model) backOff() string {
	if m.life.busy() || m.c.filter != "" {
		return ""
	}
	return "no filter to clear and no action to stop"
}

func (m *Model) back(tea.KeyPressMsg) tea.Cmd {
	if m.life.busy() {
		return m.apply(event{kind: evStop})
	}
	m.clearFilter()
	return nil
}

func (m *Model) clearFilter() {
	if m.c.filter != "" {
		m.c.filter = ""
		m.refreshPanes()
	}
}

func (m *Model) startFilter(tea.KeyPressMsg) tea.Cmd {
	m.filtering = true
	m.input.SetValue(m.c.filter)
	m.input.CursorEnd()
	return m.input.Focus()
}

func (m *Model) onFilterInput(msg tea.KeyPressMsg) tea.Cmd {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	if v := m.input.Value(); v != m.c.filter {
		m.c.filter = v
		m.refreshPanes()
	}
	return cmd
}

func (m *Model) detailsOff() string {
	if m.c.snap == nil && m.active != 4 {
		return "no snapshot yet"
	}
	sel := m.panes[m.active].selected()
	switch {
	case sel.empty():
		return "nothing selected"
	case sel.poolDB != "" && sel.pid == 0:
		return "a pool has no details window: its server connections and waiting clients are under the pools (PgBouncer, 7)"
	}
	return ""
}

func (m *Model) openDetails(msg tea.KeyPressMsg) tea.Cmd {
	sel := m.panes[m.active].selected()
	if sel.more != 0 {
		_, cmd := m.panes[m.active].update(&m.c, msg)
		return cmd
	}
	d := newDetail(&m.c, sel)
	if d == nil {
		return nil
	}
	m.detail = d
	m.detail.setSize(m.c.width, m.bodyHeight())
	if sel.pid == 0 {
		return nil
	}
	cmd := m.readLocks(sel.pid)
	switch {
	case m.rp != nil:
		m.detail.setLocks(&m.c, nil, errReplayLocks)
	case cmd == nil:
		m.detail.setLocks(&m.c, nil, errNoLocks)
	}
	return cmd
}

func (m *Model) summaryOff() string {
	if m.c.snap == nil {
		return "no snapshot yet"
	}
	return ""
}

// actionCommand binds an action key. It applies only where the selected
// row is something the action can act on; the plan itself may still
// refuse (a standby, a pooler), and then the dialog says why.
func (m *Model) actionCommand(view int, b key.Binding, kind actions.Kind, hint int) command {
	elsewhere := ""
	switch {
	case (kind == actions.DropIndex || kind == actions.Rebuild) && view != 0 && view != 3:
		elsewhere = "select an index first (Triage or Indexes)"
	case (kind == actions.Cancel || kind == actions.Terminate) && view > 2:
		elsewhere = "select a session first (Triage, Connections or Locks)"
	case actions.IsPooler(kind) && view != poolerView && view != 0:
		elsewhere = "select a pool first (Triage or PgBouncer, 7)"
	}
	return command{key: b, hint: hint, elsewhere: elsewhere, off: func() string { return m.actionOff(kind) },
		refused: func() string { return m.actionRefused(kind) },
		do:      func(tea.KeyPressMsg) tea.Cmd { return m.onActionKey(kind) }}
}

// actionOff says why kind cannot act now, before any plan: checked in
// one place for the key, the footer and the help.
func (m *Model) actionOff(kind actions.Kind) string {
	switch {
	case m.rp != nil:
		return "a replay shows the past: actions act on a live server (run pgmedic without replay)"
	case m.c.opts.ReadOnly:
		return "read-only: started with --read-only"
	case m.c.opts.Executor == nil:
		return "actions are not available in this session"
	case m.c.snap == nil:
		return "no snapshot yet"
	case m.life.busy():
		return m.life.plan.Title + " is still running; one action at a time"
	}
	sel := m.panes[m.active].selected()
	if actions.IsPooler(kind) {
		if sel.poolDB == "" {
			return "select a pool first (Triage or PgBouncer, 7)"
		}
		return ""
	}
	if kind == actions.DropIndex || kind == actions.Rebuild {
		if sel.index == nil {
			return "select an index first (Triage or Indexes)"
		}
		return ""
	}
	if sel.pid == 0 && sel.gid == "" {
		return "select a session first (Triage, Connections or Locks)"
	}
	return ""
}

// actionRefused is the plan's own refusal for the selected row (an idle
// session has no query to cancel, a standby takes no DDL, ...): the key
// still opens the dialog, which says why in full and is audited, but the
// footer does not offer it.
func (m *Model) actionRefused(kind actions.Kind) string {
	if m.actionOff(kind) != "" {
		return ""
	}
	p, why := m.planFor(kind)
	if why != "" {
		return why
	}
	return p.Refusal
}

// footerCommands are the commands the footer offers now, in hint order.
func (m *Model) footerCommands() []command {
	var out []command
	seen := map[string]bool{}
	for _, l := range m.layers() {
		for _, c := range l.cmds {
			k := c.key.Help().Key
			if c.hint == 0 || seen[k] || c.whyNot() != "" {
				continue
			}
			seen[k] = true
			out = append(out, c)
		}
		if l.rest != nil {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b command) int { return cmp.Compare(a.hint, b.hint) })
	return out
}

// keysLine is the footer: what applies now, the most useful first, and
// always the way to the help and out, which are last and kept when the
// rest must be cut.
func (m *Model) keysLine() string {
	st := &m.c.styles
	var head, tail []string
	for _, c := range m.footerCommands() {
		s := m.c.paint(&st.Key, c.key.Help().Key) + " " + c.key.Help().Desc
		if c.hint >= hintHelp {
			tail = append(tail, s)
		} else {
			head = append(head, s)
		}
	}
	if m.life.asking() {
		other := "any other key: no"
		if m.life.stage == confirming && !m.life.plan.Allowed() {
			other = "any other key closes"
		}
		tail = append(tail, other)
	}
	const gap = "  "
	room := m.c.width - ansiWidth(strings.Join(tail, gap))
	var parts []string
	for _, s := range head {
		if ansiWidth(strings.Join(append(parts, s), gap))+len(gap) > room {
			break
		}
		parts = append(parts, s)
	}
	return fitCell(m.c.paint(&st.Footer, strings.Join(append(parts, tail...), gap)), m.c.width, false)
}

// helpGroup is one heading of the `?` help.
type helpGroup struct {
	title   string
	entries []helpEntry
}

// helpEntry is one key of the help; why is set when it does not apply now.
type helpEntry struct{ key, desc, why string }

// helpGroups are the help's columns: the keys of what is open and of the
// screen, each with the reason when it does not apply now.
func (m *Model) helpGroups() []helpGroup {
	var groups []helpGroup
	ls := []layer{m.viewLayer(m.active), m.screenLayer()}
	if m.rp != nil {
		ls = []layer{m.viewLayer(m.active), m.replayLayer(), m.screenLayer()}
	}
	for _, l := range ls {
		g := helpGroup{title: l.title}
		seen := map[string]bool{}
		for _, c := range l.cmds {
			h := c.key.Help()
			if seen[h.Key] {
				continue
			}
			seen[h.Key] = true
			// A reason can carry server words (a plan's refusal names the
			// index, a running action's title).
			g.entries = append(g.entries, helpEntry{key: h.Key, desc: h.Desc, why: clean(c.whyNot())})
		}
		groups = append(groups, g)
	}
	return groups
}

// keyTableLayers are the layers the README's key table lists: every
// view's, the screen's and each overlay's.
func (m *Model) keyTableLayers() []layer {
	var ls []layer
	for i := range m.panes {
		ls = append(ls, m.viewLayer(i))
	}
	ls = append(ls, m.screenLayer())
	m.detail = &detail{}
	ls = append(ls, m.detailLayer())
	m.detail = nil
	ls = append(ls, m.filterLayer())
	m.life.stage = confirming
	ls = append(ls, m.questionLayer())
	m.life.stage = idle
	m.eventList = &eventList{}
	ls = append(ls, m.eventsLayer())
	m.eventList = nil
	m.servers = &serverList{}
	ls = append(ls, m.serversLayer())
	m.servers = nil
	m.rp = &replayState{rec: noRecording{}, speed: 1}
	ls = append(ls, m.replayLayer())
	m.rp = nil
	return ls
}
