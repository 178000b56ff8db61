package inspect

// QuietPIDs are the pids the collector's last activity read left out as
// quiet, sorted.
func QuietPIDs(c *Collector) []int32 { return c.quiet }
