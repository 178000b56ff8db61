package inspect

import "time"

// StalePrevious makes the collector hold an older version of pid's row, as
// if its previous read had come just before a change that was stamped
// before that read's clock but written after it: the race a clock-based
// "unchanged since" test misses.
func StalePrevious(c *Collector, pid int, query string, stateChange time.Time) {
	for i := range c.prev.Backends {
		if b := &c.prev.Backends[i]; b.PID == pid {
			b.Query, b.StateChange = query, &stateChange
		}
	}
}

// OnePassAt makes c work out the lock graph in one pass over pg_locks from
// n waiters on.
func OnePassAt(c *Collector, n int) { c.onePassAt = n }

// OnePassNext reports whether c's next snapshot takes one pass over
// pg_locks.
func OnePassNext(c *Collector) bool { return c.graphArgs()[3].(bool) }

// QuickWALBaseline makes a WAL spike need only a second of baseline,
// ended half a second ago, until the test ends.
func QuickWALBaseline(t interface{ Cleanup(func()) }) {
	gap, min := baselineGap, walBaselineMin
	baselineGap, walBaselineMin = 500*time.Millisecond, time.Second
	t.Cleanup(func() { baselineGap, walBaselineMin = gap, min })
}
