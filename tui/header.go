package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// headerLines is the header's fixed height: identity, pool gauge, health.
const headerLines = 3

// frameKey is what every cached line of the frame depends on: the
// terminal's width and the styles (look changes with the theme).
type frameKey struct {
	width, look int
}

func (m *Model) frameKey() frameKey { return frameKey{m.c.width, m.c.look} }

// lines are the cached lines of the frame around the body.
type lines struct {
	gauge memo[gaugeKey]
	tabs  memo[tabsKey]
}

type (
	// The gauge changes with the pool's counts, not with every snapshot:
	// keyed by what it shows, it is drawn again only when that changes.
	gaugeKey struct {
		frameKey
		used, usable, active, idle, inTx, waiting, reserved int
		percent                                             float64
		level                                               string
		haveSnapshot                                        bool
	}
	tabsKey struct {
		frameKey
		pooler    bool
		repl      bool
		active    int
		filter    string
		filtering bool
	}
)

func (m *Model) writeHeader(b *strings.Builder) {
	w := m.c.width
	gk := gaugeKey{frameKey: m.frameKey()}
	if s := m.c.snap; s != nil {
		srv, sat := &s.Server, &s.Saturation
		gk = gaugeKey{m.frameKey(), sat.Used, sat.Usable, sat.Active, sat.Idle, sat.IdleInTx + sat.IdleInTxAborted,
			sat.WaitingOnLock, srv.Reserved, sat.Percent, sat.Level(m.c.opts.WarnPercent), true}
	}
	b.WriteString(fitCell(m.identityLine(), w, false))
	b.WriteByte('\n')
	b.WriteString(m.lines.gauge.get(gk, func() string { return fitCell(m.gaugeLine(), w, false) }))
	b.WriteByte('\n')
	b.WriteString(fitCell(m.healthLine(), w, false))
}

func (m *Model) identityLine() string {
	st := &m.c.styles
	line := st.Title.Render("pgmedic")
	if m.c.opts.ReadOnly {
		line += " " + st.Stale.Render(" READ-ONLY ")
	}
	if m.c.opts.Redacted {
		line += " " + st.Stale.Render(" REDACTED ")
	}
	if b := m.c.opts.Banner; b != "" {
		return line + "  " + st.Stale.Render(" "+b+" ")
	}
	if s := m.c.snap; s != nil {
		srv := &s.Server
		line += fmt.Sprintf("  PostgreSQL %s %s as %s  %s", inspect.VersionString(srv.VersionNum), srv.ModeWord(),
			srv.RoleWord(), safetext.Line(m.src.Target()))
		if srv.Pooler {
			// Said first-hand: the pool's queue, and which backend is
			// pgmedic's, are out of sight (the report's warnings say more).
			line += "  " + st.Stale.Render(" VIA POOLER ")
		}
	} else {
		line += "  " + safetext.Line(m.src.Target())
	}
	return line
}

// gaugeLine is the pool saturation: used of usable slots, with the
// reserved ones apart. It turns to a warning at WarnPercent, not at 90.
func (m *Model) gaugeLine() string {
	s := m.c.snap
	if s == nil {
		return "POOL  waiting for the first snapshot…"
	}
	st := &m.c.styles
	sat := &s.Saturation
	word, style := sat.Level(m.c.opts.WarnPercent), st.OK
	switch word {
	case "FULL", "CRITICAL":
		style = st.Bad
	case "HIGH":
		style = st.Warn
	}
	barWidth := 16
	if m.c.width < 100 {
		barWidth = 10
	}
	filled := min(barWidth, int(sat.Percent*float64(barWidth)/100+0.5))
	bar := "[" + strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled) + "]"
	line := fmt.Sprintf("POOL %s %d/%d %.0f%% %s · %d active %d idle %d in tx %d waiting · %d reserved",
		style.Render(bar), sat.Used, sat.Usable, sat.Percent, style.Render(word),
		sat.Active, sat.Idle, sat.IdleInTx+sat.IdleInTxAborted, sat.WaitingOnLock, s.Server.Reserved)
	return line
}

// healthLine says whether the data on screen is live: connected,
// paused, slow, or disconnected with stale data and why.
func (m *Model) healthLine() string {
	if m.rp != nil {
		return m.replayLine()
	}
	st, paint := &m.c.styles, m.c.paint
	now := m.now
	age := func() string {
		if m.lastOK.IsZero() {
			return "no data yet"
		}
		return "data " + human.Duration(now.Sub(m.lastOK)) + " old"
	}
	switch {
	case m.lastErr != nil:
		retry := "retrying now"
		if !m.inFlight {
			// Pausing and resuming fetches at once: say so, for the
			// moment the server is known to be back.
			retry = "retry in " + human.Duration(max(0, m.retryAt.Sub(now))) + " (space twice: now)"
		}
		if m.paused {
			retry = "paused"
		}
		return paint(&st.Stale, "✖ DISCONNECTED") + fmt.Sprintf(" since %s, %s; STALE %s: ",
			m.errSince.Format("15:04:05"), retry, age()) + safetext.Line(m.lastErr.Error())
	case m.paused:
		return paint(&st.Stale, "⏸ PAUSED") + " " + age() + ", frozen; space resumes"
	case m.inFlight && now.Sub(m.fetchStarted) >= slowRefresh:
		// Counting text is rendered, not painted: paint remembers what it
		// styles, and this changes every second.
		return st.Warn.Render("⟳ refresh taking "+human.Duration(now.Sub(m.fetchStarted))) + "; showing " + age()
	case m.c.snap == nil:
		return "⟳ connecting…"
	}
	line := paint(&st.OK, "● live") + fmt.Sprintf(" refreshed %s ago, every %s", human.Duration(now.Sub(m.lastOK)), m.interval)
	return line + m.c.trendText()
}

// trendText is the history's part of the health line: the early
// warning, then the last minutes of slot use and of the lock queue.
func (c *common) trendText() string {
	st := &c.styles
	var line string
	if c.forecastOK {
		line += " · " + st.Bad.Render(forecastText(c.forecast))
	}
	samples := c.history.Samples()
	if c.poolerForecastOK {
		line += " · " + st.Bad.Render(fmt.Sprintf("pgbouncer full %s (+%.0f/min)", whenText(c.poolerForecast), c.poolerForecast.PerMinute))
	}
	if sp := sparkline(samples, sparkMinutes); sp != "" {
		line += fmt.Sprintf(" · slots, last %dm %s", sparkMinutes, sp)
	}
	if sp := waitingSpark(samples, sparkMinutes); sp != "" {
		line += " · waiting " + sp
		if c.queueGrowing {
			line += " " + st.Warn.Render(fmt.Sprintf("+%.0f/min", c.queueRate))
		}
	}
	return line
}

// waitingSpark draws the sessions waiting on locks, a column a minute,
// against the most that waited in the window; "" when nobody waited.
func waitingSpark(samples []inspect.Sample, minutes int) string {
	peak := 0
	for _, s := range samples {
		peak = max(peak, s.Waiting)
	}
	if peak == 0 {
		return ""
	}
	return spark(samples, minutes, func(s inspect.Sample) float64 { return float64(s.Waiting) / float64(peak) })
}

// forecastText is the early warning, as the header and Triage say it.
func forecastText(f inspect.Forecast) string {
	return fmt.Sprintf("pool full %s (+%.0f/min)", whenText(f), f.PerMinute)
}

// whenText is how soon a forecast says the pool is full.
func whenText(f inspect.Forecast) string {
	if m := int(f.FullIn.Round(time.Minute) / time.Minute); m >= 1 {
		return fmt.Sprintf("in ~%dm", m)
	}
	return "in under a minute"
}

// sparkMinutes is the span of the header's sparkline: a column a minute.
const sparkMinutes = 15

// sparkline draws slot use over the last minutes, a column a minute (the
// most used in that minute against the usable slots), oldest first; ""
// without samples.
func sparkline(samples []inspect.Sample, minutes int) string {
	return spark(samples, minutes, func(s inspect.Sample) float64 {
		if s.Usable <= 0 {
			return 0
		}
		return float64(s.Used) / float64(s.Usable)
	})
}

// spark draws a column a minute for the last minutes of samples: the
// highest of value (0 to 1) in each, oldest first, a space for a minute
// with no sample.
func spark(samples []inspect.Sample, minutes int, value func(inspect.Sample) float64) string {
	if len(samples) == 0 {
		return ""
	}
	bars := []rune("▁▂▃▄▅▆▇█")
	last := samples[len(samples)-1].At
	peak := make([]float64, minutes)
	seen := make([]bool, minutes)
	for _, s := range samples {
		if i := minutes - 1 - int(last.Sub(s.At)/time.Minute); i >= 0 {
			peak[i], seen[i] = max(peak[i], value(s)), true
		}
	}
	var b strings.Builder
	for i := range minutes {
		switch {
		case seen[i]:
			b.WriteRune(bars[min(max(int(peak[i]*float64(len(bars))), 0), len(bars)-1)])
		case b.Len() > 0:
			b.WriteString(" ")
		}
	}
	return b.String()
}

func (m *Model) tabs() string {
	return m.lines.tabs.get(tabsKey{m.frameKey(), m.hasPooler(), m.c.snap != nil && hasReplication(m.c.snap), m.active, m.c.filter, m.filtering}, m.drawTabs)
}

func (m *Model) drawTabs() string {
	// Narrower terminals get the short titles and the filter without its
	// hint, so that the filter stays readable at 80 columns.
	for _, short := range []bool{false, true} {
		line := m.tabLine(short)
		if m.c.filter != "" && !m.filtering {
			filter := "  filter: " + safetext.Line(m.c.filter)
			if !short {
				filter += " (esc clears)"
			}
			line += filter
		}
		if short || lipgloss.Width(line) <= m.c.width {
			return fitCell(line, m.c.width, false)
		}
	}
	return ""
}

// hasPooler reports whether pgmedic reads a PgBouncer (--pgbouncer).
func (m *Model) hasPooler() bool { return m.c.snap != nil && m.c.snap.Pooler != nil }

// tabShown reports whether view i has a tab: the PgBouncer view only
// with a pooler to show, the Replication view only with standbys, slots
// or a replay to show, each also when its key opened it anyway (to say
// what is missing).
func (m *Model) tabShown(i int) bool {
	switch {
	case i == m.active:
		return true
	case i == poolerView:
		return m.hasPooler()
	case i == replicationView:
		return m.c.snap != nil && hasReplication(m.c.snap)
	}
	return true
}

// shortTitles are the views' titles where the full ones do not fit.
var shortTitles = map[string]string{"Connections": "Conns", "Indexes": "Index", "Progress": "Prog", "PgBouncer": "PgB", "Replication": "Repl"}

func (m *Model) tabLine(short bool) string {
	st := &m.c.styles
	var parts []string
	for i, p := range m.panes {
		if !m.tabShown(i) {
			continue
		}
		title := p.title()
		if s, ok := shortTitles[title]; ok && short {
			title = s
		}
		label := fmt.Sprintf(" %d %s ", i+1, title)
		if i == m.active {
			parts = append(parts, st.TabActive.Render("▸"+label))
		} else {
			parts = append(parts, st.Tab.Render(" "+label))
		}
	}
	return strings.Join(parts, "")
}

// footer is the last line, or lines: a message that does not fit one
// line is wrapped, up to maxFooterLines, over the bottom of the body, so
// a result or a refusal is read whole where it is shown.
func (m *Model) footer() []string {
	st := &m.c.styles
	switch {
	case m.filtering:
		return []string{fitCell(m.input.View()+"  (enter keeps, esc clears)", m.c.width, false)}
	case m.flash != "" && m.now.Before(m.flashUntil):
		return wrapLines(m.flash, m.c.width, maxFooterLines, st.Warn.Render)
	case m.life.busy() && !m.life.asking():
		return wrapLines(m.runningLine(), m.c.width, maxFooterLines, st.Warn.Render)
	}
	return []string{m.keysLine()}
}

// maxFooterLines bounds a wrapped message: the body keeps the rest.
const maxFooterLines = 3

// wrapLines breaks text at spaces into lines of at most w cells, at most
// n of them (the last one cut), each rendered with style.
func wrapLines(text string, w, n int, style func(...string) string) []string {
	lines := fill(strings.Fields(text), " ", w)
	if len(lines) > n {
		lines = append(lines[:n-1], strings.Join(lines[n-1:], " "))
	}
	for i, l := range lines {
		lines[i] = fitCell(style(fitCell(l, w, false)), w, false)
	}
	return lines
}

// helpView is the full help: the keys of this view and of every view,
// each that does not apply now dimmed, with the reason.
func (m *Model) helpView() string {
	st := &m.c.styles
	groups := m.helpGroups()
	entry := func(e helpEntry, keyWidth int) string {
		k := e.key
		if keyWidth > 0 {
			k = fitCell(k, keyWidth, false)
		}
		if e.why != "" {
			return st.Dim.Render(k + " " + e.desc + " — " + e.why)
		}
		return st.Key.Render(k) + " " + e.desc
	}
	cols := make([]string, len(groups))
	for i, g := range groups {
		lines := []string{st.Title.Render(g.title)}
		for _, e := range g.entries {
			lines = append(lines, entry(e, 10))
		}
		cols[i] = strings.Join(lines, "\n")
	}
	grid := lipgloss.JoinHorizontal(lipgloss.Top, spaced(cols)...)
	if lipgloss.Width(grid) > m.c.width || lipgloss.Height(grid)+3 > m.bodyHeight() {
		// Small terminal: each group's keys as a wrapped paragraph.
		var b strings.Builder
		for i, g := range groups {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(st.Title.Render(g.title))
			entries := make([]string, len(g.entries))
			for i, e := range g.entries {
				entries[i] = entry(e, 0)
			}
			for _, line := range fill(entries, " · ", m.c.width) {
				b.WriteString("\n" + line)
			}
		}
		grid = b.String()
	}
	about := "\n\nLowercase keys only look. Uppercase keys change the server: each shows\nits SQL, effect and risks, and runs only after y.\n" +
		"q and ctrl+c quit; while an action runs they ask first, and a second\nctrl+c answers yes.\n" +
		"Press ? or esc to close."
	if lipgloss.Height(grid)+lipgloss.Height(about) > m.bodyHeight() {
		about = "\nUppercase keys change the server, and always ask first. ? or esc closes this."
	}
	return grid + about
}

func spaced(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = lipgloss.NewStyle().PaddingRight(3).Render(c)
	}
	return out
}

// keyHelp renders one binding for hints inside views.
func keyHelp(st *Styles, b key.Binding) string {
	return st.Key.Render("["+b.Help().Key+"]") + " " + b.Help().Desc
}
