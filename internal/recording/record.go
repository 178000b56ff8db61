package recording

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// record is one refresh inside the compressed stream: a whole snapshot in
// a keyframe, what changed in a delta. The lock forest and the saturation
// are not kept: they are computed again from the backends as the
// collector computes them.
//
// Records are gob, one encoder a segment: the types are described once,
// at its keyframe, and every record after it is values only. The
// backends, nearly all of a record, are gob values; JSON cost three times
// the CPU there (time.Time's MarshalJSON, then compacting what it
// returns) and twice the bytes before compression. Gob leaves out zero
// values, so a pointer to a zero or an empty slice would come back nil:
// no field of a Backend can hold one that matters (TestBackendGob checks
// its pointers). The other parts, where an empty list or a 0% build does
// matter and which change rarely, are JSON in Others.
type record struct {
	TakenAt    time.Time
	ServerTime time.Time
	// Set holds the backends that are new or changed (all of them in a
	// keyframe); Gone the pids that left.
	Set  []*inspect.Backend
	Gone []int
	// Others is the JSON of the parts other than the backends that
	// changed (an others); empty when none did.
	Others []byte
}

// others are the parts of a snapshot besides its backends. A nil field
// is unchanged.
type others struct {
	Server        *inspect.Server         `json:"server,omitempty"`
	Indexes       *[]inspect.Index        `json:"indexes,omitempty"`
	IndexesReadAt *time.Time              `json:"indexes_read_at,omitempty"`
	Databases     *[]string               `json:"databases,omitempty"`
	Builds        *[]inspect.IndexBuild   `json:"builds,omitempty"`
	Operations    *[]inspect.Operation    `json:"operations,omitempty"`
	Rewrites      *[]inspect.Rewrite      `json:"rewrites,omitempty"`
	Replication   **inspect.Replication   `json:"replication,omitempty"`
	Pooler        **inspect.Pooler        `json:"pgbouncer,omitempty"`
	Prepared      *[]inspect.PreparedXact `json:"prepared,omitempty"`
	Warnings      *[]string               `json:"warnings,omitempty"`
}

func (r *record) setOthers(o *others) error {
	if *o == (others{}) {
		return nil
	}
	raw, err := json.Marshal(o)
	r.Others = raw
	return err
}

// keyframe describes s whole.
func keyframe(s *inspect.Snapshot) (*record, error) {
	r := &record{TakenAt: s.TakenAt, ServerTime: s.ServerTime, Set: make([]*inspect.Backend, len(s.Backends))}
	for i := range s.Backends {
		r.Set[i] = &s.Backends[i]
	}
	return r, r.setOthers(&others{Server: &s.Server, Indexes: &s.Indexes, IndexesReadAt: &s.IndexesReadAt,
		Databases: &s.Databases, Builds: &s.Builds, Operations: &s.Operations, Rewrites: &s.Rewrites, Replication: &s.Replication, Pooler: ptr(poolerForRecord(s.Pooler)), Prepared: &s.Prepared, Warnings: &s.Warnings})
}

func ptr[T any](v T) *T { return &v }

// poolerForRecord is the pooler as the recording keeps it: every pool and
// server connection, but of the clients only the oldest waiting one of
// each database. Hundreds of queued clients, each with a wait that
// changes every second, would otherwise be most of the file; the pools
// count them.
func poolerForRecord(p *inspect.Pooler) *inspect.Pooler {
	if p == nil {
		return nil
	}
	c := *p
	c.Clients = nil
	oldest := map[string]int{}
	for i := range p.Clients {
		cl := &p.Clients[i]
		if !cl.Waiting() {
			continue
		}
		j, ok := oldest[cl.Database]
		if !ok {
			oldest[cl.Database] = len(c.Clients)
			c.Clients = append(c.Clients, *cl)
		} else if cl.WaitSeconds > c.Clients[j].WaitSeconds {
			c.Clients[j] = *cl
		}
	}
	return &c
}

// delta describes what changed from prev to s. Comparing field by field
// is what keeps recording cheap: at 600 backends most are the same from
// one second to the next, and only the others are encoded.
func delta(prev, s *inspect.Snapshot) (*record, error) {
	r := &record{TakenAt: s.TakenAt, ServerTime: s.ServerTime}
	// The server lists backends in the same order from one refresh to
	// the next, so most are compared with the one at the same place; a
	// map is built only once the lists stop matching.
	var before map[int]*inspect.Backend
	for i := range s.Backends {
		b := &s.Backends[i]
		if before == nil && i < len(prev.Backends) && prev.Backends[i].PID == b.PID {
			if !sameBackend(&prev.Backends[i], b) {
				r.Set = append(r.Set, b)
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
			r.Set = append(r.Set, b)
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
	var o others
	if s.Server != prev.Server {
		o.Server = &s.Server
	}
	if !s.IndexesReadAt.Equal(prev.IndexesReadAt) || len(s.Indexes) != len(prev.Indexes) {
		o.Indexes, o.IndexesReadAt, o.Databases = &s.Indexes, &s.IndexesReadAt, &s.Databases
	}
	if !slices.EqualFunc(s.Builds, prev.Builds, func(a, b inspect.IndexBuild) bool { return a == b }) {
		o.Builds = &s.Builds
	}
	// A few operations at most, with pointers in them: compared deeply.
	if !reflect.DeepEqual(s.Operations, prev.Operations) {
		o.Operations = &s.Operations
	}
	if !reflect.DeepEqual(s.Rewrites, prev.Rewrites) {
		o.Rewrites = &s.Rewrites
	}
	if !reflect.DeepEqual(s.Replication, prev.Replication) {
		o.Replication = &s.Replication
	}
	if s.Pooler != nil || prev.Pooler != nil {
		if p := poolerForRecord(s.Pooler); !reflect.DeepEqual(p, poolerForRecord(prev.Pooler)) {
			o.Pooler = &p
		}
	}
	if !slices.Equal(s.Prepared, prev.Prepared) {
		o.Prepared = &s.Prepared
	}
	if !slices.Equal(s.Warnings, prev.Warnings) {
		o.Warnings = &s.Warnings
	}
	if !slices.Equal(s.Databases, prev.Databases) {
		o.Databases = &s.Databases
	}
	return r, r.setOthers(&o)
}

// apply turns the previous refresh's snapshot into this one's, without
// what derive adds. Backends keep their order: changed ones in place,
// new ones at the end.
func (r *record) apply(prev *inspect.Snapshot) (*inspect.Snapshot, error) {
	s := &inspect.Snapshot{TakenAt: r.TakenAt, ServerTime: r.ServerTime}
	if prev != nil {
		s.Server, s.Indexes, s.IndexesReadAt, s.Databases = prev.Server, prev.Indexes, prev.IndexesReadAt, prev.Databases
		s.Builds, s.Operations, s.Rewrites, s.Replication = prev.Builds, prev.Operations, prev.Rewrites, prev.Replication
		s.Pooler = prev.Pooler
		s.Prepared, s.Warnings = prev.Prepared, prev.Warnings
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
				s.Backends = append(s.Backends, *r.Set[j])
				delete(set, pid)
			default:
				s.Backends = append(s.Backends, prev.Backends[i])
			}
		}
	}
	for i := range r.Set {
		if _, ok := set[r.Set[i].PID]; ok {
			s.Backends = append(s.Backends, *r.Set[i])
		}
	}
	if len(r.Others) == 0 {
		return s, nil
	}
	var in struct {
		Server        json.RawMessage `json:"server"`
		Indexes       json.RawMessage `json:"indexes"`
		IndexesReadAt json.RawMessage `json:"indexes_read_at"`
		Databases     json.RawMessage `json:"databases"`
		Builds        json.RawMessage `json:"builds"`
		Operations    json.RawMessage `json:"operations"`
		Rewrites      json.RawMessage `json:"rewrites"`
		Replication   json.RawMessage `json:"replication"`
		Pooler        json.RawMessage `json:"pgbouncer"`
		Prepared      json.RawMessage `json:"prepared"`
		Warnings      json.RawMessage `json:"warnings"`
	}
	if err := json.Unmarshal(r.Others, &in); err != nil {
		return nil, err
	}
	return s, errors.Join(take(in.Server, &s.Server), take(in.Indexes, &s.Indexes),
		take(in.IndexesReadAt, &s.IndexesReadAt), take(in.Databases, &s.Databases), take(in.Builds, &s.Builds),
		take(in.Operations, &s.Operations), take(in.Rewrites, &s.Rewrites),
		take(in.Replication, &s.Replication), take(in.Pooler, &s.Pooler),
		take(in.Prepared, &s.Prepared), take(in.Warnings, &s.Warnings))
}

// take sets *dst to what raw holds, when raw is there: decoded into a
// new value, never into *dst, which the refresh before still uses; and
// "null" is nil, not "unchanged".
func take[T any](raw json.RawMessage, dst *T) error {
	if raw == nil {
		return nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*dst = v
	return nil
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
