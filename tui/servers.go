package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// ServerList is the servers pgmedic can switch to without restarting:
// the ones named on the command line and the service file's. The `c` key
// lists them, with a line each on how they are doing.
type ServerList interface {
	Servers() []string
	// Overview reads every server but skip (the one on screen), at once.
	Overview(ctx context.Context, skip string) []inspect.ServerLine
}

type (
	overviewMsg struct {
		gen   int
		lines []inspect.ServerLine
	}
	overviewTickMsg struct{ gen int }
)

// serverList is the list over the view, while open.
type serverList struct {
	names   []string
	lines   map[string]inspect.ServerLine
	sel     int
	gen     int // of this opening: a reply to an earlier one is dropped
	reading bool
	readAt  time.Time
}

func (m *Model) serversOff() string {
	switch {
	case m.rp != nil:
		return "a replay shows one recording: pgmedic replay FILE for another"
	case m.c.opts.Servers == nil || len(m.c.opts.Servers.Servers()) < 2:
		return "no other server: give --server DSN (or a service name), or add services to ~/.pg_service.conf"
	}
	return ""
}

var serverListGen int

// openServers shows the list, the server on screen selected, and reads
// the others.
func (m *Model) openServers(tea.KeyPressMsg) tea.Cmd {
	serverListGen++
	l := &serverList{names: m.c.opts.Servers.Servers(), lines: map[string]inspect.ServerLine{}, gen: serverListGen}
	for i, n := range l.names {
		if n == m.c.opts.ServerName {
			l.sel = i
		}
	}
	m.servers = l
	return m.readOverview()
}

func (m *Model) readOverview() tea.Cmd {
	l, list, skip := m.servers, m.c.opts.Servers, m.c.opts.ServerName
	if l == nil || l.reading {
		return nil
	}
	l.reading = true
	gen := l.gen
	return func() tea.Msg {
		return overviewMsg{gen: gen, lines: list.Overview(context.Background(), skip)}
	}
}

// onOverview keeps the lines and reads again an interval later, while
// the list is open.
func (m *Model) onOverview(msg overviewMsg) tea.Cmd {
	l := m.servers
	if l == nil || l.gen != msg.gen {
		return nil
	}
	l.reading = false
	l.readAt = m.c.opts.Now()
	for _, line := range msg.lines {
		if line.Name != m.c.opts.ServerName {
			l.lines[line.Name] = line
		}
	}
	gen := l.gen
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return overviewTickMsg{gen: gen} })
}

func (m *Model) serversLayer() layer {
	k := &m.c.keys
	l := m.servers
	closeList := func(tea.KeyPressMsg) tea.Cmd {
		m.servers = nil
		return nil
	}
	move := func(d int) func(tea.KeyPressMsg) tea.Cmd {
		return func(tea.KeyPressMsg) tea.Cmd {
			l.sel = max(0, min(l.sel+d, len(l.names)-1))
			return nil
		}
	}
	switchTo := command{key: bind(k.Details, "switch to this server"), hint: hintAnswer,
		off: func() string {
			switch {
			case len(l.names) == 0 || l.names[l.sel] == m.c.opts.ServerName:
				return "this is the server on screen"
			case m.life.busy():
				return m.life.plan.Title + " is still running: switch once it ends"
			}
			return ""
		},
		do: func(tea.KeyPressMsg) tea.Cmd {
			m.switchTo = l.names[l.sel]
			return tea.Quit
		}}
	return layer{title: "In the server list", rest: func(tea.KeyPressMsg) tea.Cmd { return nil }, cmds: []command{
		switchTo,
		{key: k.Down, do: move(1)},
		{key: k.Up, do: move(-1)},
		{key: k.Top, do: move(-len(l.names))},
		{key: k.Bottom, do: move(len(l.names))},
		{key: bind(k.Servers, "close"), hint: hintBack, do: closeList},
		{key: bind(k.Back, "close"), do: closeList},
		{key: k.Quit, hint: hintQuit, do: m.quit},
	}}
}

// serversView is the overview: a line a server, the one on screen from
// its own snapshot.
func (m *Model) serversView() string {
	l, st := m.servers, &m.c.styles
	w := m.c.width - 2
	var b strings.Builder
	title := fmt.Sprintf("SERVERS  %d · enter switches, one connection each, kept", len(l.names))
	switch {
	case l.reading && l.readAt.IsZero():
		title += " · reading…"
	case !l.readAt.IsZero():
		title += " · read " + l.readAt.Format("15:04:05")
	}
	b.WriteString(st.Title.Render(fitCell(title, w+2, false)))
	// The names take what the other columns leave, their ends kept.
	nameW := 14
	for _, n := range l.names {
		nameW = max(nameW, min(ansiWidth(clean(n)), w-64))
	}
	b.WriteString("\n" + st.Column.Render(fitCell(fmt.Sprintf("  %-*s %-7s %-11s %-15s %7s %8s %5s", nameW+2, "SERVER", "ROLE", "SLOTS",
		"ROOTS·WAIT·MAX", "INVALID", "LAG", "PGB Q"), w+2, false)))
	h := m.bodyHeight() - 3
	top := max(0, l.sel-h+1)
	for i := top; i < len(l.names) && i < top+h; i++ {
		name := l.names[i]
		line, ok := l.lines[name]
		if name == m.c.opts.ServerName && m.c.snap != nil {
			line, ok = inspect.Overview(name, m.src.Target(), m.c.snap), true
		}
		text := serverText(name, line, ok, name == m.c.opts.ServerName, nameW)
		text = fitCell(text, w, false)
		if i == l.sel {
			text = st.Selected.Render("▸ " + text)
		} else {
			text = "  " + text
		}
		b.WriteString("\n" + text)
	}
	return b.String()
}

// serverText is a server's line: its role, slot use, blockers, invalid
// indexes, replication lag and its pooler's queue; or why it cannot be
// read.
func serverText(name string, l inspect.ServerLine, read, current bool, nameW int) string {
	mark := "  "
	if current {
		mark = "● "
	}
	head := mark + fitCell(keepEnd(clean(name), nameW), nameW, false) + " "
	switch {
	case !read:
		return head + "reading…"
	case l.NeedsPassword:
		// Up, and enter asks for the password (cmd/pgmedic).
		return head + "PASSWORD enter asks for it · " + clean(l.Error)
	case l.Error != "":
		return head + "DOWN    " + clean(l.Error)
	}
	role := "primary"
	if l.InRecovery {
		role = "standby"
	}
	slots := fmt.Sprintf("%3.0f%% %d/%d", l.Percent, l.Used, l.Usable)
	blockers := "none"
	if l.RootBlockers > 0 {
		blockers = fmt.Sprintf("%d·%d·%s", l.RootBlockers, l.Waiting, human.Duration(time.Duration(l.LongestWait*float64(time.Second))))
	}
	lag := "–"
	switch {
	case l.LagBytes != nil:
		lag = human.Bytes(*l.LagBytes)
	case l.LagSeconds != nil:
		lag = human.Duration(time.Duration(*l.LagSeconds * float64(time.Second)))
	}
	pgb := "–"
	if l.PoolerWaiting != nil {
		pgb = fmt.Sprint(*l.PoolerWaiting)
	}
	return head + fmt.Sprintf("%-7s %s %s %7d %8s %5s", role, fitCell(slots, 11, false), fitCell(blockers, 15, false), l.Invalid, lag, pgb)
}

// keepEnd shortens s to w cells from the left: a target's end (its port
// and database) tells servers apart better than its start.
func keepEnd(s string, w int) string {
	r := []rune(s)
	if len(r) <= w || ansiWidth(s) <= w {
		return s
	}
	for len(r) > 0 && ansiWidth(string(r))+1 > w {
		r = r[1:]
	}
	return "…" + string(r)
}
