package inspect

import "time"

// ServerLine is one server of several, in one line: what an on-call
// engineer looks at first on each (is its pool filling, does anyone
// block, are indexes broken, do its standbys keep up).
type ServerLine struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	// Error says why the server could not be read; the rest is empty.
	// NeedsPassword says the server is up and refused the connection for
	// its password (none given, or the one given).
	Error         string `json:"error,omitempty"`
	NeedsPassword bool   `json:"needs_password,omitempty"`
	Version       string `json:"version,omitempty"`
	InRecovery    bool   `json:"in_recovery"`
	// Percent of the usable slots in use, Used of Usable.
	Percent float64 `json:"percent_of_usable"`
	Used    int     `json:"slots_used"`
	Usable  int     `json:"slots_usable"`
	// RootBlockers and Waiting: the lock forest's roots and the sessions
	// waiting on locks; LongestWait the longest of those waits.
	RootBlockers int     `json:"root_blockers"`
	Waiting      int     `json:"waiting_on_lock"`
	LongestWait  float64 `json:"longest_wait_seconds"`
	Invalid      int     `json:"invalid_indexes"`
	Builds       int     `json:"builds"`
	// LagBytes and LagSeconds are the most any standby of a primary is
	// behind in replay, or a standby's own replay lag and delay.
	LagBytes   *int64   `json:"lag_bytes"`
	LagSeconds *float64 `json:"lag_seconds"`
	// PoolerWaiting counts the clients queued in its PgBouncer, when
	// pgmedic reads one for it.
	PoolerWaiting *int      `json:"pgbouncer_waiting,omitempty"`
	ReadAt        time.Time `json:"read_at"`
}

// Overview is a snapshot's line.
func Overview(name, target string, s *Snapshot) ServerLine {
	l := ServerLine{Name: name, Target: target, Version: s.Server.Version, InRecovery: s.Server.InRecovery,
		Percent: s.Saturation.Percent, Used: s.Saturation.Used, Usable: s.Saturation.Usable,
		RootBlockers: len(s.LockForest.Roots), Waiting: s.LockForest.Waiting, Builds: len(s.Builds), ReadAt: s.TakenAt}
	for _, r := range s.LockForest.Roots {
		l.LongestWait = max(l.LongestWait, s.LockForest.Nodes[r].LongestWait.Seconds())
	}
	for i := range s.Indexes {
		if s.Indexes[i].Status != IndexBuilding {
			l.Invalid++
		}
	}
	if r := s.Replication; r != nil {
		if st := r.Standby; st != nil {
			l.LagBytes, l.LagSeconds = st.ReplayLagBytes, st.ReplayDelaySeconds
		}
		for i := range r.Standbys {
			sb := &r.Standbys[i]
			if sb.ReplayLagBytes != nil && (l.LagBytes == nil || *sb.ReplayLagBytes > *l.LagBytes) {
				l.LagBytes = sb.ReplayLagBytes
			}
			if sb.ReplayLag != nil && (l.LagSeconds == nil || *sb.ReplayLag > *l.LagSeconds) {
				l.LagSeconds = sb.ReplayLag
			}
		}
	}
	if p := s.Pooler; p != nil && p.Error == "" {
		n := 0
		for i := range p.Pools {
			n += p.Pools[i].ClientsWaiting
		}
		l.PoolerWaiting = &n
	}
	return l
}
