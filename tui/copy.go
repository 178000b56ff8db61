package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/clipboard"
	"github.com/pgmedic/pgmedic/internal/report"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// copyTarget picks what `y` copies here: a dialog's SQL, else the selected
// row's query text (backends) or definition (indexes), else the line.
func (m *Model) copyTarget() (text, what string) {
	if m.life.stage == confirming {
		var sql []string
		for _, st := range m.life.plan.Statements {
			sql = append(sql, st.Display+";")
		}
		return strings.Join(sql, "\n"), "the SQL of " + m.life.plan.Title
	}
	sel := m.panes[m.active].selected()
	if m.detail != nil {
		sel = m.detail.sel
	}
	if m.active == 4 { // command log
		p := m.panes[4].(*commandLog)
		if i := p.list.cursor; i < len(m.log) {
			r := &m.log[len(m.log)-1-i]
			var sql []string
			for _, st := range r.Plan.Statements {
				sql = append(sql, st.Display+";")
			}
			return strings.Join(sql, "\n"), "the SQL of " + r.Plan.Title
		}
	}
	s := m.c.snap
	switch {
	case s == nil:
		return "", ""
	case sel.index != nil:
		return sel.index.Definition, "the definition of " + sel.index.QualifiedName()
	case sel.pid != 0:
		if b := s.Backend(sel.pid); b != nil {
			return b.Query, fmt.Sprintf("the query of pid %d", sel.pid)
		}
	case sel.pool:
		return poolDetail(s), "the pool breakdown"
	}
	return "", ""
}

// copyCommand is `y` here: its help says what it copies, and it is off
// when there is nothing to copy. What it copies is looked up once (for
// the pool, it is drawn).
func (m *Model) copyCommand(hint int) command {
	text, what := m.copyTarget()
	c := command{key: bind(m.c.keys.Copy, "copy query, definition or SQL"), hint: hint,
		do: func(tea.KeyPressMsg) tea.Cmd { return m.copyCmd(m.copyTarget()) }}
	if what != "" {
		what, _, _ = strings.Cut(strings.TrimPrefix(what, "the "), " of ")
		c.key = bind(m.c.keys.Copy, "copy "+what)
	}
	if text == "" {
		c.off = func() string { return "nothing to copy here" }
	}
	return c
}

// copyCmd delivers text to every clipboard that may reach the user.
func (m *Model) copyCmd(text, what string) tea.Cmd {
	text = safetext.Copy(text)
	if strings.TrimSpace(text) == "" {
		m.setFlash("nothing to copy here")
		return nil
	}
	env := m.c.opts.Clipboard
	// OSC 52 as Bubble Tea would write it, as a raw sequence so it reaches
	// the terminal at once (see Run).
	cmds := []tea.Cmd{tea.Raw(ansi.SetSystemClipboard(text))}
	if seq := env.Passthrough(text); seq != "" {
		cmds = append(cmds, tea.Raw(seq))
	}
	if env.Local() {
		cmds = append(cmds, func() tea.Msg { _ = clipboard.WriteLocal(text); return nil })
	}
	msg := fmt.Sprintf("copied %s (%d characters)", what, len([]rune(text)))
	if env.Tmux && !env.TmuxForwards {
		msg += "; " + clipboard.TmuxHint
	}
	m.setResult(msg)
	return tea.Batch(cmds...)
}

// summary is the incident summary in Markdown, with this session's
// actions.
func (m *Model) summary() string {
	if m.c.snap == nil {
		return ""
	}
	var log []actions.Record
	for i := range m.log {
		log = append(log, actions.RecordOf(&m.log[i], "", "", ""))
	}
	var b strings.Builder
	_ = report.Markdown(&b, m.c.snap, log)
	return b.String()
}
