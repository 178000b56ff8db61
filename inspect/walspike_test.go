package inspect

import (
	"slices"
	"testing"
	"time"
)

const mb = 1 << 20

// walRun feeds a collector's WAL bookkeeping one rate a second, from the
// rate function, as refreshes would, and returns when each refresh saw a
// spike and the last spike seen.
func walRun(rule walSpikeRule, rate func(t time.Duration) float64, d time.Duration) (spikes []time.Duration, last *WALSpike) {
	c := &Collector{walRule: rule}
	for t := time.Duration(0); t <= d; t += time.Second {
		r := rate(t)
		s := &Snapshot{ServerTime: t0.Add(t), Replication: &Replication{WALBytesPerSecond: &r}}
		c.noteWAL(s)
		if sp := s.Replication.WALSpike; sp != nil {
			spikes, last = append(spikes, t), sp
		}
	}
	return spikes, last
}

// A flat rate, with the noise of a real one, and one that rises steadily
// for a quarter of an hour (doubling every 5 minutes) are the server's
// normal: no spike. A jump is one, at once, against the rate before it.
func TestWALSpikeDetection(t *testing.T) {
	rule := defaultWALSpikeRule
	flat := func(t time.Duration) float64 { return 10*mb + float64(t/time.Second%7)*mb }
	if spikes, _ := walRun(rule, flat, 15*time.Minute); len(spikes) > 0 {
		t.Errorf("a flat rate spiked at %v", spikes[0])
	}
	rising := func(t time.Duration) float64 { return 2 * mb * pow2(t.Minutes()/5) }
	if spikes, _ := walRun(rule, rising, 15*time.Minute); len(spikes) > 0 {
		t.Errorf("a rate doubling every 5 minutes spiked at %v", spikes[0])
	}

	jump := step(3*time.Minute, 8*mb, 96*mb)
	spikes, sp := walRun(rule, jump, 4*time.Minute)
	if len(spikes) == 0 || spikes[0] != 3*time.Minute {
		t.Fatalf("a jump from 8 to 96 MB/s: spikes at %v, want from 3m0s", spikes)
	}
	if sp.BytesPerSecond != 96*mb || sp.BaselineBytesPerSecond != 8*mb || !sp.Since.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("the spike: %+v", sp)
	}
	if sp.Suspects == nil {
		t.Error("suspects is null, want [] in the JSON")
	}
}

// step is a rate of before until at, then after.
func step(at time.Duration, before, after float64) func(time.Duration) float64 {
	return func(t time.Duration) float64 {
		if t >= at {
			return after
		}
		return before
	}
}

func pow2(x float64) float64 {
	r := 1.0
	for ; x >= 1; x-- {
		r *= 2
	}
	return r * (1 + x) // close enough between the powers
}

// The floor: an idle server going from 10 kB/s to 50 kB/s, or a quiet one
// from 1 to 7.9 MB/s, is no spike however large the factor; 9 MB/s is.
// Below the factor it is none either, however high.
func TestWALSpikeFloorAndFactor(t *testing.T) {
	rule := defaultWALSpikeRule
	for _, c := range []struct {
		before, after float64
		spike         bool
	}{
		{10 << 10, 50 << 10, false},
		{1 * mb, 7.9 * mb, false},
		{1 * mb, 9 * mb, true},
		{0, 9 * mb, true},
		{20 * mb, 79 * mb, false},
		{20 * mb, 80 * mb, true},
	} {
		spikes, _ := walRun(rule, step(3*time.Minute, c.before, c.after), 4*time.Minute)
		if got := len(spikes) > 0; got != c.spike {
			t.Errorf("%.0f to %.0f bytes/s: spike %v, want %v", c.before, c.after, got, c.spike)
		}
	}
}

// Without a minute of history there is no baseline, so no spike: a
// pgmedic started during a spike does not call its rate normal or
// abnormal. A spike stays one for as long as the history reaches back
// before it; then it is the new normal.
func TestWALSpikeBaselineNeedsHistory(t *testing.T) {
	rule := defaultWALSpikeRule
	early := step(40*time.Second, 1*mb, 96*mb)
	if spikes, _ := walRun(rule, early, 55*time.Second); len(spikes) > 0 {
		t.Errorf("spiked at %v with less than a minute of history", spikes[0])
	}
	long := step(2*time.Minute, 1*mb, 96*mb)
	spikes, _ := walRun(rule, long, 20*time.Minute)
	if len(spikes) == 0 || spikes[0] != 2*time.Minute {
		t.Fatalf("spikes from %v, want from 2m0s", spikes)
	}
	if end := spikes[len(spikes)-1]; end < 2*time.Minute+9*time.Minute || end > 2*time.Minute+WALHistory {
		t.Errorf("a lasting spike ended at %v: want it flagged about as long as the history reaches back before it", end)
	}
	if n := len(spikes); n != int(spikes[n-1]-spikes[0])/int(time.Second)+1 {
		t.Errorf("the spike came and went: %d refreshes between %v and %v", n, spikes[0], spikes[len(spikes)-1])
	}
}

// The history keeps one sample per 5 s over 10 minutes whatever the
// refresh interval: bounded memory.
func TestWALHistoryBounded(t *testing.T) {
	var h walHistory
	for t := time.Duration(0); t < 2*time.Hour; t += 100 * time.Millisecond {
		h.add(t0.Add(t), 1, defaultWALSpikeRule.sampleEvery)
	}
	if n := len(h.samples); n > 121 || cap(h.samples) > 1024 {
		t.Errorf("%d samples kept (capacity %d)", n, cap(h.samples))
	}
}

// when is t0 plus d.
func when(d time.Duration) *time.Time { v := t0.Add(d); return &v }

// The heaviest kind of work is the likeliest writer: a table rewrite
// before an index build, before VACUUM or COPY, before the
// longest-running plain write statement; ANALYZE, a scan that rewrites
// nothing, reads, sessions waiting on a lock and pgmedic's own are not
// suspects.
func TestWALSuspectsByEvidence(t *testing.T) {
	active := func(pid int, app, q string, started time.Duration) Backend {
		return Backend{PID: pid, BackendType: "client backend", State: "active", ApplicationName: app, Query: q,
			QueryStart: when(started)}
	}
	s := &Snapshot{ServerTime: t0, Backends: []Backend{
		active(10, "api", "UPDATE accounts SET balance = balance + 1", -10*time.Minute),
		active(20, "migrate", "\n  ALTER TABLE users ALTER COLUMN id TYPE bigint\n  -- big", -time.Minute),
		active(30, "api", "/* batch */ -- nightly\n INSERT INTO events SELECT * FROM staging", -20*time.Minute),
		active(40, "psql", "SELECT pg_sleep(600)", -time.Hour),
		active(50, "api", "DELETE FROM sessions", -time.Hour),
		active(60, "pgmedic", "INSERT INTO own", -2*time.Hour),
		active(70, "check", "ALTER TABLE orders ADD CONSTRAINT c CHECK (x > 0)", -3*time.Hour),
	}}
	s.Backends[4].WaitEventType, s.Backends[4].Waiting = "Lock", &LockWait{LockType: "relation"}
	s.Backends[5].Own = true
	s.Rewrites = []Rewrite{{PID: 70, Rewrites: false, Table: "public.orders"}}

	got := suspectsByEvidence(s)
	if len(got) != 1 || got[0].PID != 30 || got[0].Attribution != Likely || got[0].ApplicationName != "api" ||
		got[0].Query != "INSERT INTO events SELECT * FROM staging" || got[0].Evidence != LongestWrite {
		t.Errorf("only plain statements: want the longest-running write (pid 30, past its comments), got %+v", got)
	}

	s.Rewrites = []Rewrite{{PID: 20, Rewrites: true, Table: "public.users"}, {PID: 70, Rewrites: false, Table: "public.orders"}}
	s.Operations = []Operation{{PID: 80, Kind: "ANALYZE", Table: "public.big"}, {PID: 90, Kind: "autovacuum", Table: "public.events"}}
	got = suspectsByEvidence(s)
	want := []WALSuspect{
		{PID: 20, ApplicationName: "migrate", Query: "ALTER TABLE users ALTER COLUMN id TYPE bigint", Attribution: Likely,
			Evidence: "rewriting public.users"},
		{PID: 90, Attribution: Likely, Evidence: "running autovacuum on public.events"},
		{PID: 30, ApplicationName: "api", Query: "INSERT INTO events SELECT * FROM staging", Attribution: Likely,
			Evidence: LongestWrite},
	}
	if !slices.EqualFunc(got, want, func(a, b WALSuspect) bool { return a == b }) {
		t.Errorf("suspects:\n got %+v\nwant %+v", got, want)
	}

	s.Builds = []IndexBuild{{PID: 100, Table: "public.orders"}}
	got = suspectsByEvidence(s)
	if len(got) != maxSuspects || got[0].PID != 20 || got[1].PID != 100 || got[1].Evidence != "building an index on public.orders" ||
		got[2].PID != 90 {
		t.Errorf("a rewrite, a build, a vacuum and an INSERT: want the first three, got %+v", got)
	}
}

// Between two reads of the backends' counters, the ones that wrote a
// tenth of the WAL or more are named, the most first; a new backend
// counts from zero, a reused pid from its new backend's start, a parallel
// worker for its leader.
func TestWALMeasuredSuspects(t *testing.T) {
	backend := func(pid, leader int, start time.Duration, state string, change time.Duration) Backend {
		return Backend{PID: pid, LeaderPID: leader, BackendType: "client backend", State: state, ApplicationName: "app",
			Query: "INSERT INTO t VALUES (1)", BackendStart: when(start), StateChange: when(change), QueryStart: when(change)}
	}
	first := &Snapshot{ServerTime: t0, Backends: []Backend{
		backend(10, 0, -time.Hour, "active", -time.Second),
		backend(20, 0, -time.Hour, "idle", -time.Minute),
		backend(30, 0, -time.Hour, "idle", -time.Hour),
		backend(31, 10, -time.Second, "active", -time.Second),
		backend(99, 0, -time.Hour, "active", 0),
		{PID: 5, BackendType: "checkpointer"},
	}}
	first.Backends[4].Own = true
	w := &backendWAL{}
	if pids := backendWALPIDs(first.Backends, w); !slices.Equal(pids, []int32{10, 20, 30, 31}) {
		t.Errorf("the first read asks for %v, want every backend with a state but our own", pids)
	}
	w.note(first, 1000, []int32{10, 20, 30, 31}, []int64{500, 7000, 100, 0})
	if got, total := measuredSuspects(first, w); got != nil || total != 0 {
		t.Errorf("one read measures nothing: %+v", got)
	}

	second := &Snapshot{ServerTime: t0.Add(2 * time.Second), Backends: []Backend{
		backend(10, 0, -time.Hour, "active", -3*time.Second),
		backend(20, 0, time.Second, "active", time.Second), // the pid of a new backend
		backend(30, 0, -time.Hour, "idle", -time.Hour),
		backend(31, 10, -time.Second, "active", -time.Second),
		backend(40, 0, time.Second, "idle", time.Second),
	}}
	if pids := backendWALPIDs(second.Backends, w); !slices.Equal(pids, []int32{10, 20, 31, 40}) {
		t.Errorf("the second read asks for %v: want all but the session idle since long before the first", pids)
	}
	w.note(second, 1000+100*mb, []int32{10, 20, 31, 40}, []int64{500 + 50*mb, 15 * mb, 20 * mb, 5 * mb})
	got, total := measuredSuspects(second, w)
	if total != 100*mb || len(got) != 2 || got[0].PID != 10 || *got[0].Bytes != 70*mb || got[0].Attribution != Measured ||
		got[0].Query != "INSERT INTO t VALUES (1)" || got[1].PID != 20 || *got[1].Bytes != 15*mb {
		t.Errorf("measured %d bytes: %+v", total, got)
	}

	// Counters flushed late can show more than the server wrote since the
	// first read: no more than that is claimed.
	late := &backendWAL{}
	late.note(first, 1000, []int32{10}, []int64{500})
	late.note(second, 1000+10*mb, []int32{10}, []int64{500 + 12*mb})
	if got, total := measuredSuspects(second, late); len(got) != 1 || *got[0].Bytes != total || total != 10*mb {
		t.Errorf("12 MB counted of 10 MB written: %+v of %d", got, total)
	}

	likely := []WALSuspect{{PID: 50, Attribution: Likely}, {PID: 10, Attribution: Likely}}
	if all := attribute(got, total, likely); len(all) != 3 || all[0].PID != 10 || all[0].Attribution != Measured ||
		all[1].PID != 20 || all[2].PID != 50 {
		t.Errorf("85%% measured: the measured first, then what runs: %+v", all)
	}
	small := []WALSuspect{{PID: 20, Attribution: Measured, Bytes: ptr(int64(15 * mb))}}
	if all := attribute(small, total, likely); len(all) != 3 || all[0].PID != 50 || all[1].PID != 10 ||
		all[1].Attribution != Likely || all[2].PID != 20 {
		t.Errorf("15%% measured: what runs first, then the measured: %+v", all)
	}
}

func ptr[T any](v T) *T { return &v }

// A spike on PostgreSQL 18 makes the following refreshes read the
// backends' counters, and its end stops them; before 18 nothing is read.
func TestNoteWALReadsCountersOnlyDuringASpike(t *testing.T) {
	for _, v18 := range []bool{false, true} {
		c := &Collector{walRule: defaultWALSpikeRule, caps: Capabilities{BackendWAL: v18}}
		feed := func(d time.Duration, rate float64) *WALSpike {
			s := &Snapshot{ServerTime: t0.Add(d), Replication: &Replication{WALBytesPerSecond: &rate}}
			c.noteWAL(s)
			return s.Replication.WALSpike
		}
		for d := time.Duration(0); d < 2*time.Minute; d += time.Second {
			if feed(d, mb) != nil || c.backendWAL != nil {
				t.Fatalf("18: %v; a flat rate spiked or read the counters at %v", v18, d)
			}
		}
		if feed(2*time.Minute, 50*mb) == nil {
			t.Fatalf("18: %v; no spike", v18)
		}
		if (c.backendWAL != nil) != v18 {
			t.Errorf("18: %v; reading the counters: %v", v18, c.backendWAL != nil)
		}
		if feed(2*time.Minute+time.Second, mb) != nil || c.backendWAL != nil {
			t.Errorf("18: %v; the spike's end leaves the counters read", v18)
		}
	}
}

func TestFirstLine(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT 1":                            "SELECT 1",
		"\n\n   INSERT INTO t\n  SELECT 1\n":  "INSERT INTO t",
		"  \t\r\n":                            "",
		"UPDATE t SET a = 1 \r\nWHERE b = 2 ": "UPDATE t SET a = 1",
		"-- job 7\n/* a */ DELETE FROM t\n":   "DELETE FROM t",
		"-- only a comment":                   "",
	} {
		if got := firstLine(q); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", q, got, want)
		}
	}
}
