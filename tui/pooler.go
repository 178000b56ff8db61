package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/report"
)

// poolerView is the PgBouncer view's index among the panes.
const poolerView = 6

// poolerFindings are the pools in trouble (clients waiting, every server
// connection busy, a pause) and a pooler that cannot be read. A pool
// whose server connections wait behind a blocker points at that blocker:
// C and K then act on the cause, enter shows it.
func poolerFindings(s *inspect.Snapshot) []finding {
	p := s.Pooler
	if p == nil {
		return nil
	}
	var out []finding
	if p.Error != "" {
		out = append(out, finding{key: "pgbouncer", label: "PGBOUNCER", text: "not read: " + clean(p.Error)})
	}
	for i := range p.Pools {
		pool := &p.Pools[i]
		text := report.PoolFinding(pool, clean)
		if text == "" {
			continue
		}
		f := finding{key: "pgbouncer:" + pool.Database + "/" + pool.User, label: "PGBOUNCER", text: text,
			target: target{poolDB: pool.Database}}
		if len(pool.Behind) > 0 {
			f.target = target{pid: pool.Behind[0].PID}
			f.hint = "[enter] the blocker"
		}
		out = append(out, f)
	}
	return out
}

const (
	plPool = iota
	plMode
	plClients
	plWaiting
	plMaxWait
	plServers
	plIdle
	plOnLock
	plBehind
	plState
)

var poolerColumns = []column{
	{title: "POOL", min: 16, priority: 100, flex: true},
	{title: "MODE", width: 11, priority: 60},
	{title: "CLIENTS", width: 7, priority: 80, right: true},
	{title: "WAITING", width: 7, priority: 100, right: true},
	{title: "MAXWAIT", width: 7, priority: 95, right: true},
	{title: "SERVERS", width: 7, priority: 100, right: true},
	{title: "IDLE", width: 4, priority: 50, right: true},
	{title: "ON LOCK", width: 7, priority: 90, right: true},
	{title: "BEHIND", width: 14, priority: 85},
	{title: "STATE", width: 6, priority: 96},
}

type poolerRow struct {
	db    string
	cells []string
	word  string
}

type poolerPane struct {
	rows  []poolerRow
	list  list
	table *table
	w, h  int
}

func newPooler() *poolerPane { return &poolerPane{table: newTable(poolerColumns)} }

func (p *poolerPane) title() string { return "PgBouncer" }

func (p *poolerPane) refresh(c *common) {
	p.rows = p.rows[:0]
	var keys []string
	if c.snap != nil && c.snap.Pooler != nil {
		for i := range c.snap.Pooler.Pools {
			pool := &c.snap.Pooler.Pools[i]
			word, state := "", "ok"
			switch {
			case pool.Paused:
				word, state = "PAUSED", "PAUSED"
			case pool.ClientsWaiting > 0:
				word, state = "WAITING", "QUEUE"
			case pool.Full():
				word, state = "FULL", "FULL"
			}
			maxWait := ""
			if pool.ClientsWaiting > 0 {
				maxWait = waitCell(pool.MaxWaitSeconds)
			}
			behind := ""
			if len(pool.Behind) > 0 {
				behind = fmt.Sprintf("pid %d (%d)", pool.Behind[0].PID, pool.Behind[0].Servers)
				if len(pool.Behind) > 1 {
					behind += fmt.Sprintf(" +%d", len(pool.Behind)-1)
				}
			}
			p.rows = append(p.rows, poolerRow{db: pool.Database, word: word, cells: []string{
				report.PoolName(pool, clean), clean(pool.Mode), fmt.Sprint(pool.ClientsActive), fmt.Sprint(pool.ClientsWaiting),
				maxWait, serversCell(pool), fmt.Sprint(pool.ServersIdle),
				fmt.Sprint(pool.ServersWaitingOnLock), behind, state}})
			keys = append(keys, "pool:"+pool.Database+"/"+pool.User)
		}
	}
	p.list.setKeys(keys)
	p.table.forget()
	p.setSize(p.w, p.h)
}

// serversCell is active of capacity; "?" for the capacity of a pool whose
// database SHOW DATABASES no longer lists (PgBouncer forgets a database
// made from its "*" entry once nothing uses it).
func serversCell(pool *inspect.Pool) string {
	if pool.Capacity() == 0 {
		return fmt.Sprintf("%d/?", pool.ServersActive)
	}
	return fmt.Sprintf("%d/%d", pool.ServersActive, pool.Capacity())
}

func waitCell(s float64) string {
	if s < 100 {
		return fmt.Sprintf("%.1fs", s)
	}
	return fmt.Sprintf("%.0fs", s)
}

// connLines is the room kept under the pools for the selected pool's
// server connections and clients.
func (p *poolerPane) connLines() int { return max(0, (p.h-4)/2) }

func (p *poolerPane) setSize(w, h int) {
	p.w, p.h = w, h
	p.table.setWidth(w)
	p.list.setHeight(max(1, min(len(p.rows), h-2-p.connLines()-2)))
}

func (p *poolerPane) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *poolerPane) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *poolerPane) selected() target {
	if p.list.cursor < len(p.rows) {
		return target{poolDB: p.rows[p.list.cursor].db}
	}
	return target{}
}

func (p *poolerPane) view(c *common) string {
	st := &c.styles
	var b strings.Builder
	switch {
	case c.snap == nil:
		return "\n  Waiting for the first snapshot…"
	case c.snap.Pooler == nil:
		b.WriteString(st.Column.Render("PGBOUNCER") + "\n")
		b.WriteString("  No PgBouncer: start pgmedic with --pgbouncer DSN (its admin console) to see its pools here.")
		return b.String()
	}
	pl := c.snap.Pooler
	lines := report.PoolerLines(pl, clean)
	b.WriteString(fitCell(st.Column.Render("PGBOUNCER")+" "+strings.TrimPrefix(lines[0], "PgBouncer "), p.w, false) + "\n")
	if len(p.rows) == 0 {
		b.WriteString("  No pool yet: PgBouncer makes a pool when a client first connects to it.")
		return b.String()
	}
	b.WriteString(p.table.header(c, -1, false))
	p.table.window(&b, c, &p.list, plState, func(i int) ([]string, string) { return p.rows[i].cells, p.rows[i].word })
	if p.list.cursor >= len(p.rows) {
		return b.String()
	}
	b.WriteString("\n\n" + p.servers(c, pl, p.rows[p.list.cursor].db))
	return b.String()
}

// servers lists the selected database's server connections with what
// their backend does, then its waiting clients in one line.
func (p *poolerPane) servers(c *common, pl *inspect.Pooler, db string) string {
	st := &c.styles
	var servers []string
	for i := range pl.Servers {
		sv := &pl.Servers[i]
		if sv.Database == db {
			servers = append(servers, fmt.Sprintf("  %-8s%s", clean(sv.State), backendText(sv.Backend, sv.RemotePID)))
		}
	}
	// The waiting clients first, the longest waiting first; then those
	// on a server connection, with its backend.
	var waitingClients, linked []*inspect.PoolConn
	for i := range pl.Clients {
		cl := &pl.Clients[i]
		switch {
		case cl.Database != db:
		case cl.Waiting():
			waitingClients = append(waitingClients, cl)
		default:
			linked = append(linked, cl)
		}
	}
	slices.SortStableFunc(waitingClients, func(a, b *inspect.PoolConn) int { return cmp.Compare(b.WaitSeconds, a.WaitSeconds) })
	var clients []string
	for _, cl := range append(waitingClients, linked...) {
		who := fmt.Sprintf("%s:%d %s", clean(cl.Addr), cl.Port, clean(cl.Application))
		line := fmt.Sprintf("  %-28s %-8s", who, clean(cl.State))
		switch {
		case cl.Waiting():
			line += " for " + waitCell(cl.WaitSeconds)
		case cl.ServerPID != 0:
			line += " →" + backendText(cl.Backend, cl.ServerPID)
		}
		clients = append(clients, line)
	}
	// The count is the pools': a recording keeps only the oldest client.
	waiting := 0
	for i := range pl.Pools {
		if pl.Pools[i].Database == db {
			waiting += pl.Pools[i].ClientsWaiting
		}
	}
	name := strings.ToUpper(clean(db))
	var b strings.Builder
	// What the pools leave: their heading and header, a blank line and
	// the two sections' headings.
	room := max(2, p.h-5-p.list.height)
	section := func(head string, rows []string, room int) {
		b.WriteString("\n" + fitCell(st.Column.Render(head), p.w, false))
		for i, r := range rows {
			if i == room-1 && len(rows) > room {
				fmt.Fprintf(&b, "\n  … %d more", len(rows)-i)
				break
			}
			b.WriteString("\n" + fitCell(r, p.w, false))
		}
	}
	section(fmt.Sprintf("SERVER CONNECTIONS OF %s (%d)", name, len(servers)), servers, max(1, min(len(servers), room/2)))
	section(fmt.Sprintf("CLIENTS OF %s (%d waiting)", name, waiting), clients, max(1, room-min(len(servers), room/2)))
	return strings.TrimPrefix(b.String(), "\n")
}

// backendText is what a server connection's backend does, or why that
// is not known.
func backendText(be *inspect.PoolBackend, pid int) string {
	if be == nil {
		if pid == 0 {
			return ""
		}
		return fmt.Sprintf(" backend %d (not of the watched server)", pid)
	}
	text := fmt.Sprintf(" backend %d %s", pid, clean(be.State))
	if be.WaitEvent != "" {
		text += " · waits " + clean(be.WaitEvent)
	}
	if be.Root != 0 {
		text += fmt.Sprintf(" · behind pid %d", be.Root)
	}
	return text
}
