package inspect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An Event is something that happened to the server, worth a line in the
// post-mortem: a blocker appearing, the pool crossing a level, an index
// left invalid, an action taken. The TUI, the recorder and the timeline
// all get them from one Detector, and `--events -` writes them as JSON
// lines: keys may be added, but existing keys keep their name and meaning.
type Event struct {
	At   time.Time `json:"at"`
	Kind EventKind `json:"kind"`
	// Text says what happened in one line of words, for the screen and
	// the timeline.
	Text string `json:"text"`

	// The session the event is about, when there is one.
	PID          int        `json:"pid,omitempty"`
	BackendStart *time.Time `json:"backend_start,omitempty"`
	App          string     `json:"application_name,omitempty"`
	User         string     `json:"user,omitempty"`
	Database     string     `json:"database,omitempty"`
	Query        string     `json:"query,omitempty"`
	// Lock is the lock mode a blocker holds or a waiter wants, Relation
	// the relation it is on.
	Lock     string `json:"lock,omitempty"`
	Relation string `json:"relation,omitempty"`
	// Index names the index of an index or build event; Phase is a
	// build's phase.
	Index string `json:"index,omitempty"`
	Phase string `json:"phase,omitempty"`

	// Count is what crossed a level: sessions queued, slots in use.
	Count int `json:"count,omitempty"`
	// Of is what Count is out of: usable slots.
	Of int `json:"of,omitempty"`
	// Level names the level crossed: "warn", "90%", "full", or a queue
	// length.
	Level string `json:"level,omitempty"`
	// Duration is how long what ended lasted (a blocker, a build), how
	// long a blocker had already blocked when it was first seen, or how
	// long until the pool is full (a forecast).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Peak is the most sessions a blocker held up at once.
	Peak int `json:"peak,omitempty"`
	// PerMinute is a forecast's growth in slots a minute.
	PerMinute float64 `json:"per_minute,omitempty"`

	// An action's audit record: its id, its SQL and how it ended.
	ActionID string   `json:"action_id,omitempty"`
	Action   string   `json:"action,omitempty"`
	SQL      []string `json:"sql,omitempty"`
	Outcome  string   `json:"outcome,omitempty"`
}

// EventKind names what kind of thing happened. The values are part of the
// documented JSON contract.
type EventKind string

const (
	BlockerStart   EventKind = "blocker_start"       // a root blocker appears
	BlockerEnd     EventKind = "blocker_end"         // it is gone, or no longer blocks
	QueueOver      EventKind = "queue_over"          // a blocker's queue crosses a length
	SlotsOver      EventKind = "slots_over"          // slot use crosses warn, 90% or full
	SlotsUnder     EventKind = "slots_under"         // and falls back below the warn level
	ForecastFull   EventKind = "forecast_full"       // the pool will be full within minutes
	IndexInvalid   EventKind = "index_invalid"       // an invalid index appears
	IndexGone      EventKind = "index_gone"          // an invalid index is dropped or fixed
	BuildStart     EventKind = "build_start"         // CREATE INDEX / REINDEX starts
	BuildPhase     EventKind = "build_phase"         // and changes phase
	BuildEnd       EventKind = "build_end"           // and ends
	DeadlockCycle  EventKind = "deadlock_cycle"      // a wait cycle is seen
	PreparedLocks  EventKind = "prepared_locks"      // a prepared transaction blocks sessions
	PoolerQueue    EventKind = "pgbouncer_queue"     // clients start to queue in a PgBouncer pool
	PoolerQueueEnd EventKind = "pgbouncer_queue_end" // and no longer do
	PoolerFilling  EventKind = "pgbouncer_forecast"  // a PgBouncer pool will be full within minutes
	ConnectionLost EventKind = "connection_lost"     // reads fail: the picture goes stale
	ConnectionBack EventKind = "connection_back"     // reads work again
	ActionTaken    EventKind = "action"              // a pgmedic action, from the audit log
)

// DetectorOptions tune what counts as an event.
type DetectorOptions struct {
	// WarnPercent is the slot use that is a warning; default
	// DefaultWarnPercent.
	WarnPercent float64
	// QueueLevels are the queue lengths behind one blocker worth an
	// event when crossed upward; default 10, 25, 50, 100.
	QueueLevels []int
}

// Detector finds the events in a run of snapshots. It keeps only what
// exists now (the blockers, indexes, builds, cycles and prepared
// transactions of the last snapshot) and a HistorySpan of samples for the
// forecast, so its memory does not grow with the run. Not safe for
// concurrent use.
type Detector struct {
	o        DetectorOptions
	roots    map[string]*rootSeen
	level    int // slot level last announced: 0 ok, 1 warn, 2 90%, 3 full
	history  *History
	warned   bool      // a forecast was announced
	calmFrom time.Time // since when it has not forecast, once warned
	readAt   time.Time // the IndexesReadAt last compared
	started  bool
	invalid  map[string]Index
	builds   map[string]IndexBuild
	cycles   map[string]bool
	prepared map[string]bool
	lostAt   time.Time
	lost     bool
	// queued are the PgBouncer pools with clients waiting, and since
	// when; poolerWarned a pooler forecast was announced.
	queued       map[string]time.Time
	poolerWarned bool
	poolerCalm   time.Time
}

type rootSeen struct {
	since  time.Time
	peak   int
	passed int // the highest queue level announced
	ev     Event
}

// NewDetector starts a detector with nothing seen.
func NewDetector(o DetectorOptions) *Detector {
	if o.WarnPercent <= 0 {
		o.WarnPercent = DefaultWarnPercent
	}
	if len(o.QueueLevels) == 0 {
		o.QueueLevels = []int{10, 25, 50, 100}
	}
	return &Detector{o: o, roots: map[string]*rootSeen{}, history: NewHistory(15 * time.Minute),
		invalid: map[string]Index{}, builds: map[string]IndexBuild{}, cycles: map[string]bool{}, prepared: map[string]bool{},
		queued: map[string]time.Time{}}
}

// Lost is a refresh that failed: the first of an outage is an event.
func (d *Detector) Lost(at time.Time, err error) []Event {
	if d.lost {
		return nil
	}
	d.lost, d.lostAt = true, at
	why, _, _ := strings.Cut(err.Error(), "\n")
	return []Event{{At: at, Kind: ConnectionLost, Text: "reads failed, the picture is stale: " + oneLine(why, 200)}}
}

// Observe returns the events of s against what was seen before it. The
// first snapshot reports what is already there (blockers, invalid
// indexes, builds, the pool's level) as starting: a recording begun in
// the middle of an incident still names them.
func (d *Detector) Observe(s *Snapshot) []Event {
	now := s.ServerTime
	var out []Event
	if d.lost {
		d.lost = false
		out = append(out, Event{At: now, Kind: ConnectionBack, Duration: max(0, now.Sub(d.lostAt)),
			Text: "reads work again after " + roundDur(now.Sub(d.lostAt))})
	}
	out = d.blockers(s, out)
	out = d.slots(s, out)
	out = d.indexes(s, out)
	out = d.buildEvents(s, out)
	out = d.pooler(s, out)
	for i := range out {
		out[i].At = now
	}
	d.started = true
	return out
}

// blockers: root blockers appearing, their queues growing past a level,
// and their end; wait cycles; prepared transactions that block.
func (d *Detector) blockers(s *Snapshot, out []Event) []Event {
	f := &s.LockForest
	now := s.ServerTime
	seen := map[string]bool{}
	cycles := map[string]bool{}
	var cycle []int
	for i := range f.Nodes {
		if f.Nodes[i].Cycle {
			cycle = append(cycle, f.Nodes[i].PID)
		}
	}
	if len(cycle) > 0 {
		slices.Sort(cycle)
		k := fmt.Sprint(cycle)
		cycles[k] = true
		if !d.cycles[k] {
			out = append(out, Event{Kind: DeadlockCycle, Count: len(cycle),
				Text: fmt.Sprintf("wait cycle between pids %s: a deadlock the server has not broken yet", joinInts(cycle))})
		}
	}
	d.cycles = cycles
	prepared := map[string]bool{}
	for _, r := range f.Roots {
		n := &f.Nodes[r]
		if n.BlockedTotal == 0 {
			continue
		}
		if n.PreparedGID != "" {
			prepared[n.PreparedGID] = true
			if !d.prepared[n.PreparedGID] {
				out = append(out, Event{Kind: PreparedLocks, Count: n.BlockedTotal,
					Text: fmt.Sprintf("prepared transaction %q holds locks %d session(s) wait for; only COMMIT PREPARED or ROLLBACK PREPARED frees them",
						oneLine(n.PreparedGID, 60), n.BlockedTotal)})
			}
			continue
		}
		if n.Backend < 0 {
			continue
		}
		b := &s.Backends[n.Backend]
		k := sessionKey(b)
		seen[k] = true
		r := d.roots[k]
		if r == nil {
			ev := Event{Kind: BlockerStart, PID: b.PID, BackendStart: b.BackendStart, App: b.ApplicationName,
				User: b.User, Database: b.Database, Query: oneLine(b.Query, 1000), Count: n.BlockedTotal}
			// What the first waiter wants, and on what: the lock the
			// blocker is in the way of.
			for _, c := range n.Children {
				if cb := f.Nodes[c].Backend; cb >= 0 && s.Backends[cb].Waiting != nil {
					ev.Lock, ev.Relation = s.Backends[cb].Waiting.Mode, s.Backends[cb].Waiting.Relation
					break
				}
			}
			ev.Text = fmt.Sprintf("root blocker %s holds up %d session(s)", who(b), n.BlockedTotal)
			if ev.Relation != "" {
				ev.Text += " on " + ev.Relation
			}
			// Seen late (the first refresh, a reconnect, a slow
			// interval): it has blocked since its longest waiter began.
			ev.Duration = n.LongestWait
			if n.LongestWait >= 2*time.Second {
				ev.Text += fmt.Sprintf(", blocking since %s (%s)", now.Add(-n.LongestWait).UTC().Format("15:04:05"), roundDur(n.LongestWait))
			}
			out = append(out, ev)
			r = &rootSeen{since: now.Add(-n.LongestWait), peak: n.BlockedTotal, ev: ev}
			for _, l := range d.o.QueueLevels {
				if n.BlockedTotal >= l {
					r.passed = l
				}
			}
			d.roots[k] = r
			continue
		}
		r.peak = max(r.peak, n.BlockedTotal)
		for _, l := range d.o.QueueLevels {
			if l > r.passed && n.BlockedTotal >= l {
				r.passed = l
				ev := r.ev
				ev.Kind, ev.Count, ev.Level = QueueOver, n.BlockedTotal, strconv.Itoa(l)
				ev.Text = fmt.Sprintf("%s now holds up %d sessions (past %d), blocking for %s", who(b), n.BlockedTotal, l,
					roundDur(now.Sub(r.since)))
				out = append(out, ev)
			}
		}
	}
	d.prepared = prepared
	for _, k := range sortedKeys(d.roots) {
		if seen[k] {
			continue
		}
		r := d.roots[k]
		ev := r.ev
		ev.Kind, ev.Count, ev.Peak, ev.Duration = BlockerEnd, 0, r.peak, now.Sub(r.since)
		ev.Lock, ev.Relation = r.ev.Lock, r.ev.Relation
		why := "no longer blocks anyone"
		if s.Backend(ev.PID) == nil {
			why = "is gone"
		}
		ev.Text = fmt.Sprintf("root blocker pid %d (%s) %s after %s, having held up %d session(s) at most",
			ev.PID, oneLine(ev.App, 40), why, roundDur(ev.Duration), r.peak)
		out = append(out, ev)
		delete(d.roots, k)
	}
	return out
}

// slots: use crossing the warn level, 90% and full upward, and back
// under the warn level; the forecast's warning.
func (d *Detector) slots(s *Snapshot, out []Event) []Event {
	sat := &s.Saturation
	thresholds := []float64{d.o.WarnPercent, 90, 100}
	names := []string{"warn", "90%", "full"}
	level := 0
	for i, t := range thresholds {
		if sat.Percent >= t {
			level = i + 1
		}
	}
	switch {
	case level > d.level:
		for l := d.level + 1; l <= level; l++ {
			out = append(out, Event{Kind: SlotsOver, Level: names[l-1], Count: sat.Used, Of: sat.Usable,
				Text: fmt.Sprintf("slot use past %s: %d of %d usable slots (%.0f%%)", names[l-1], sat.Used, sat.Usable, sat.Percent)})
		}
		d.level = level
	case level < d.level:
		// Re-armed only once use is clearly below the level announced:
		// a count that moves by one around a level is not news every
		// second.
		margin := 3.0
		if sat.Usable > 0 {
			margin = max(margin, 200/float64(sat.Usable)) // two slots
		}
		if sat.Percent < thresholds[d.level-1]-margin {
			d.level = level
			if level == 0 {
				out = append(out, Event{Kind: SlotsUnder, Level: "warn", Count: sat.Used, Of: sat.Usable,
					Text: fmt.Sprintf("slot use back under warn: %d of %d usable slots (%.0f%%)", sat.Used, sat.Usable, sat.Percent)})
			}
		}
	}
	d.history.Add(SampleOf(s))
	f, ok := PoolForecast(d.history.Samples())
	switch {
	case ok && !d.warned:
		d.warned, d.calmFrom = true, time.Time{}
		when := "in under a minute"
		if f.FullIn >= time.Minute {
			when = fmt.Sprintf("in ~%dm", int(f.FullIn.Round(time.Minute)/time.Minute))
		}
		out = append(out, Event{Kind: ForecastFull, Duration: f.FullIn, PerMinute: f.PerMinute, Count: sat.Used, Of: sat.Usable,
			Text: fmt.Sprintf("the pool will be full %s at +%.0f slots a minute (%d of %d used)",
				when, f.PerMinute, sat.Used, sat.Usable)})
	case ok:
		d.calmFrom = time.Time{}
	case d.warned && d.calmFrom.IsZero():
		d.calmFrom = s.ServerTime
	case d.warned && s.ServerTime.Sub(d.calmFrom) >= time.Minute:
		d.warned = false
	}
	return out
}

// indexes: invalid indexes appearing and gone, compared only when they
// were read again (they are read on a slower cadence).
func (d *Detector) indexes(s *Snapshot, out []Event) []Event {
	if d.started && s.IndexesReadAt.Equal(d.readAt) {
		return out
	}
	d.readAt = s.IndexesReadAt
	now := map[string]Index{}
	for _, ix := range s.Indexes {
		if ix.Status == IndexBuilding {
			continue // a build's own events say it
		}
		k := ix.Database + "/" + strconv.FormatUint(uint64(ix.OID), 10)
		now[k] = ix
		if _, ok := d.invalid[k]; !ok {
			out = append(out, Event{Kind: IndexInvalid, Index: ix.QualifiedName(), Relation: ix.QualifiedTable(),
				Database: ix.Database, Level: string(ix.Status),
				Text: fmt.Sprintf("invalid index %s on %s: %s", ix.QualifiedName(), ix.QualifiedTable(), ix.Status.Describe())})
		}
	}
	for _, k := range sortedKeys(d.invalid) {
		if _, ok := now[k]; !ok {
			ix := d.invalid[k]
			out = append(out, Event{Kind: IndexGone, Index: ix.QualifiedName(), Relation: ix.QualifiedTable(), Database: ix.Database,
				Text: fmt.Sprintf("invalid index %s is gone (dropped or rebuilt)", ix.QualifiedName())})
		}
	}
	d.invalid = now
	return out
}

// buildEvents: index builds starting, changing phase and ending.
func (d *Detector) buildEvents(s *Snapshot, out []Event) []Event {
	now := map[string]IndexBuild{}
	for _, b := range s.Builds {
		k := strconv.Itoa(b.PID)
		if b.Started != nil {
			k += "@" + b.Started.UTC().Format(time.RFC3339Nano)
		}
		now[k] = b
		name := buildName(&b)
		prev, ok := d.builds[k]
		switch {
		case !ok:
			out = append(out, Event{Kind: BuildStart, PID: b.PID, Database: b.Database, Index: b.Index, Relation: b.Table, Phase: b.Phase,
				Text: fmt.Sprintf("%s by pid %d: %s", name, b.PID, b.Phase)})
		case prev.Phase != b.Phase:
			out = append(out, Event{Kind: BuildPhase, PID: b.PID, Database: b.Database, Index: b.Index, Relation: b.Table, Phase: b.Phase,
				Text: fmt.Sprintf("%s by pid %d: now %s", name, b.PID, b.Phase)})
		}
	}
	for _, k := range sortedKeys(d.builds) {
		if _, ok := now[k]; ok {
			continue
		}
		b := d.builds[k]
		ev := Event{Kind: BuildEnd, PID: b.PID, Database: b.Database, Index: b.Index, Relation: b.Table, Phase: b.Phase,
			Text: fmt.Sprintf("%s by pid %d ended (last seen %s)", buildName(&b), b.PID, b.Phase)}
		if b.Started != nil {
			ev.Duration = s.ServerTime.Sub(*b.Started)
			ev.Text = fmt.Sprintf("%s by pid %d ended after %s (last seen %s)", buildName(&b), b.PID, roundDur(ev.Duration), b.Phase)
		}
		out = append(out, ev)
	}
	d.builds = now
	return out
}

func buildName(b *IndexBuild) string {
	what := b.Command
	if b.Index != "" {
		what += " " + b.Index
	}
	if b.Table != "" {
		what += " on " + b.Table
	}
	return what
}

// sessionKey names a session: a pid alone may be reused by another one.
func sessionKey(b *Backend) string {
	k := strconv.Itoa(b.PID)
	if b.BackendStart != nil {
		k += "@" + b.BackendStart.UTC().Format(time.RFC3339Nano)
	}
	return k
}

// who names a session in an event's words: pid, application and the
// statement's first words.
func who(b *Backend) string {
	app := oneLine(b.ApplicationName, 40)
	if app == "" {
		app = oneLine(b.User, 40)
	}
	if q := oneLine(b.Query, 48); q != "" {
		return fmt.Sprintf("pid %d (%s, %s)", b.PID, app, q)
	}
	return fmt.Sprintf("pid %d (%s)", b.PID, app)
}

// oneLine is s on one line, white space collapsed, cut to n characters.
// The text is data: whoever shows it on a terminal sanitizes it.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func roundDur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pooler: clients starting to queue in a PgBouncer pool, and ending; a
// pool that will be full within minutes. A pooler that could not be read
// says nothing either way.
func (d *Detector) pooler(s *Snapshot, out []Event) []Event {
	p := s.Pooler
	if p == nil || p.Error != "" {
		return out
	}
	now := map[string]*Pool{}
	for i := range p.Pools {
		pool := &p.Pools[i]
		if pool.ClientsWaiting == 0 {
			continue
		}
		name := pool.Database + "/" + pool.User
		now[name] = pool
		if _, ok := d.queued[name]; ok {
			continue
		}
		d.queued[name] = s.ServerTime
		text := fmt.Sprintf("%d clients queue in PgBouncer pool %s, the oldest for %.1fs; %d of %d server connections active",
			pool.ClientsWaiting, name, pool.MaxWaitSeconds, pool.ServersActive, pool.Capacity())
		if len(pool.Behind) > 0 {
			text += fmt.Sprintf(", %d behind pid %d", pool.Behind[0].Servers, pool.Behind[0].PID)
		}
		out = append(out, Event{Kind: PoolerQueue, Database: pool.Database, User: pool.User, Count: pool.ClientsWaiting,
			Of: pool.Capacity(), Text: text})
	}
	for _, name := range sortedKeys(d.queued) {
		if now[name] != nil {
			continue
		}
		since := d.queued[name]
		delete(d.queued, name)
		db, user, _ := strings.Cut(name, "/")
		out = append(out, Event{Kind: PoolerQueueEnd, Database: db, User: user, Duration: s.ServerTime.Sub(since),
			Text: fmt.Sprintf("no client queues in PgBouncer pool %s any more, after %s", name, roundDur(s.ServerTime.Sub(since)))})
	}
	f, ok := PoolerForecast(d.history.Samples())
	switch {
	case ok && !d.poolerWarned:
		d.poolerWarned, d.poolerCalm = true, time.Time{}
		last := d.history.Samples()[len(d.history.Samples())-1]
		out = append(out, Event{Kind: PoolerFilling, Duration: f.FullIn, PerMinute: f.PerMinute, Count: last.PoolerBusy, Of: last.PoolerCapacity,
			Text: fmt.Sprintf("PgBouncer pool %s will have every server connection busy in ~%s at +%.0f a minute (%d of %d)",
				last.PoolerPool, roundDur(f.FullIn), f.PerMinute, last.PoolerBusy, last.PoolerCapacity)})
	case ok:
		d.poolerCalm = time.Time{}
	case d.poolerWarned && d.poolerCalm.IsZero():
		d.poolerCalm = s.ServerTime
	case d.poolerWarned && s.ServerTime.Sub(d.poolerCalm) >= time.Minute:
		// Re-armed after a calm minute, as the slots' forecast is.
		d.poolerWarned = false
	}
	return out
}
