package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// WALSpike is the primary's WAL rate well above what it was over the
// previous minutes, and the backends suspected of writing it.
type WALSpike struct {
	// BytesPerSecond is the rate over the last RateWindow, as
	// Replication.WALBytesPerSecond; BaselineBytesPerSecond the median of
	// the rates seen over the previous minutes (up to WALHistory back,
	// the last RateWindow left out: the spike is in it).
	BytesPerSecond         float64 `json:"bytes_per_second"`
	BaselineBytesPerSecond float64 `json:"baseline_bytes_per_second"`
	// Since is the first refresh that saw this spike.
	Since time.Time `json:"since"`
	// MeasuredBytes is the WAL the server wrote since the backends' own
	// counters were first read in this spike (PostgreSQL 18+), the whole
	// of which the suspects' Bytes are part; nil before a second read.
	MeasuredBytes *int64 `json:"measured_bytes,omitempty"`
	// Suspects are the likeliest writers first; empty when no running
	// session explains it (a statement that already ended, a checkpoint's
	// full-page images, a background process).
	Suspects []WALSuspect `json:"suspects"`
}

// WALSuspect is a backend named as a writer of a WAL spike.
type WALSuspect struct {
	PID             int    `json:"pid"`
	ApplicationName string `json:"application_name"`
	// Query is the first line of its statement.
	Query string `json:"query"`
	// Attribution is how it was named: "measured" when its own WAL
	// counter says it wrote Bytes (pg_stat_get_backend_wal, PostgreSQL
	// 18+), "likely" when named by what it is running.
	Attribution string `json:"attribution"`
	// Evidence says what it does, in words ("rewriting public.users").
	Evidence string `json:"evidence"`
	// Bytes is the WAL it wrote since its counter was first read in this
	// spike, at most MeasuredBytes; measured suspects only.
	Bytes *int64 `json:"bytes,omitempty"`
}

// The two attributions.
const (
	Measured = "measured"
	Likely   = "likely"
)

// LongestWrite is the evidence against a session whose only fault is
// running the longest write statement: its Query says which.
const LongestWrite = "the longest-running write statement"

// WALHistory is how far back the baseline of the WAL rate looks.
const WALHistory = 10 * time.Minute

// walSpikeRule says when a WAL rate is a spike. The floor keeps an idle
// server, whose rate jumps tenfold when anyone writes anything, quiet.
type walSpikeRule struct {
	factor float64 // the rate is at least factor times the baseline,
	floor  float64 // and at least floor bytes per second
	// minHistory is how far back the samples must reach before their
	// median is a baseline: a few seconds of rates say little.
	minHistory time.Duration
	// sampleEvery spaces the samples kept, so that the history's size
	// does not depend on the refresh interval.
	sampleEvery time.Duration
}

var defaultWALSpikeRule = walSpikeRule{factor: 4, floor: 8 << 20, minHistory: time.Minute, sampleEvery: 5 * time.Second}

// walSample is the WAL rate one refresh saw.
type walSample struct {
	at   time.Time
	rate float64
}

// walHistory is the recent WAL rate: one sample per rule.sampleEvery at
// most, over WALHistory, so at most 121 at the default rule.
type walHistory struct {
	samples []walSample
}

// add keeps a refresh's rate, unless the last sample kept is too recent,
// and forgets what is older than WALHistory.
func (h *walHistory) add(at time.Time, rate float64, every time.Duration) {
	if n := len(h.samples); n > 0 && at.Sub(h.samples[n-1].at) < every {
		return
	}
	h.samples = append(h.samples, walSample{at, rate})
	drop := 0
	for drop < len(h.samples) && at.Sub(h.samples[drop].at) > WALHistory {
		drop++
	}
	h.samples = slices.Delete(h.samples, 0, drop)
}

// baseline is the median of the rates sampled before the current rate's
// window; false until there are three of them, reaching back
// rule.minHistory.
func (h *walHistory) baseline(now time.Time, rule walSpikeRule) (float64, bool) {
	var rates []float64
	for _, s := range h.samples {
		if now.Sub(s.at) >= RateWindow && now.Sub(s.at) <= WALHistory {
			rates = append(rates, s.rate)
		}
	}
	if len(rates) < 3 || now.Sub(h.samples[0].at) < rule.minHistory {
		return 0, false
	}
	slices.Sort(rates)
	n := len(rates)
	if n%2 == 1 {
		return rates[n/2], true
	}
	return (rates[n/2-1] + rates[n/2]) / 2, true
}

// detectWALSpike reports whether rate, measured at now, is a spike over
// the history, and the baseline it was compared with.
func detectWALSpike(h *walHistory, now time.Time, rate float64, rule walSpikeRule) (baseline float64, spike bool) {
	baseline, ok := h.baseline(now, rule)
	return baseline, ok && rate >= rule.floor && rate >= rule.factor*baseline
}

// writeWords are the statements that write what they touch, by their
// first word; a WITH, DO or CALL may too, but the word does not say.
var writeWords = []string{"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "COPY", "REFRESH"}

// maxSuspects bounds the suspects named.
const maxSuspects = 3

// suspectsByEvidence names the sessions whose running work writes WAL,
// the heaviest kind of work first: a table rewrite, an index build, a
// command with a progress view that writes (COPY FROM, VACUUM FULL,
// CLUSTER, VACUUM), then the longest-running write statement. It is what
// the snapshot shows, not a measure: the suspects are "likely".
func suspectsByEvidence(s *Snapshot) []WALSuspect {
	var out []WALSuspect
	add := func(pid int, evidence string) {
		if len(out) >= maxSuspects || slices.ContainsFunc(out, func(w WALSuspect) bool { return w.PID == pid }) {
			return
		}
		w := WALSuspect{PID: pid, Attribution: Likely, Evidence: evidence}
		if b := backendOf(s.Backends, pid); b != nil {
			if b.Own {
				return
			}
			w.ApplicationName, w.Query = b.ApplicationName, firstLine(b.Query)
		}
		out = append(out, w)
	}
	for _, rw := range s.Rewrites {
		if rw.Rewrites {
			add(rw.PID, "rewriting "+orWords(rw.Table, "a table"))
		}
	}
	for _, b := range s.Builds {
		add(b.PID, "building an index on "+orWords(b.Table, "a table"))
	}
	for _, op := range s.Operations {
		switch op.Kind {
		case "COPY FROM", "VACUUM FULL", "CLUSTER", "VACUUM", "autovacuum":
			add(op.PID, "running "+op.Kind+" on "+orWords(op.Table, "a table"))
		}
	}
	// The longest-running write statement: a short one rarely makes a
	// spike on its own.
	scans := func(pid int) bool {
		return slices.ContainsFunc(s.Rewrites, func(rw Rewrite) bool { return rw.PID == pid && !rw.Rewrites })
	}
	var longest *Backend
	for i := range s.Backends {
		b := &s.Backends[i]
		if scans(b.PID) { // an ALTER TABLE that only checks rows
			continue
		}
		if b.Own || b.State != "active" || b.QueryStart == nil || !b.IsClient() || b.WaitsOnLock() {
			continue
		}
		w := firstWord(b.Query)
		if !slices.ContainsFunc(writeWords, func(v string) bool { return strings.EqualFold(v, w) }) {
			continue
		}
		if longest == nil || b.QueryStart.Before(*longest.QueryStart) {
			longest = b
		}
	}
	if longest != nil {
		add(longest.PID, LongestWrite)
	}
	return out
}

func orWords(s, instead string) string {
	if s == "" {
		return instead
	}
	return s
}

// firstLine is a statement's first line, past the comments before it,
// trimmed.
func firstLine(q string) string {
	line, _, _ := strings.Cut(pastComments(q), "\n")
	return strings.TrimSpace(line)
}

// walCounter is one backend's WAL counter as read, with the backend's
// start: a pid the server gave to a new backend starts from zero.
type walCounter struct {
	start time.Time
	bytes int64
}

// backendWAL is what the reads of pg_stat_get_backend_wal() during one
// spike found: each backend's counter when first read (its base) and as
// last read, and the server's WAL position at the first and last reads.
type backendWAL struct {
	firstAt, lastAt   time.Time
	firstLSN, lastLSN uint64
	base, last        map[int]walCounter
	reads             int
}

// backendWALSQL reads the WAL counters of the backends given, and the
// server's WAL position at the same moment (PostgreSQL 18+). An
// auxiliary process has no counters: its row is NULL and left out.
const backendWALSQL = `/* pgmedic:backend-wal */
SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END,
       array_agg(p.pid), array_agg(w.wal_bytes::bigint)
FROM unnest($1::int[]) AS p(pid), LATERAL pg_catalog.pg_stat_get_backend_wal(p.pid) w
WHERE w.wal_bytes IS NOT NULL`

// walFlushDelay is how long after a transaction ends its WAL may reach
// the backend's counter: a backend flushes its statistics at most once a
// second, and when it went idle within that second, 10 s later.
const walFlushDelay = 15 * time.Second

// backendWALPIDs are the backends whose counters the next read asks for:
// every one with a state the first time, for a base; after that only
// those that may have written since the previous read, that is all but
// the ones idle since well before it, whose counters cannot have moved.
// At thousands of mostly idle backends that is a few calls, not
// thousands, each of which looks its pid up among all the others.
func backendWALPIDs(bs []Backend, w *backendWAL) []int32 {
	pids := make([]int32, 0, 16)
	for i := range bs {
		b := &bs[i]
		// Background processes without a state are auxiliary ones the
		// server keeps no per-backend counters for.
		if b.Own || b.State == "" {
			continue
		}
		if w.reads > 0 && strings.HasPrefix(b.State, "idle") && b.StateChange != nil &&
			b.StateChange.Before(w.lastAt.Add(-walFlushDelay)) {
			continue
		}
		pids = append(pids, int32(b.PID))
	}
	return pids
}

// note records one read, taken at the snapshot s (the same batch).
func (w *backendWAL) note(s *Snapshot, lsn uint64, pids []int32, bytes []int64) {
	at := s.ServerTime
	if w.reads == 0 {
		w.firstAt, w.firstLSN = at, lsn
		w.base, w.last = map[int]walCounter{}, map[int]walCounter{}
	}
	w.reads++
	w.lastAt, w.lastLSN = at, lsn
	for i, p := range pids {
		pid := int(p)
		var start time.Time
		if b := backendOf(s.Backends, pid); b != nil && b.BackendStart != nil {
			start = *b.BackendStart
		}
		c := walCounter{start, bytes[i]}
		base, ok := w.base[pid]
		switch {
		case ok && base.start.Equal(start):
		case w.reads > 1 && start.After(w.firstAt):
			// Started since the first read: its counter started at 0.
			w.base[pid] = walCounter{start: start}
		default:
			w.base[pid] = c
		}
		w.last[pid] = c
	}
	// Forget the backends that exited.
	for pid := range w.last {
		if backendOf(s.Backends, pid) == nil {
			delete(w.last, pid)
			delete(w.base, pid)
		}
	}
}

// measuredSuspects are the backends whose counters grew by a tenth or
// more of the WAL written since the first read, the most first, a
// parallel worker's bytes counted for its leader; and the WAL written.
// A statement's WAL reaches its backend's counter only when its
// transaction ends: a long one is invisible here until then.
func measuredSuspects(s *Snapshot, w *backendWAL) (out []WALSuspect, total int64) {
	if w == nil || w.reads < 2 || w.lastLSN <= w.firstLSN {
		return nil, 0
	}
	total = int64(w.lastLSN - w.firstLSN)
	wrote := map[int]int64{}
	for pid, c := range w.last {
		n := c.bytes - w.base[pid].bytes
		if b := backendOf(s.Backends, pid); b != nil && b.LeaderPID != 0 && b.LeaderPID != pid {
			pid = b.LeaderPID
		}
		wrote[pid] += n
	}
	for pid, n := range wrote {
		b := backendOf(s.Backends, pid)
		if n <= 0 || n*10 < total || b == nil || b.Own {
			continue
		}
		// A backend flushes its counters up to a second late, so the
		// first read may have missed WAL it had already written: what
		// the server wrote since is the most it can be.
		n = min(n, total)
		out = append(out, WALSuspect{PID: pid, ApplicationName: b.ApplicationName, Query: firstLine(b.Query),
			Attribution: Measured, Evidence: "its own WAL counter (pg_stat_get_backend_wal)", Bytes: &n})
	}
	slices.SortFunc(out, func(a, b WALSuspect) int { return cmp.Compare(*b.Bytes, *a.Bytes) })
	if len(out) > maxSuspects {
		out = out[:maxSuspects]
	}
	return out, total
}

// attribute names a spike's suspects: the measured ones first when they
// account for half the WAL or more; otherwise what runs is the better
// lead, and the measured ones follow.
func attribute(measured []WALSuspect, total int64, evidence []WALSuspect) []WALSuspect {
	var sum int64
	for _, m := range measured {
		sum += *m.Bytes
	}
	first, then := measured, evidence
	if sum*2 < total || len(measured) == 0 {
		first, then = evidence, measured
	}
	out := slices.Clone(first)
	for _, w := range then {
		if len(out) < maxSuspects && !slices.ContainsFunc(out, func(o WALSuspect) bool { return o.PID == w.PID }) {
			out = append(out, w)
		}
	}
	return out
}

// scanBackendWAL reads backendWALSQL's row into w.
func scanBackendWAL(row pgx.Row, s *Snapshot, w *backendWAL) error {
	var (
		lsn   *string
		pids  []int32
		bytes []int64
	)
	if err := row.Scan(&lsn, &pids, &bytes); err != nil {
		return fmt.Errorf("reading the backends' WAL: %w", err)
	}
	pos, ok := parseLSN(deref(lsn))
	if !ok || len(pids) != len(bytes) {
		return nil // a standby now: nothing to measure
	}
	w.note(s, pos, pids, bytes)
	return nil
}

// noteWAL keeps the WAL rate's history and, when the rate spikes, says so
// in the snapshot with the suspects. On PostgreSQL 18+ a spike makes the
// following refreshes read the backends' WAL counters, for as long as it
// lasts; never otherwise.
func (c *Collector) noteWAL(s *Snapshot) {
	r := s.Replication
	if r == nil || r.Standby != nil || r.WALBytesPerSecond == nil {
		c.walSpikeSince, c.backendWAL = time.Time{}, nil
		return
	}
	now, rate := s.ServerTime, *r.WALBytesPerSecond
	baseline, spike := detectWALSpike(&c.walHistory, now, rate, c.walRule)
	if !spike {
		c.walHistory.add(now, rate, c.walRule.sampleEvery)
		c.walSpikeSince, c.backendWAL = time.Time{}, nil
		return
	}
	// A spike's rates stay out of the history: the baseline is what came
	// before it, for as long as the history reaches back.
	if c.walSpikeSince.IsZero() {
		c.walSpikeSince = now
	}
	sp := &WALSpike{BytesPerSecond: rate, BaselineBytesPerSecond: baseline, Since: c.walSpikeSince}
	measured, total := measuredSuspects(s, c.backendWAL)
	if total > 0 {
		sp.MeasuredBytes = &total
	}
	sp.Suspects = attribute(measured, total, suspectsByEvidence(s))
	if sp.Suspects == nil {
		sp.Suspects = []WALSuspect{}
	}
	r.WALSpike = sp
	if c.caps.BackendWAL && !c.backendWALOff && c.backendWAL == nil {
		c.backendWAL = &backendWAL{}
	}
}
