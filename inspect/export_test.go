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

// QuickWALSpikes makes c call a WAL rate of floor bytes per second or
// more a spike as soon as it has a baseline of three refreshes older than
// RateWindow: a live test cannot wait minutes for one, and its load
// should not have to write 8 MB/s on a slow machine.
func QuickWALSpikes(c *Collector, floor float64) {
	c.walRule = walSpikeRule{factor: defaultWALSpikeRule.factor, floor: floor}
}

// WALBaseline is c's baseline of the WAL rate at now, if it has one.
func WALBaseline(c *Collector, now time.Time) (float64, bool) {
	return c.walHistory.baseline(now, c.walRule)
}
