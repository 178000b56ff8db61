// Package tui is pgmedic's full-screen interface: Bubble Tea models and
// views only. It reads snapshots through the Source interface and never
// talks to the database itself.
package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/clipboard"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// Source delivers snapshots. The live one holds pgmedic's single
// connection and reconnects on its own; tests use plain values.
type Source interface {
	// Snapshot reads the server's state. It must return when ctx ends.
	Snapshot(ctx context.Context) (*inspect.Snapshot, error)
	// Target says where the source is connected, for the header.
	Target() string
}

// LockSource is what a Source may also offer: the locks one backend holds
// and waits for, read on demand while its detail pane is open.
type LockSource interface {
	Locks(ctx context.Context, pid int) ([]inspect.Lock, error)
}

// PlanSource is what a Source may also offer: the plan of one backend's
// statement, on demand from its detail pane (x).
type PlanSource interface {
	Explain(ctx context.Context, pid int) (*inspect.Plan, error)
}

// Options tune the model.
type Options struct {
	// Interval between refreshes; default 1s.
	Interval time.Duration
	// WarnPercent is the pool saturation at which the gauge turns to a
	// warning; default 75, well before the pool is full.
	WarnPercent float64
	// Now is the clock; tests set it.
	Now func() time.Time
	// FetchTimeout bounds one refresh; default 15s.
	FetchTimeout time.Duration
	// Executor runs actions; nil means none can run.
	Executor Executor
	// ReadOnly removes every action: for screen-shares, and for roles
	// that must not act.
	ReadOnly bool
	// Banner, when set, leads the header (the demo says what it is).
	Banner string
	// Clipboard says where pgmedic runs (tmux, screen, SSH), for copying.
	Clipboard clipboard.Env
	// Theme is dark, light or high-contrast; "" asks the terminal for its
	// background and picks dark or light.
	Theme string
	// Redacted says the source takes literals out of query text; the
	// header shows it, as it shows READ-ONLY.
	Redacted bool
	// StopWait bounds how long quitting waits for a cancelled action to
	// return; default 10s.
	StopWait time.Duration
	// Servers, when set, are the servers `c` lists and switches to;
	// ServerName is the one on screen.
	Servers    ServerList
	ServerName string
	// Notice, when set, is shown as the screen opens, for as long as an
	// action's result: why a switch to another server did not happen.
	Notice string
}

// MinWidth and MinHeight are the smallest usable terminal.
const (
	MinWidth  = 80
	MinHeight = 24
)

// MinInterval and MaxInterval bound the refresh interval, from the
// command line and from the + and - keys alike.
const (
	MinInterval = 250 * time.Millisecond
	MaxInterval = time.Minute
)

const (
	// maxBackoff is low: a server back from an outage is found within
	// seconds, not after a countdown on stale data.
	maxBackoff = 5 * time.Second
)

// common is the shared, read-mostly state every pane sees.
type common struct {
	width, height int
	styles        Styles
	keys          KeyMap
	opts          Options
	snap          *inspect.Snapshot
	filter        string
	look          int // counts theme changes: what was drawn in the old one is stale
	painted       map[paintKey]string
	paintedLook   int
	nodeByPID     map[int]int // lock-forest node of each pid in snap
	err           error       // the last refresh's failure, nil when live
	// history is the last HistorySpan of samples, from the first refresh;
	// forecast says when the pool fills at its recent growth (ok false:
	// it does not grow steadily).
	history    *inspect.History
	forecast   inspect.Forecast
	forecastOK bool
	// queueRate is how fast the sessions waiting on locks grow, a
	// minute, when they grow steadily (queueGrowing).
	queueRate    float64
	queueGrowing bool
	// poolerForecast is the same early warning for the tightest
	// PgBouncer pool's server connections.
	poolerForecast   inspect.Forecast
	poolerForecastOK bool
	// states are the sessions' state changes, for the details pane.
	states states
	// queues keep, for each root blocker seen in the last HistorySpan
	// (by pid and start time: a reused pid is another session), how many
	// sessions it held up, for how its queue grew.
	queues map[string]*inspect.History
}

// traceQueues adds the snapshot's root blockers to their queues'
// histories, and forgets a blocker not seen for HistorySpan.
func (c *common) traceQueues() {
	s := c.snap
	if c.queues == nil {
		c.queues = map[string]*inspect.History{}
	}
	for _, r := range s.LockForest.Roots {
		n := &s.LockForest.Nodes[r]
		if n.Backend < 0 || n.BlockedTotal == 0 {
			continue
		}
		k := queueKey(&s.Backends[n.Backend])
		h := c.queues[k]
		if h == nil {
			h = inspect.NewHistory(HistorySpan)
			c.queues[k] = h
		}
		h.Add(inspect.Sample{At: s.ServerTime, Used: n.BlockedTotal})
	}
	for k, h := range c.queues {
		if ss := h.Samples(); len(ss) == 0 || s.ServerTime.Sub(ss[len(ss)-1].At) > HistorySpan {
			delete(c.queues, k)
		}
	}
}

// queueKey names a blocker's queue history: its pid and when its session
// started.
func queueKey(b *inspect.Backend) string {
	if b.BackendStart == nil {
		return pidKey(b.PID)
	}
	return pidKey(b.PID) + "@" + b.BackendStart.Format(time.RFC3339Nano)
}

// HistorySpan is how much of the past the screen keeps in memory.
const HistorySpan = 15 * time.Minute

// pane is one view (Triage, Connections, Locks, Indexes).
type pane interface {
	title() string
	// refresh rebuilds the rows from c.snap and c.filter; views only draw.
	refresh(c *common)
	setSize(w, h int)
	// update handles a key the root did not; handled reports whether it
	// was consumed.
	update(c *common, msg tea.KeyPressMsg) (handled bool, cmd tea.Cmd)
	view(c *common) string
	// selected is what `enter` and the action keys apply to.
	selected() target
	// commands are the view's own keys, handled by update unless they
	// say otherwise.
	commands(c *common) []command
}

// target is the thing a row stands for.
type target struct {
	pid   int
	index *inspect.Index
	pool  bool
	more  int    // a "+N more" row: the parent pid to expand
	gid   string // a prepared transaction holding a lock
	// poolDB is a PgBouncer database, for the pooler's actions.
	poolDB string
	entry  *actions.Result
}

// empty reports whether the row stands for nothing to act on or look at.
func (t target) empty() bool {
	return t.pid == 0 && t.index == nil && !t.pool && t.more == 0 && t.gid == "" && t.entry == nil && t.poolDB == ""
}

// Messages. Each fetch and tick carries the generation it belongs to:
// pausing or changing the interval starts a new one, and anything from an
// older generation is dropped.
type (
	snapshotMsg struct {
		gen  int
		snap *inspect.Snapshot
		err  error
	}
	refreshMsg struct{ gen int }
	clockMsg   struct{}
	locksMsg   struct {
		pid   int
		locks []inspect.Lock
		err   error
	}
	planMsg struct {
		pid  int
		plan *inspect.Plan
		err  error
	}
)

// Model is the root model.
type Model struct {
	c      common
	src    Source
	panes  []pane
	stale  []bool // panes that missed a refresh while not on screen
	active int

	gen          int
	inFlight     bool
	fetchStarted time.Time
	paused       bool
	interval     time.Duration

	lastOK   time.Time // when the shown snapshot arrived
	lastErr  error
	errSince time.Time
	failures int
	retryAt  time.Time

	flash      string
	flashUntil time.Time

	now   time.Time // the moment the screen shows: ages are counted to it
	clock clock

	filtering bool
	input     textinput.Model

	lines     lines
	frame     string // the last frame View returned
	frameSize int

	detail    *detail
	showHelp  bool
	eventList *eventList
	// servers is the server list, while open; switchTo the server chosen
	// there, for the caller once the program ends (SwitchTo).
	servers  *serverList
	switchTo string
	// rp is set in a replay (NewReplay).
	rp *replayState

	life         lifecycle
	cancelAction context.CancelFunc // the running action's
	log          []actions.Result
}

// New builds the model.
func New(src Source, opts Options) *Model {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.WarnPercent <= 0 {
		opts.WarnPercent = inspect.DefaultWarnPercent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 15 * time.Second
	}
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "user, application, database, client, state or query text"
	in.CharLimit = 200
	styles, err := StylesFor(opts.Theme)
	if err != nil {
		styles = DefaultStyles() // the flag is checked before; stay usable
	}
	m := &Model{
		c:        common{styles: styles, keys: DefaultKeyMap(), opts: opts, history: inspect.NewHistory(HistorySpan)},
		src:      src,
		interval: opts.Interval,
		input:    in,
	}
	m.panes = []pane{newTriage(), newConnections(), newLocks(), newIndexes(), &commandLog{log: &m.log}, newProgress(), newPooler(), newReplication()}
	m.stale = make([]bool, len(m.panes))
	return m
}

// SwitchTo is the server chosen in the server list, once the program
// has ended for it; "" when it ended otherwise.
func (m *Model) SwitchTo() string { return m.switchTo }

// Init starts the first refresh and the clock.
func (m *Model) Init() tea.Cmd {
	m.now = m.c.opts.Now()
	if m.c.opts.Notice != "" {
		m.setResult(m.c.opts.Notice)
	}
	cmds := []tea.Cmd{m.clock.wait()}
	if m.rp != nil {
		m.seek(0)
	} else {
		cmds = append(cmds, m.fetch())
	}
	if m.c.opts.Theme == "" {
		// Raw, not tea.RequestBackgroundColor: Bubble Tea would hold it
		// for its next tick (see Run). It still parses the reply.
		cmds = append(cmds, tea.Raw(ansi.RequestBackgroundColor))
	}
	m.clock.run(m.counting())
	return tea.Batch(cmds...)
}

// fetch starts one refresh. The caller guarantees none is in flight.
func (m *Model) fetch() tea.Cmd {
	m.inFlight = true
	m.fetchStarted = m.c.opts.Now()
	gen, src, timeout := m.gen, m.src, m.c.opts.FetchTimeout
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		snap, err := src.Snapshot(ctx)
		return snapshotMsg{gen: gen, snap: snap, err: err}
	}
}

var errNoLocks = errors.New("this source does not read locks")

// readLocks asks the source for one backend's locks, when it can.
func (m *Model) readLocks(pid int) tea.Cmd {
	ls, ok := m.src.(LockSource)
	if !ok {
		return nil
	}
	timeout := m.c.opts.FetchTimeout
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		locks, err := ls.Locks(ctx, pid)
		return locksMsg{pid: pid, locks: locks, err: err}
	}
}

// explainOff says why x cannot explain now, or "".
func (m *Model) explainOff() string {
	_, ok := m.src.(PlanSource)
	switch {
	case m.rp != nil:
		return "a replay shows the past: the statement is no longer there to plan"
	case m.detail == nil || m.detail.sel.pid == 0 || m.detail.sel.entry != nil:
		return "x explains a backend's statement: open a backend's details first"
	case !ok:
		return "this source cannot plan statements"
	}
	return ""
}

// explain asks the source for the plan of the open backend's statement.
func (m *Model) explain(tea.KeyPressMsg) tea.Cmd {
	ps := m.src.(PlanSource) // explainOff checked
	pid, timeout := m.detail.sel.pid, m.c.opts.FetchTimeout
	m.detail.setPlan(&m.c, nil, nil)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		plan, err := ps.Explain(ctx, pid)
		return planMsg{pid: pid, plan: plan, err: err}
	}
}

// schedule asks for the next refresh after d, in this generation.
func (m *Model) schedule(d time.Duration) tea.Cmd {
	gen := m.gen
	return tea.Tick(d, func(time.Time) tea.Msg { return refreshMsg{gen: gen} })
}

// backoff is the wait before retrying after n consecutive failures:
// 1s, 2s, then maxBackoff.
func backoff(n int) time.Duration {
	switch n {
	case 0, 1:
		return time.Second
	case 2:
		return 2 * time.Second
	}
	return maxBackoff
}

// Update handles every message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case snapshotMsg, tea.KeyPressMsg, tea.WindowSizeMsg, clockMsg, actionProgressMsg, actionDoneMsg, auditDoneMsg,
		giveUpMsg, shutdownMsg:
		// The screen shows these messages' moment. Others (a refresh
		// starting, locks read for the detail pane) leave the ages on it
		// as they were, so their frame is the last one and is not drawn.
		m.now = m.c.opts.Now()
	}
	cmd := m.update(msg)
	m.clock.run(m.counting())
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.width, m.c.height = msg.Width, msg.Height
		m.layout()
		return nil
	case snapshotMsg:
		return m.onSnapshot(msg)
	case replayTickMsg:
		return m.onReplayTick(msg)
	case refreshMsg:
		if msg.gen != m.gen || m.paused || m.inFlight {
			return nil // stale tick, paused, or a refresh still running
		}
		return m.fetch()
	case clockMsg:
		m.clock.rang()
		return m.clock.wait()
	case tea.BackgroundColorMsg:
		if m.c.opts.Theme == "" && !msg.IsDark() {
			m.c.styles = LightStyles()
			m.c.look++
			m.refreshPanes()
		}
		return nil
	case overviewMsg:
		return m.onOverview(msg)
	case overviewTickMsg:
		if m.servers != nil && m.servers.gen == msg.gen {
			return m.readOverview()
		}
		return nil
	case locksMsg:
		if m.detail != nil && m.detail.sel.pid == msg.pid {
			m.detail.setLocks(&m.c, msg.locks, msg.err)
		}
		return nil
	case planMsg:
		if m.detail != nil && m.detail.sel.pid == msg.pid {
			m.detail.setPlan(&m.c, msg.plan, msg.err)
		}
		return nil
	case tea.KeyPressMsg:
		cmd := m.onKey(msg)
		m.refreshPane(m.active) // a view key shows another pane
		return cmd
	case actionProgressMsg:
		m.apply(event{kind: evProgress, text: msg.text})
		return listen(msg.ch)
	case actionDoneMsg:
		return m.apply(event{kind: evDone, result: msg.result})
	case auditDoneMsg:
		m.record(msg.result)
		return nil
	case giveUpMsg:
		return m.apply(event{kind: evGiveUp})
	case shutdownMsg:
		return m.apply(event{kind: evShutdown, text: msg.why})
	}
	if m.detail != nil {
		return m.detail.update(msg)
	}
	return nil
}

func (m *Model) onSnapshot(msg snapshotMsg) tea.Cmd {
	m.inFlight = false
	now := m.now
	if msg.err != nil {
		if m.lastErr == nil {
			m.errSince = now
		}
		m.lastErr, m.c.err = msg.err, msg.err
		m.failures++
		wait := backoff(m.failures)
		m.retryAt = now.Add(wait)
		if m.paused {
			return nil
		}
		return m.schedule(wait)
	}
	m.lastErr, m.c.err, m.failures = nil, nil, 0
	m.show(msg.snap)
	var locks tea.Cmd
	if m.detail != nil && m.detail.sel.pid != 0 {
		locks = m.readLocks(m.detail.sel.pid) // keep the open pane's locks current
	}
	if m.paused {
		return locks
	}
	// The next refresh is due an interval after this one ended: a slow
	// server still gets a full interval of rest between refreshes.
	return tea.Batch(m.schedule(m.interval), locks)
}

// show puts a snapshot on screen, live or replayed, and adds it to the
// history.
func (m *Model) show(snap *inspect.Snapshot) {
	m.c.snap = snap
	m.lastOK = m.now
	m.c.history.Add(inspect.SampleOf(snap))
	m.c.forecast, m.c.forecastOK = inspect.PoolForecast(m.c.history.Samples())
	m.c.queueRate, m.c.queueGrowing = inspect.QueueGrowth(m.c.history.Samples())
	m.c.poolerForecast, m.c.poolerForecastOK = inspect.PoolerForecast(m.c.history.Samples())
	m.c.traceQueues()
	m.c.states.observe(snap)
	m.refreshPanes()
	if m.detail != nil && m.rp != nil && m.detail.sel.pid != 0 {
		m.detail.setLocks(&m.c, nil, errReplayLocks)
	}
}

// refreshPanes rebuilds what the panes show from the snapshot and the
// filter. Only the pane on screen is rebuilt now, the others when they are
// shown next: a refresh costs one pane's rows, not five.
func (m *Model) refreshPanes() {
	m.c.index()
	for i := range m.stale {
		m.stale[i] = true
	}
	m.refreshPane(m.active)
	if m.detail != nil {
		m.detail.refresh(&m.c)
	}
}

// refreshPane rebuilds pane i if it missed a refresh.
func (m *Model) refreshPane(i int) {
	if m.stale[i] {
		m.stale[i] = false
		m.panes[i].refresh(&m.c)
	}
}

// layout hands each pane its size.
func (m *Model) layout() {
	w, h := m.c.width, m.bodyHeight()
	for _, p := range m.panes {
		p.setSize(w, h)
	}
	m.input.SetWidth(max(10, w-4))
	if m.detail != nil {
		m.detail.setSize(w, h)
	}
}

func (m *Model) bodyHeight() int {
	return max(1, m.c.height-headerLines-2) // header, tabs, footer
}

// setFlash and setResult sanitize: messages carry server words (error
// text, identifiers in plan titles).
func (m *Model) setFlash(format string, args ...any) {
	m.flash = safetext.Line(fmt.Sprintf(format, args...))
	m.flashUntil = m.c.opts.Now().Add(5 * time.Second)
}

// setResult shows an action's outcome until the next one, or a minute:
// long enough to read it aloud on a bridge call.
func (m *Model) setResult(msg string) {
	m.flash = safetext.Line(msg)
	m.flashUntil = m.c.opts.Now().Add(time.Minute)
}

func (m *Model) togglePause() tea.Cmd {
	m.paused = !m.paused
	m.gen++ // a pending tick belongs to the old generation
	if m.paused {
		m.setFlash("refresh paused: the data on screen is frozen (space resumes)")
		return nil
	}
	m.setFlash("refresh resumed")
	if m.inFlight {
		return nil // its result schedules the next tick
	}
	return m.fetch()
}

func (m *Model) setInterval(d time.Duration) tea.Cmd {
	m.interval = max(MinInterval, min(d, MaxInterval))
	m.gen++
	m.setFlash("refreshing every %s", m.interval)
	if m.paused || m.inFlight {
		return nil
	}
	return m.schedule(m.interval)
}

// View draws the screen. It only renders what Update built.
func (m *Model) View() tea.View {
	// An unchanged frame is handed over as the same string: the screen
	// compares each frame with the last one drawn, and the same string
	// compares at once.
	if frame := m.render(); frame != m.frame {
		m.frame = frame
	}
	v := tea.NewView(m.frame)
	v.AltScreen = true
	v.WindowTitle = "pgmedic " + safetext.Line(m.src.Target())
	return v
}

func (m *Model) render() string {
	w, h := m.c.width, m.c.height
	if w == 0 || h == 0 {
		return ""
	}
	if w < MinWidth || h < MinHeight {
		msg := fmt.Sprintf("terminal too small (%d×%d, need %d×%d)", w, h, MinWidth, MinHeight)
		return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, fitCell(msg, w, false))
	}
	var b strings.Builder
	b.Grow(m.frameSize)
	m.writeHeader(&b)
	b.WriteByte('\n')
	b.WriteString(m.tabs())
	b.WriteByte('\n')
	body := ""
	switch {
	case m.life.asking(), m.life.stage == quitting:
		body = m.dialogView()
	case m.showHelp:
		body = m.helpView()
	case m.eventList != nil:
		body = m.eventsView()
	case m.servers != nil:
		body = m.serversView()
	case m.detail != nil:
		body = m.detail.view(&m.c)
	default:
		body = m.panes[m.active].view(&m.c)
	}
	foot := m.footer()
	writeBlock(&b, body, w, m.bodyHeight()-len(foot)+1)
	for _, l := range foot {
		b.WriteByte('\n')
		b.WriteString(l)
	}
	m.frameSize = b.Len() + b.Len()/8 // the next frame is about as long
	return b.String()
}

// writeBlock writes a block padded or cut to exactly h lines of at most w
// cells.
func writeBlock(b *strings.Builder, s string, w, h int) {
	b.Grow(len(s) + h)
	for i := range h {
		if i > 0 {
			b.WriteByte('\n')
		}
		if s == "" {
			continue
		}
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		if len(line) > w && ansiWidth(line) > w { // no character is wider than its bytes
			line = fitCell(line, w, false)
		}
		b.WriteString(line)
	}
}
