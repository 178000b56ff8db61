package recording

import (
	"slices"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// record is one refresh inside the compressed stream: a whole snapshot in
// a keyframe, what changed in a delta. A nil field of a delta is
// unchanged; the lock forest and the saturation are not kept, they are
// computed again from the backends as the collector computes them.
type record struct {
	TakenAt    time.Time       `json:"taken_at"`
	ServerTime time.Time       `json:"server_time"`
	Server     *inspect.Server `json:"server,omitempty"`
	// Set holds the backends that are new or changed (all of them in a
	// keyframe); Gone the pids that left.
	Set  []inspect.Backend `json:"set,omitempty"`
	Gone []int             `json:"gone,omitempty"`

	Indexes       *[]inspect.Index        `json:"indexes,omitempty"`
	IndexesReadAt *time.Time              `json:"indexes_read_at,omitempty"`
	Databases     *[]string               `json:"databases,omitempty"`
	Builds        *[]inspect.IndexBuild   `json:"builds,omitempty"`
	Prepared      *[]inspect.PreparedXact `json:"prepared,omitempty"`
	Warnings      *[]string               `json:"warnings,omitempty"`
}

// keyframe describes s whole.
func keyframe(s *inspect.Snapshot) *record {
	return &record{TakenAt: s.TakenAt, ServerTime: s.ServerTime, Server: &s.Server, Set: s.Backends,
		Indexes: &s.Indexes, IndexesReadAt: &s.IndexesReadAt, Databases: &s.Databases, Builds: &s.Builds,
		Prepared: &s.Prepared, Warnings: &s.Warnings}
}

// delta describes what changed from prev to s. Comparing field by field
// is what keeps recording cheap: at 600 backends most are the same from
// one second to the next, and only the others are encoded.
func delta(prev, s *inspect.Snapshot) *record {
	r := &record{TakenAt: s.TakenAt, ServerTime: s.ServerTime}
	if s.Server != prev.Server {
		r.Server = &s.Server
	}
	// The server lists backends in the same order from one refresh to
	// the next, so most are compared with the one at the same place; a
	// map is built only once the lists stop matching.
	var before map[int]*inspect.Backend
	for i := range s.Backends {
		b := &s.Backends[i]
		if before == nil && i < len(prev.Backends) && prev.Backends[i].PID == b.PID {
			if !sameBackend(&prev.Backends[i], b) {
				r.Set = append(r.Set, *b)
			}
			continue
		}
		if before == nil {
			before = make(map[int]*inspect.Backend, len(prev.Backends)-i)
			for j := i; j < len(prev.Backends); j++ {
				before[prev.Backends[j].PID] = &prev.Backends[j]
			}
		}
		if p, ok := before[b.PID]; !ok || !sameBackend(p, b) {
			r.Set = append(r.Set, *b)
		}
		delete(before, b.PID)
	}
	if before == nil {
		for j := len(s.Backends); j < len(prev.Backends); j++ {
			r.Gone = append(r.Gone, prev.Backends[j].PID)
		}
	}
	for pid := range before {
		r.Gone = append(r.Gone, pid)
	}
	slices.Sort(r.Gone)
	if !s.IndexesReadAt.Equal(prev.IndexesReadAt) || len(s.Indexes) != len(prev.Indexes) {
		r.Indexes, r.IndexesReadAt, r.Databases = &s.Indexes, &s.IndexesReadAt, &s.Databases
	}
	if !slices.EqualFunc(s.Builds, prev.Builds, func(a, b inspect.IndexBuild) bool { return a == b }) {
		r.Builds = &s.Builds
	}
	if !slices.Equal(s.Prepared, prev.Prepared) {
		r.Prepared = &s.Prepared
	}
	if !slices.Equal(s.Warnings, prev.Warnings) {
		r.Warnings = &s.Warnings
	}
	if !slices.Equal(s.Databases, prev.Databases) {
		r.Databases = &s.Databases
	}
	return r
}

// apply turns the previous refresh's snapshot into this one's, without
// what derive adds. Backends keep their order: changed ones in place,
// new ones at the end.
func (r *record) apply(prev *inspect.Snapshot) *inspect.Snapshot {
	s := &inspect.Snapshot{TakenAt: r.TakenAt, ServerTime: r.ServerTime}
	if prev != nil {
		s.Server, s.Indexes, s.IndexesReadAt, s.Databases = prev.Server, prev.Indexes, prev.IndexesReadAt, prev.Databases
		s.Builds, s.Prepared, s.Warnings = prev.Builds, prev.Prepared, prev.Warnings
	}
	if r.Server != nil {
		s.Server = *r.Server
	}
	set := make(map[int]int, len(r.Set))
	for i := range r.Set {
		set[r.Set[i].PID] = i
	}
	gone := make(map[int]bool, len(r.Gone))
	for _, pid := range r.Gone {
		gone[pid] = true
	}
	if prev != nil {
		s.Backends = make([]inspect.Backend, 0, len(prev.Backends)+len(r.Set))
		for i := range prev.Backends {
			pid := prev.Backends[i].PID
			switch j, ok := set[pid]; {
			case gone[pid]:
			case ok:
				s.Backends = append(s.Backends, r.Set[j])
				delete(set, pid)
			default:
				s.Backends = append(s.Backends, prev.Backends[i])
			}
		}
	}
	for i := range r.Set {
		if _, ok := set[r.Set[i].PID]; ok {
			s.Backends = append(s.Backends, r.Set[i])
		}
	}
	if r.Indexes != nil {
		s.Indexes = *r.Indexes
	}
	if r.IndexesReadAt != nil {
		s.IndexesReadAt = *r.IndexesReadAt
	}
	if r.Databases != nil {
		s.Databases = *r.Databases
	}
	if r.Builds != nil {
		s.Builds = *r.Builds
	}
	if r.Prepared != nil {
		s.Prepared = *r.Prepared
	}
	if r.Warnings != nil {
		s.Warnings = *r.Warnings
	}
	return s
}

// derive computes what the collector computes rather than reads: only
// for the snapshot asked for, not for each delta on the way to it.
func derive(s *inspect.Snapshot) {
	s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, s.ServerTime)
	s.LockForest = inspect.BuildForest(s.Backends, s.ServerTime)
}

// sameBackend compares every field a recording keeps. TestSameBackend
// fails when a field is added to inspect.Backend and not here.
func sameBackend(a, b *inspect.Backend) bool {
	return a.PID == b.PID && a.LeaderPID == b.LeaderPID && a.BackendType == b.BackendType &&
		a.Database == b.Database && a.User == b.User && a.ApplicationName == b.ApplicationName &&
		a.ClientAddr == b.ClientAddr && a.State == b.State && a.WaitEventType == b.WaitEventType &&
		a.WaitEvent == b.WaitEvent && sameTime(a.BackendStart, b.BackendStart) &&
		sameTime(a.XactStart, b.XactStart) && sameTime(a.QueryStart, b.QueryStart) &&
		sameTime(a.StateChange, b.StateChange) && a.Query == b.Query &&
		slices.Equal(a.BlockedBy, b.BlockedBy) && a.BlockersTotal == b.BlockersTotal &&
		slices.Equal(a.QueuedBehind, b.QueuedBehind) && sameWait(a.Waiting, b.Waiting) &&
		a.PreparedGID == b.PreparedGID && a.Superuser == b.Superuser && a.Own == b.Own
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func sameWait(a, b *inspect.LockWait) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.LockType == b.LockType && a.Mode == b.Mode && a.Relation == b.Relation && sameTime(a.Since, b.Since)
}
