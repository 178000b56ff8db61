package tui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// clean is the one way a server string becomes screen text.
func clean(s string) string { return safetext.Line(s) }

func pidKey(pid int) string { return "pid:" + strconv.Itoa(pid) }

func indexKey(ix *inspect.Index) string {
	return "index:" + ix.Database + ":" + strconv.FormatUint(uint64(ix.OID), 10)
}

// node returns the lock-forest node of a backend, or nil.
func (c *common) node(pid int) *inspect.LockNode {
	if i, ok := c.nodeByPID[pid]; ok {
		return &c.snap.LockForest.Nodes[i]
	}
	return nil
}

// index rebuilds what every pane looks up, once per snapshot.
func (c *common) index() {
	clear(c.nodeByPID)
	if c.snap == nil {
		return
	}
	if c.nodeByPID == nil {
		c.nodeByPID = make(map[int]int, len(c.snap.LockForest.Nodes))
	}
	for i := range c.snap.LockForest.Nodes {
		if n := &c.snap.LockForest.Nodes[i]; n.Backend >= 0 {
			c.nodeByPID[n.PID] = i
		}
	}
}

// stateWord says what a backend is doing, in the words the screen uses
// everywhere: BLOCKING and WAITING before what pg_stat_activity calls its
// state, because that is what matters in a pile-up.
func stateWord(b *inspect.Backend, n *inspect.LockNode) string {
	switch {
	case n != nil && n.Cycle:
		return "DEADLOCK"
	case n != nil && n.IsRoot() && len(n.Children) > 0:
		return "BLOCKING"
	case n != nil && n.Queued:
		return "QUEUED"
	case b.WaitsOnLock():
		return "WAITING"
	}
	switch b.State {
	case "active":
		return "ACTIVE"
	case "idle":
		return "IDLE"
	case "idle in transaction":
		return "IDLE IN TX"
	case "idle in transaction (aborted)":
		return "ABORTED TX"
	case "fastpath function call":
		return "FASTPATH"
	case "":
		if !b.IsClient() {
			return strings.ToUpper(shortType(b.BackendType))
		}
		return "?"
	}
	return strings.ToUpper(clean(b.State))
}

func shortType(t string) string {
	switch t {
	case "autovacuum worker":
		return "autovacuum"
	case "autovacuum launcher":
		return "av launcher"
	case "logical replication launcher":
		return "repl launcher"
	case "background writer":
		return "bgwriter"
	}
	return clean(t)
}

func stateStyle(st *Styles, word string) *lipgloss.Style {
	switch word {
	case "DEADLOCK", "BLOCKING":
		return &st.Bad
	case "WAITING", "QUEUED", "IDLE IN TX", "ABORTED TX", "BEHIND", "INACTIVE":
		return &st.Warn
	case "ACTIVE":
		return &st.OK
	}
	return nil
}

// age renders a duration for a table cell; "" for zero.
func age(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return human.Duration(d)
}

// stateAge is how long a backend has been doing what it does: its
// statement when active, its idleness when idle in a transaction.
func stateAge(b *inspect.Backend, now time.Time) time.Duration {
	if b.State == "active" {
		return b.QueryAge(now)
	}
	return b.StateAge(now)
}

func lockText(w *inspect.LockWait) string {
	if w == nil {
		return ""
	}
	if w.Relation != "" {
		return clean(w.Mode) + " on " + clean(w.Relation)
	}
	return clean(w.Mode) + " (" + clean(w.LockType) + ")"
}

func pidList(pids []int) string {
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = strconv.Itoa(p)
	}
	return strings.Join(parts, ",")
}

// containsFold is a case-insensitive substring test for the filter.
func containsFold(haystack, needle string) bool {
	return strings.Contains(strings.ToLower(haystack), needle)
}
