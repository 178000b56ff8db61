package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
)

// Connections columns, in the order of connRow.cells.
const (
	colPID = iota
	colState
	colAge
	colXact
	colWait
	colBlockedBy
	colUser
	colApp
	colDB
	colClient
	colQuery
)

var connColumns = []column{
	{title: "PID", width: 7, priority: 100, right: true},
	{title: "STATE", width: 10, priority: 100},
	{title: "AGE", width: 7, priority: 95, right: true},
	{title: "XACT", width: 7, priority: 60, right: true},
	{title: "WAIT", width: 18, priority: 50},
	{title: "BLOCKED BY", width: 11, priority: 85},
	{title: "USER", width: 10, priority: 65},
	{title: "APP", width: 12, priority: 75},
	{title: "DB", width: 10, priority: 55},
	{title: "CLIENT", width: 15, priority: 30},
	{title: "QUERY", min: 16, priority: 100, flex: true},
}

// sortOrder is the cycle of `s`; state ranks the pile-up first.
var sortOrder = []int{colState, colAge, colXact, colPID, colUser, colApp, colDB, colClient}

// connRow is one backend. A refresh builds only what sorting needs; the
// cells are built when the row is drawn, filtered or sorted on a text
// column, so 600 backends cost 60 drawn rows.
type connRow struct {
	key  string
	b    *inspect.Backend
	pid  int
	rank int           // state severity, for sorting
	age  time.Duration // for sorting
	xact time.Duration
	word string
}

var stateRank = map[string]int{"DEADLOCK": 0, "BLOCKING": 1, "WAITING": 2, "QUEUED": 2, "ABORTED TX": 3, "IDLE IN TX": 3, "ACTIVE": 4, "IDLE": 5}

// groupings are the `b` cycle: none, then counts per key.
var groupings = []string{"", "application", "user", "database", "client"}

type connections struct {
	keys  map[int]string // pidKey by pid: the same backends come back each refresh
	all   []connRow      // every backend, built on refresh
	rows  []connRow      // filtered and sorted
	list  list
	table *table
	sort  int // index into sortOrder
	desc  bool
	group int // index into groupings
	w     int
}

// key is pidKey(pid), kept from one refresh to the next.
func (p *connections) key(pid int) string {
	k, ok := p.keys[pid]
	if !ok {
		if p.keys == nil {
			p.keys = map[int]string{}
		}
		k = pidKey(pid)
		p.keys[pid] = k
	}
	return k
}

func newConnections() *connections {
	return &connections{table: newTable(connColumns)}
}

func (p *connections) title() string { return "Connections" }

func (p *connections) refresh(c *common) {
	p.all = p.all[:0]
	if c.snap != nil && len(p.keys) > 4*len(c.snap.Backends)+1024 {
		clear(p.keys) // backends come and go; do not keep them all
	}
	if c.snap != nil {
		now := c.snap.ServerTime
		for i := range c.snap.Backends {
			b := &c.snap.Backends[i]
			if b.Own {
				continue
			}
			r := newConnRow(b, c.node(b.PID), now)
			r.key = p.key(b.PID)
			p.all = append(p.all, r)
		}
	}
	p.apply(c)
}

func newConnRow(b *inspect.Backend, n *inspect.LockNode, now time.Time) connRow {
	word := stateWord(b, n)
	rank, ok := stateRank[word]
	if !ok {
		rank = 6
	}
	return connRow{b: b, pid: b.PID, rank: rank, age: stateAge(b, now), xact: b.XactAge(now), word: word}
}

// cell is the text of one column.
func (r *connRow) cell(col int) string {
	b := r.b
	switch col {
	case colPID:
		return strconv.Itoa(b.PID)
	case colState:
		return r.word
	case colAge:
		return age(r.age)
	case colXact:
		return age(r.xact)
	case colWait:
		if b.WaitEventType != "" {
			return clean(b.WaitEventType) + ":" + clean(b.WaitEvent)
		}
	case colBlockedBy:
		blocked := pidList(b.BlockedBy)
		if b.BlockersTotal > len(b.BlockedBy) {
			blocked += "+" + strconv.Itoa(b.BlockersTotal-len(b.BlockedBy))
		}
		return blocked
	case colUser:
		return clean(b.User)
	case colApp:
		return clean(b.ApplicationName)
	case colDB:
		return clean(b.Database)
	case colClient:
		return clean(b.ClientAddr)
	case colQuery:
		if !b.IsClient() && b.Query == "" {
			return "(" + clean(b.BackendType) + ")"
		}
		return clean(b.Query)
	}
	return ""
}

func (r *connRow) cells() []string {
	cells := make([]string, len(connColumns))
	for col := range cells {
		cells[col] = r.cell(col)
	}
	return cells
}

// apply filters and sorts; called on refresh and when filter or sort change.
func (p *connections) apply(c *common) {
	needle := strings.ToLower(c.filter)
	p.rows = p.rows[:0]
	for i := range p.all {
		if needle == "" || matchesFilter(&p.all[i], needle) {
			p.rows = append(p.rows, p.all[i])
		}
	}
	col := sortOrder[p.sort]
	// The pid breaks every tie, so the order is total and needs no
	// stable sort.
	slices.SortFunc(p.rows, func(a, b connRow) int {
		var c int
		switch col {
		case colState:
			c = cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.age, a.age))
		case colAge:
			c = cmp.Compare(b.age, a.age)
		case colXact:
			c = cmp.Compare(b.xact, a.xact)
		case colPID:
			c = cmp.Compare(a.pid, b.pid)
		default:
			c = strings.Compare(strings.ToLower(a.cell(col)), strings.ToLower(b.cell(col)))
		}
		if p.desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.pid, b.pid))
	})
	keys := make([]string, len(p.rows))
	for i := range p.rows {
		keys[i] = p.rows[i].key
	}
	p.list.setKeys(keys)
	p.table.forget()
}

func matchesFilter(r *connRow, needle string) bool {
	for _, col := range []int{colUser, colApp, colDB, colClient, colState, colQuery} {
		if containsFold(r.cell(col), needle) {
			return true
		}
	}
	return false
}

func (p *connections) setSize(w, h int) {
	p.w = w
	p.table.setWidth(w)
	if !p.table.shows(sortOrder[p.sort]) {
		p.sort = 0 // state: always shown
	}
	p.list.setHeight(h - 1)
}

func (p *connections) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	k := &c.keys
	switch {
	case key.Matches(msg, k.Sort):
		p.sort = p.nextSort()
		p.desc = false
		p.apply(c)
	case key.Matches(msg, k.Order):
		p.desc = !p.desc
		p.apply(c)
	case key.Matches(msg, k.Group):
		p.group = (p.group + 1) % len(groupings)
	default:
		return moveList(&p.list, k, msg), nil
	}
	return true, nil
}

// nextSort is the next position of `s` whose column is on screen: a
// narrow terminal drops columns, and sorting by one not shown would look
// like no order at all.
func (p *connections) nextSort() int {
	for i := 1; i <= len(sortOrder); i++ {
		if next := (p.sort + i) % len(sortOrder); p.table.shows(sortOrder[next]) {
			return next
		}
	}
	return 0
}

func (p *connections) commands(c *common) []command {
	k := &c.keys
	return append(moveCommands(k),
		command{key: bind(k.Sort, "sort by "+strings.ToLower(connColumns[sortOrder[p.nextSort()]].title)), hint: hintSort},
		command{key: k.Order, hint: hintOrder},
		command{key: k.Group, hint: hintGroup})
}

func (p *connections) selected() target {
	if p.list.cursor < len(p.rows) {
		return target{pid: p.rows[p.list.cursor].pid}
	}
	return target{}
}

func (p *connections) view(c *common) string {
	if c.snap == nil {
		return "\n  Waiting for the first snapshot…"
	}
	if p.group > 0 {
		return p.groupView(c)
	}
	var b strings.Builder
	b.WriteString(p.table.header(c, sortOrder[p.sort], p.desc))
	if len(p.rows) == 0 {
		b.WriteString("\n  No backend matches the filter.")
		return b.String()
	}
	p.table.window(&b, c, &p.list, colState, func(i int) ([]string, string) { return p.rows[i].cells(), p.rows[i].word })
	return b.String()
}

// groupView shows client backends counted by the chosen key.
func (p *connections) groupView(c *common) string {
	sat := &c.snap.Saturation
	var counts []inspect.Count
	switch groupings[p.group] {
	case "application":
		counts = sat.ByApplication
	case "user":
		counts = sat.ByUser
	case "database":
		counts = sat.ByDatabase
	case "client":
		counts = sat.ByClient
	}
	st := &c.styles
	var b strings.Builder
	fmt.Fprintf(&b, "%s  (b: next grouping)\n", st.Column.Render(fmt.Sprintf("CLIENT BACKENDS BY %s", strings.ToUpper(groupings[p.group]))))
	for i, cnt := range counts {
		if i == p.list.height-1 && len(counts) > p.list.height {
			fmt.Fprintf(&b, "  … and %d more", len(counts)-i)
			break
		}
		k := clean(cnt.Key)
		if k == "" {
			k = "(none)"
		}
		fmt.Fprintf(&b, "%6d  %s\n", cnt.N, k)
	}
	return strings.TrimRight(b.String(), "\n")
}
