package tui

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// maxChildren is the fewest waiters of one blocker drawn before a "+N
// more" row (enter on it shows them all): more are drawn when the view
// has the rows (childCap).
const maxChildren = 10

const (
	lcSession = iota
	lcState
	lcWait
	lcLock
	lcBlocks
	lcApp
	lcQueryAge
	lcQuery
)

var lockColumns = []column{
	{title: "SESSION", width: 8, priority: 100}, // widened to the deepest row
	{title: "STATE", width: 10, priority: 100},
	{title: "WAITING", width: 8, priority: 95, right: true},
	{title: "LOCK", width: 28, priority: 90},
	{title: "BLOCKS", width: 6, priority: 85, right: true},
	{title: "APP", width: 12, priority: 60},
	{title: "QUERY AGE", width: 9, priority: 40, right: true},
	{title: "QUERY TEXT", min: 12, priority: 70, flex: true},
}

type lockRow struct {
	key    string
	target target
	cells  []string
	word   string
}

type locks struct {
	rows     []lockRow
	list     list
	table    *table
	expanded map[int]bool // parents whose waiters are all shown
	w, h     int
}

func newLocks() *locks {
	return &locks{table: newTable(lockColumns), expanded: map[int]bool{}}
}

func (p *locks) title() string { return "Locks" }

func (p *locks) refresh(c *common) {
	p.rows = p.rows[:0]
	if c.snap != nil {
		f := &c.snap.LockForest
		limit := p.childCap(f)
		for _, r := range f.Roots {
			p.walk(c, f, r, "", "", limit)
		}
	}
	keys := make([]string, len(p.rows))
	widest := len("SESSION")
	for i := range p.rows {
		keys[i] = p.rows[i].key
		widest = max(widest, ansiWidth(p.rows[i].cells[lcSession]))
	}
	p.list.setKeys(keys)
	p.table.forget()
	// The tree column is as wide as its deepest row, within reason.
	if w := min(widest, 30); w != p.table.all[lcSession].width {
		p.table.all[lcSession].width = w
		p.table.setWidth(p.w)
	}
}

// childCap is how many waiters of one blocker are drawn: the most that
// let the whole tree fit the view's rows, and never fewer than
// maxChildren (a bigger tree scrolls).
func (p *locks) childCap(f *inspect.LockForest) int {
	rows := p.h - 1
	var count func(i, limit int) int
	count = func(i, limit int) int {
		n := &f.Nodes[i]
		c := 1
		shown := n.Children
		if len(shown) > limit && !p.expanded[n.PID] {
			shown, c = shown[:limit], 2 // and its "+N more" row
		}
		for _, ch := range shown {
			c += count(ch, limit)
		}
		return c
	}
	limit := max(maxChildren, rows)
	for ; limit > maxChildren; limit-- {
		total := 0
		for _, r := range f.Roots {
			total += count(r, limit)
		}
		if total <= rows {
			break
		}
	}
	return limit
}

// walk adds node i and its subtree. first prefixes the node's own row,
// rest the rows beneath it: the tree glyphs.
func (p *locks) walk(c *common, f *inspect.LockForest, i int, first, rest string, limit int) {
	n := &f.Nodes[i]
	p.rows = append(p.rows, lockRowFor(c, n, first))
	shown := n.Children
	if len(shown) > limit && !p.expanded[n.PID] {
		shown = shown[:limit]
	}
	for k, ch := range shown {
		if k == len(n.Children)-1 {
			p.walk(c, f, ch, rest+"└─", rest+"  ", limit)
		} else {
			p.walk(c, f, ch, rest+"├─", rest+"│ ", limit)
		}
	}
	if more := len(n.Children) - len(shown); more > 0 {
		cells := make([]string, len(lockColumns))
		cells[lcSession] = rest + "└─ +" + strconv.Itoa(more) + " more"
		cells[lcQuery] = fmt.Sprintf("%d more sessions wait directly on pid %d (enter shows them)", more, n.PID)
		p.rows = append(p.rows, lockRow{key: "more:" + strconv.Itoa(n.PID), target: target{more: n.PID}, cells: cells})
	}
}

func lockRowFor(c *common, n *inspect.LockNode, prefix string) lockRow {
	s := c.snap
	now := s.ServerTime
	cells := make([]string, len(lockColumns))
	row := lockRow{key: pidKey(n.PID), target: target{pid: n.PID}, cells: cells}
	cells[lcSession] = prefix + strconv.Itoa(n.PID)
	if n.BlockedTotal > 0 {
		cells[lcBlocks] = strconv.Itoa(n.BlockedTotal)
	}
	switch {
	case n.Backend < 0 && n.PID == 0:
		gid := n.PreparedGID
		if gid == "" {
			gid = "(unknown gid)"
		}
		row.key, row.target = "prepared:"+gid, target{gid: n.PreparedGID}
		row.word = "PREPARED"
		cells[lcSession] = prefix + "2PC"
		cells[lcQuery] = "prepared transaction '" + clean(gid) + "': no backend; COMMIT/ROLLBACK PREPARED in its database"
	case n.Backend < 0:
		row.word = "GONE"
		cells[lcQuery] = "exited since the locks were read"
	default:
		b := &s.Backends[n.Backend]
		row.word = stateWord(b, n)
		if !n.IsRoot() {
			cells[lcWait] = age(n.Wait)
			lock := lockText(b.Waiting)
			if n.Queued {
				lock = "queued: " + lock
			}
			cells[lcLock] = lock
		} else if b.IdleInTransaction() {
			cells[lcLock] = "holds; idle " + human.Duration(b.StateAge(now))
		} else {
			cells[lcLock] = "holds; " + strings.ToLower(stateWord(b, nil))
		}
		if len(n.OtherBlockers) > 0 || n.BlockersTotal > len(n.OtherBlockers)+1 {
			cells[lcLock] += " +" + strconv.Itoa(max(len(n.OtherBlockers), n.BlockersTotal-1)) + " blockers"
		}
		cells[lcApp] = clean(b.ApplicationName)
		cells[lcQueryAge] = age(b.QueryAge(now))
		cells[lcQuery] = clean(b.Query)
	}
	if n.Cycle {
		row.word = "DEADLOCK"
	}
	cells[lcState] = row.word
	return row
}

func (p *locks) setSize(w, h int) {
	p.w, p.h = w, h
	p.table.setWidth(w)
	p.list.setHeight(h - 1)
}

func (p *locks) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	if key.Matches(msg, c.keys.Details) {
		if sel := p.selected(); sel.more != 0 {
			p.expanded[sel.more] = true
			p.refresh(c)
			return true, nil
		}
	}
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *locks) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *locks) selected() target {
	if p.list.cursor < len(p.rows) {
		return p.rows[p.list.cursor].target
	}
	return target{}
}

func (p *locks) view(c *common) string {
	st := &c.styles
	if c.snap == nil {
		return "\n  Waiting for the first snapshot…"
	}
	if len(p.rows) == 0 {
		return "\n  " + st.OK.Render("No lock waits:") + " no session is waiting for a lock another session holds."
	}
	var b strings.Builder
	b.WriteString(p.table.header(c, -1, false))
	p.table.window(&b, c, &p.list, lcState, func(i int) ([]string, string) { return p.rows[i].cells, p.rows[i].word })
	return b.String()
}
