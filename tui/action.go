package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// Executor runs action plans. The live one signals over pgmedic's own
// connection and runs DDL on a second one; tests use a fake.
type Executor interface {
	Execute(ctx context.Context, plan actions.Plan, before *inspect.Snapshot, progress func(string)) actions.Result
}

type (
	actionProgressMsg struct {
		text string
		ch   <-chan tea.Msg
	}
	actionDoneMsg struct{ result actions.Result }
	// auditDoneMsg is a refused plan's result: logged, never running.
	auditDoneMsg struct{ result actions.Result }
	// giveUpMsg ends the wait for a cancelled action when quitting.
	giveUpMsg struct{}
	// shutdownMsg asks to quit without a question: a signal, or the
	// terminal went away. A running action is cancelled and waited for.
	shutdownMsg struct{ why string }
)

// defaultStopWait bounds how long quitting waits for a cancelled action:
// long enough for a cancel request to reach the server and the result
// (and its audit record) to be written, short enough that a hung
// connection cannot keep pgmedic from exiting.
const defaultStopWait = 10 * time.Second

// planFor builds the plan for an action key on the current selection.
func (m *Model) planFor(kind actions.Kind) (actions.Plan, string) {
	p, why := m.planOn(kind)
	if why == "" && m.c.snap != nil {
		actions.RefuseBehindPooler(&p, m.c.snap.Server)
	}
	return p, why
}

// planOn builds the plan for kind from the selected row.
func (m *Model) planOn(kind actions.Kind) (actions.Plan, string) {
	sel := m.panes[m.active].selected()
	s := m.c.snap
	switch kind {
	case actions.PoolerPause, actions.PoolerResume, actions.PoolerKill, actions.PoolerReconnect:
		if sel.poolDB == "" {
			return actions.Plan{}, "select a pool first (Triage or PgBouncer, 7)"
		}
		return actions.PlanPooler(s.Pooler, kind, sel.poolDB), ""
	case actions.Cancel, actions.Terminate:
		if sel.gid != "" {
			return actions.PlanSignalPrepared(kind, sel.gid), ""
		}
		if sel.pid == 0 {
			return actions.Plan{}, "select a session first (Triage, Connections or Locks)"
		}
		return actions.PlanSignal(s, kind, sel.pid), ""
	default:
		if sel.index == nil {
			return actions.Plan{}, "select an index first (Triage or Indexes)"
		}
		if kind == actions.DropIndex {
			return actions.PlanDropIndex(sel.index, s.Server.InRecovery), ""
		}
		return actions.PlanRebuild(sel.index, s.Server.InRecovery), ""
	}
}

func (m *Model) onActionKey(kind actions.Kind) tea.Cmd {
	plan, why := m.planFor(kind)
	if why != "" {
		m.setFlash("%s", why)
		return nil
	}
	return m.apply(event{kind: evOpen, plan: plan})
}

// apply steps the lifecycle and does what the step asks.
func (m *Model) apply(ev event) tea.Cmd {
	prev := m.life
	next, do := step(prev, ev)
	m.life = next
	if do&doCancel != 0 && m.cancelAction != nil {
		m.cancelAction()
	}
	if do&doNotRun != 0 {
		m.setFlash("not run: nothing was changed")
	}
	if do&doAbandon != 0 {
		m.record(abandoned(&prev, m.c.opts.Now(), m.stopWait()))
	}
	if do&doQuit != 0 {
		if do&doRecord != 0 {
			m.record(ev.result)
			m.setResult(ev.result.Describe()) // the last frame says how it ended
		}
		return tea.Quit
	}
	var cmds []tea.Cmd
	if do&doStart != 0 {
		m.flash = "" // what runs now is the news: the footer shows it
		cmds = append(cmds, m.startAction(next.plan))
	}
	if do&doAudit != 0 {
		cmds = append(cmds, m.auditRefusal(next.plan))
	}
	if do&doWait != 0 {
		cmds = append(cmds, tea.Tick(m.stopWait(), func(time.Time) tea.Msg { return giveUpMsg{} }))
	}
	if do&doRecord != 0 {
		cmds = append(cmds, m.onActionDone(ev.result))
	}
	return tea.Batch(cmds...)
}

func (m *Model) stopWait() time.Duration {
	if m.c.opts.StopWait > 0 {
		return m.c.opts.StopWait
	}
	return defaultStopWait
}

// abandoned is the log's word for an action pgmedic left running: the
// executor writes the audit record only when it returns, so this line
// may be the only trace of how it ended.
func abandoned(l *lifecycle, now time.Time, waited time.Duration) actions.Result {
	return actions.Result{Plan: l.plan, Outcome: "unknown", Started: l.started, Duration: now.Sub(l.started),
		Message: fmt.Sprintf("pgmedic quit before %s stopped: it was cancelled but gave no result within %s; "+
			"look at the server (pgmedic snapshot) before trusting this log", l.plan.Title, human.Duration(waited))}
}

// startAction runs the plan in the background. Progress and the result
// come back through a channel, one message at a time; the refresh goes on.
func (m *Model) startAction(plan actions.Plan) tea.Cmd {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancelAction = cancel
	ch := make(chan tea.Msg, 16)
	exec, before := m.c.opts.Executor, m.c.snap
	go func() {
		r := execute(ctx, exec, plan, before, func(s string) {
			select {
			case ch <- actionProgressMsg{text: s, ch: ch}:
			default: // a slow screen drops progress lines, never the result
			}
		})
		ch <- actionDoneMsg{result: r}
	}()
	return listen(ch)
}

// auditRefusal hands a refused plan to the executor anyway: it records
// the refusal in the audit log and returns without touching the server.
// Nothing waits for it, so it never holds up an action.
func (m *Model) auditRefusal(plan actions.Plan) tea.Cmd {
	exec, before := m.c.opts.Executor, m.c.snap
	return func() tea.Msg {
		return auditDoneMsg{result: execute(context.Background(), exec, plan, before, func(string) {})}
	}
}

// execute runs a plan and turns a panic into a failed result: a bug in
// an action must not take the screen down with the terminal still raw,
// and whoever is on the incident must learn the action's fate.
func execute(ctx context.Context, exec Executor, plan actions.Plan, before *inspect.Snapshot,
	progress func(string)) (r actions.Result) {
	started := time.Now()
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			r = actions.Result{Plan: plan, Outcome: "failed", Started: started, Duration: time.Since(started),
				Err: fmt.Errorf("panic: %v\n%s", v, stack),
				Message: fmt.Sprintf("pgmedic bug: the action panicked (%v) in %s; it may or may not have changed "+
					"the server: look before acting again", v, panicSite(stack))}
		}
	}()
	return exec.Execute(ctx, plan, before, progress)
}

// panicSite is the function that panicked and its file, from a stack
// taken while the panic unwinds: the first frame under "panic(" that is
// not the runtime's own (a nil dereference passes through sigpanic).
// Frames are two lines each: the call, then its file and line.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "panic(") {
			continue
		}
		for j := i + 2; j+1 < len(lines); j += 2 {
			if fn := lines[j]; !strings.HasPrefix(fn, "runtime.") {
				if k := strings.LastIndexByte(fn, '('); k > 0 {
					fn = fn[:k]
				}
				fn = fn[strings.LastIndexByte(fn, '/')+1:] // the package, not its module path
				file, _, _ := strings.Cut(strings.TrimSpace(lines[j+1]), " ")
				return fn + " at " + filepath.Base(file)
			}
		}
	}
	return "an unknown place"
}

func listen(ch <-chan tea.Msg) tea.Cmd { return func() tea.Msg { return <-ch } }

// record puts a result in the command log.
func (m *Model) record(r actions.Result) {
	m.log = append(m.log, r)
	m.panes[4].refresh(&m.c)
}

// abandon cancels a running action: Run calls it when the program ended
// without waiting for one (killed after its wait, or a bug).
func (m *Model) abandon() {
	if m.cancelAction != nil {
		m.cancelAction()
	}
}

func (m *Model) onActionDone(r actions.Result) tea.Cmd {
	if m.cancelAction != nil {
		m.cancelAction() // releases the context
		m.cancelAction = nil
	}
	m.record(r)
	msg := r.Describe()
	if r.Plan.Kind == actions.Cancel && r.OK() && strings.Contains(r.Message, "still running") {
		msg += " — press K to terminate instead"
	}
	m.setResult(msg)
	// Blocker shift: the queue has a new head; put the cursor on it.
	if len(r.NewRoots) > 0 {
		key := pidKey(r.NewRoots[0])
		for i, p := range m.panes[:3] {
			m.refreshPane(i) // the key must be looked for in current rows
			switch p := p.(type) {
			case *triage:
				p.list.selectKey(key)
			case *connections:
				p.list.selectKey(key)
			case *locks:
				p.list.selectKey(key)
			}
		}
	}
	// Look again at once: the action changed what is on screen.
	if !m.inFlight && !m.paused {
		m.gen++
		return m.fetch()
	}
	return nil
}

// dialogView draws the open question, or the wait before quitting, over
// the body. It draws from the lifecycle only.
func (m *Model) dialogView() string {
	st := &m.c.styles
	l := &m.life
	w := min(m.c.width-4, 100)
	title := clean(l.plan.Title)
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	switch l.stage {
	case quitAsked:
		line(st.Bad.Render("An action is running: " + title))
		line("Quit anyway? It is cancelled first, and pgmedic waits for it to stop.")
		line(cancelNote(l.plan.Kind))
		line("")
		line(st.Key.Render("[y/ctrl+c]") + " quit   " + st.Key.Render("[n/esc]") + " keep watching")
	case stopAsked:
		line(st.Warn.Render("Cancel " + title + "?"))
		line(cancelNote(l.plan.Kind))
		line("")
		line(st.Key.Render("[y]") + " cancel it   " + st.Key.Render("[n/esc]") + " let it run")
	case quitting:
		quitting := "Quitting"
		if l.why != "" {
			quitting += " (" + l.why + ")"
		}
		line(st.Warn.Render(quitting + ": cancelling " + title + "…"))
		line("Waiting for it to stop: its result goes to the command log printed on exit.")
		line(fmt.Sprintf("pgmedic quits anyway after %s.", human.Duration(m.stopWait())))
	default:
		box := m.planBox(&l.plan, w, false)
		if lipgloss.Height(box) > m.bodyHeight() {
			box = m.planBox(&l.plan, w, true)
		}
		return box
	}
	return st.Box.Width(w).Render(strings.TrimRight(b.String(), "\n"))
}

// cancelNote says what cancelling leaves behind, for the action at hand.
func cancelNote(kind actions.Kind) string {
	switch kind {
	case actions.Rebuild:
		return "The index stays as it was: pgmedic drops the unfinished copy (or, past the swap, the old one) before it reports."
	case actions.DropIndex:
		return "A cancelled drop leaves the invalid index as it was; try again later."
	}
	return "A signal already sent stays sent: cancelling stops only the wait for its effect."
}

// planBox renders a plan for confirmation. The answer keys come right
// under the title so they are never cut off; compact keeps the SQL whole
// and gives the effect and each risk one line.
func (m *Model) planBox(p *actions.Plan, w int, compact bool) string {
	st := &m.c.styles
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	gap := func() {
		if !compact {
			line("")
		}
	}
	short := func(s string) string {
		if compact {
			return fitCell(s, w-4, false)
		}
		return s
	}
	line(st.Title.Render(clean(p.Title)))
	if p.Allowed() {
		line(st.Key.Render("[y]") + " yes, run it   " + st.Key.Render("[n/esc]") + " no (default)   " + st.Key.Render("[ctrl+y]") + " copy the SQL")
	} else {
		line(st.Key.Render("[esc]") + " close")
	}
	gap()
	if bt := p.Backend; bt != nil {
		line(short(fmt.Sprintf("pid %d · user %s · app %s · client %s", bt.PID, orNone(clean(bt.User)), orNone(clean(bt.Application)),
			orNone(clean(bt.Client)))))
		// One line for the two ages a transaction has: how long the
		// session has been in its state, and since when the transaction
		// is open.
		state := orNone(clean(bt.State))
		if b := m.c.snap.Backend(bt.PID); b != nil && b.State == bt.State && b.StateChange != nil {
			state += " for " + human.Duration(b.StateAge(m.c.snap.ServerTime))
		}
		if bt.XactStart != nil {
			state += fmt.Sprintf("; transaction open since %s (%s)", bt.XactStart.Format("15:04:05"),
				human.Duration(m.c.snap.ServerTime.Sub(*bt.XactStart)))
		}
		line(short(state))
		line(fmt.Sprintf("%d session(s) wait on it", bt.Blocked))
		line(short("query: " + clean(bt.Query)))
	}
	if ix := p.Index; ix != nil {
		line(short(fmt.Sprintf("index %s on %s · %s", clean(inspect.QuoteIdent(ix.Schema)+"."+inspect.QuoteIdent(ix.Name)),
			clean(inspect.QuoteIdent(ix.Table)), orNone(kindText(ix.Status)))))
	}
	if !p.Allowed() {
		gap()
		line(st.Bad.Render("REFUSED: ") + clean(p.Refusal))
		if p.Alternative != "" {
			line("Instead: " + clean(p.Alternative))
		}
		return st.Box.Width(w).Render(strings.TrimRight(b.String(), "\n"))
	}
	gap()
	line(st.Column.Render("SQL") + " (each statement alone, outside any transaction)")
	// Wrapped here, not by the box: a line never breaks inside a quoted
	// literal or name (a timestamp has a space), and what continues a
	// statement is indented under it.
	for _, s := range p.Statements {
		for i, l := range wrapSQL(clean(s.Display)+";", w-8) {
			if i == 0 {
				line("  " + l)
			} else {
				line("    " + l)
			}
		}
	}
	gap()
	line(short(st.Column.Render("Effect") + " " + clean(p.Effect)))
	// A rebuild's steps say what protects the data at each moment: they
	// come before the risks, and are kept when the box is compact.
	for _, s := range p.Steps {
		line(short(st.Column.Render("Step") + " " + clean(s)))
	}
	for _, r := range p.Risks {
		line(short(st.Warn.Render("Risk") + " " + clean(r)))
	}
	return st.Box.Width(w).Render(strings.TrimRight(b.String(), "\n"))
}

// runningLine is the status line while an action runs.
func (m *Model) runningLine() string {
	l := &m.life
	title := clean(l.plan.Title)
	if l.stage == quitting {
		return "QUITTING: cancelling " + title + "…, waiting for it to stop"
	}
	word := "RUNNING"
	if l.stage == cancelling {
		word = "CANCELLING"
	}
	s := fmt.Sprintf("%s %s (%s)", word, title, human.Duration(m.now.Sub(l.started)))
	if l.progress != "" {
		s += ": " + clean(l.progress)
	}
	if l.stage == cancelling {
		return s
	}
	return s + "  · esc cancels"
}

// commandLog is the fifth view: every action this session ran or refused.
type commandLog struct {
	log  *[]actions.Result
	list list
}

func (p *commandLog) title() string { return "Log" }

func (p *commandLog) refresh(*common) {
	keys := make([]string, len(*p.log))
	for i := range keys {
		keys[i] = fmt.Sprint(len(keys) - 1 - i) // newest first
	}
	p.list.setKeys(keys)
}

func (p *commandLog) setSize(_, h int) { p.list.setHeight(max(1, (h-1)/3)) }

func (p *commandLog) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *commandLog) selected() target {
	if i := p.list.cursor; i < len(*p.log) {
		return target{entry: &(*p.log)[len(*p.log)-1-i]}
	}
	return target{}
}

func (p *commandLog) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *commandLog) view(c *common) string {
	st := &c.styles
	if len(*p.log) == 0 {
		return "\n  No action has run in this session. Uppercase keys act on the selected row and always ask first."
	}
	var b strings.Builder
	b.WriteString(st.Column.Render("COMMAND LOG, newest first (also printed when pgmedic exits)"))
	start, end := p.list.window()
	for i := start; i < end; i++ {
		r := &(*p.log)[len(*p.log)-1-i]
		marker := "  "
		if i == p.list.cursor {
			marker = "▶ "
		}
		word := strings.ToUpper(r.Outcome)
		style := &st.OK
		if !r.OK() {
			style = &st.Bad
		}
		fmt.Fprintf(&b, "\n%s%s %s %s", marker, r.Started.Format("15:04:05"), style.Render(word), clean(r.Message))
		for _, s := range r.Plan.Statements {
			fmt.Fprintf(&b, "\n      %s;", clean(s.Display))
		}
	}
	return b.String()
}

// Log is the session's command log, for printing on exit.
func (m *Model) Log() []actions.Result { return m.log }
