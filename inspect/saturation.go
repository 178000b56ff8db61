package inspect

import (
	"cmp"
	"slices"
	"time"
)

// Saturation answers "how close is the pool to the wall?" for the slots of
// max_connections: only client backends take them (autovacuum, parallel
// workers and WAL senders have pools of their own).
type Saturation struct {
	// Used counts client backends, our own included: it holds a slot too,
	// and the server counts it when it refuses the next connection.
	Used int `json:"slots_used"`
	// Usable is what ordinary roles can fill (max_connections minus every
	// reserved slot); Percent is Used against it.
	Usable  int     `json:"slots_usable"`
	Max     int     `json:"max_connections"`
	Percent float64 `json:"percent_of_usable"`
	// Free is Usable - Used; negative once superusers eat into the
	// reserved slots.
	Free int `json:"slots_free"`

	// The breakdowns below leave our own session out.
	Active          int `json:"active"`
	Idle            int `json:"idle"`
	IdleInTx        int `json:"idle_in_transaction"`
	IdleInTxAborted int `json:"idle_in_transaction_aborted"`
	WaitingOnLock   int `json:"waiting_on_lock"`
	// OtherStates counts client backends in any other state, including
	// those whose state we may not see (no pg_read_all_stats).
	OtherStates int `json:"other_states"`

	OldestXact      time.Duration `json:"-"`
	LongestIdleInTx time.Duration `json:"-"`

	ByApplication []Count `json:"by_application"`
	ByUser        []Count `json:"by_user"`
	ByDatabase    []Count `json:"by_database"`
	ByClient      []Count `json:"by_client"`
}

// DefaultWarnPercent is where the pool turns to a warning: well before it
// is full, not at 90.
const DefaultWarnPercent = 75

// Level names how full the pool is, in the one word every view uses:
// ok, HIGH (from warn percent), CRITICAL (90) or FULL (100).
func (s *Saturation) Level(warn float64) string {
	switch {
	case s.Percent >= 100:
		return "FULL"
	case s.Percent >= 90:
		return "CRITICAL"
	case s.Percent >= warn:
		return "HIGH"
	}
	return "ok"
}

// Count is one group of a breakdown.
type Count struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

// ComputeSaturation counts client backends against the server's limits.
func ComputeSaturation(srv Server, backends []Backend, now time.Time) Saturation {
	s := Saturation{Usable: srv.Usable, Max: srv.MaxConnections}
	var apps, users, dbs, clients countMap
	for i := range backends {
		b := &backends[i]
		if !b.IsClient() {
			continue
		}
		s.Used++
		if b.Own {
			continue
		}
		switch b.State {
		case "active":
			s.Active++
		case "idle":
			s.Idle++
		case "idle in transaction":
			s.IdleInTx++
		case "idle in transaction (aborted)":
			s.IdleInTxAborted++
		default:
			s.OtherStates++
		}
		if b.WaitsOnLock() {
			s.WaitingOnLock++
		}
		s.OldestXact = max(s.OldestXact, b.XactAge(now))
		if b.IdleInTransaction() {
			s.LongestIdleInTx = max(s.LongestIdleInTx, b.StateAge(now))
		}
		apps.add(b.ApplicationName)
		users.add(b.User)
		dbs.add(b.Database)
		clients.add(clientKey(b.ClientAddr))
	}
	s.Free = s.Usable - s.Used
	if s.Usable > 0 {
		s.Percent = float64(s.Used) * 100 / float64(s.Usable)
	}
	s.ByApplication = apps.sorted()
	s.ByUser = users.sorted()
	s.ByDatabase = dbs.sorted()
	s.ByClient = clients.sorted()
	return s
}

func clientKey(addr string) string {
	if addr == "" {
		return "local socket"
	}
	return addr
}

// countMap counts backends per key. Backends come sorted by pid, and a
// pool opens its connections in a row, so neighbours mostly share their
// application, user and database: a run of the same key is counted
// before the map is touched, which spares most of its hashing.
type countMap struct {
	m    map[string]int
	last string
	run  int
}

func (c *countMap) add(key string) {
	if c.run > 0 && key == c.last {
		c.run++
		return
	}
	c.flush()
	c.last, c.run = key, 1
}

func (c *countMap) flush() {
	if c.run == 0 {
		return
	}
	if c.m == nil {
		c.m = make(map[string]int)
	}
	c.m[c.last] += c.run
	c.run = 0
}

// sorted returns the groups largest first, ties by name.
func (c *countMap) sorted() []Count {
	c.flush()
	out := make([]Count, 0, len(c.m))
	for k, n := range c.m {
		out = append(out, Count{Key: k, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}
