package inspect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var evT0 = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

func evTime(d time.Duration) *time.Time { t := evT0.Add(d); return &t }

// scene is a snapshot at second sec: used client slots out of 40 usable,
// and, when queue > 0, a root blocker (pid, started at start) with queue
// sessions waiting behind it.
type scene struct {
	sec        int
	used       int
	pid        int
	start      time.Duration
	queue      int
	indexes    []Index
	indexRead  int
	builds     []IndexBuild
	noBackends bool
}

func (sc scene) snapshot() *Snapshot {
	now := evT0.Add(time.Duration(sc.sec) * time.Second)
	s := &Snapshot{TakenAt: now, ServerTime: now, IndexesReadAt: evT0.Add(time.Duration(sc.indexRead) * time.Second),
		Server: Server{MaxConnections: 43, SuperuserReserved: 3, Reserved: 3, Usable: 40}, Indexes: sc.indexes, Builds: sc.builds}
	pid := 100
	add := func(b Backend) {
		b.BackendType = "client backend"
		if b.BackendStart == nil {
			b.BackendStart = evTime(-time.Hour)
		}
		s.Backends = append(s.Backends, b)
	}
	if sc.queue > 0 {
		add(Backend{PID: sc.pid, BackendStart: evTime(sc.start), ApplicationName: "migrate", User: "deploy", Database: "shop",
			State: "idle in transaction", Query: "ALTER TABLE users\n  ADD COLUMN note text"})
		for q := range sc.queue {
			add(Backend{PID: 5000 + q, State: "active", WaitEventType: "Lock", WaitEvent: "relation", BlockedBy: []int{sc.pid},
				BlockersTotal: 1, QueryStart: evTime(0), Query: "SELECT 1",
				Waiting: &LockWait{LockType: "relation", Mode: "AccessShareLock", Relation: "public.users", Since: evTime(0)}})
		}
	}
	for len(s.Backends) < sc.used {
		add(Backend{PID: pid, State: "idle"})
		pid++
	}
	s.Saturation = ComputeSaturation(s.Server, s.Backends, now)
	s.LockForest = BuildForest(s.Backends, now)
	return s
}

func kinds(evs []Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind))
	}
	return strings.Join(out, " ")
}

func TestDetectorBlocker(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	steps := []struct {
		sc   scene
		want string
	}{
		{scene{sec: 0, used: 5}, ""},
		{scene{sec: 1, used: 8, pid: 4101, queue: 3}, "blocker_start"},
		{scene{sec: 2, used: 9, pid: 4101, queue: 4}, ""},
		{scene{sec: 3, used: 12, pid: 4101, queue: 11}, "queue_over"},
		{scene{sec: 4, used: 12, pid: 4101, queue: 9}, ""},
		{scene{sec: 5, used: 12, pid: 4101, queue: 12}, ""}, // 10 was announced already
		{scene{sec: 6, used: 30, pid: 4101, queue: 26}, "queue_over slots_over"},
		{scene{sec: 70, used: 5}, "blocker_end slots_under"},
		// The same pid, another session: a new blocker.
		{scene{sec: 71, used: 6, pid: 4101, start: time.Minute, queue: 2}, "blocker_start"},
	}
	var all []Event
	for _, st := range steps {
		evs := d.Observe(st.sc.snapshot())
		if got := kinds(evs); got != st.want {
			t.Fatalf("second %d: events %q, want %q: %+v", st.sc.sec, got, st.want, evs)
		}
		all = append(all, evs...)
	}
	start, end := all[0], all[4]
	if start.PID != 4101 || start.App != "migrate" || start.Count != 3 || start.Relation != "public.users" ||
		start.Lock != "AccessShareLock" || !start.At.Equal(evT0.Add(time.Second)) {
		t.Fatalf("start %+v", start)
	}
	if !strings.Contains(start.Text, "root blocker pid 4101 (migrate, ALTER TABLE users ADD COLUMN note text) holds up 3 session(s) on public.users") {
		t.Fatalf("start text %q", start.Text)
	}
	if all[1].Level != "10" || all[1].Count != 11 || all[2].Level != "25" {
		t.Fatalf("queue levels %+v %+v", all[1], all[2])
	}
	if end.Kind != BlockerEnd || end.Duration != 70*time.Second || end.Peak != 26 || !strings.Contains(end.Text, "is gone after 1m10s") {
		t.Fatalf("end %+v", end)
	}
}

// Slot use moving by one around a level is one event, not one a second;
// rising to full gives each level once, in order.
func TestDetectorSlotLevels(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	var got []string
	for i, used := range []int{20, 29, 30, 29, 30, 29, 30, 31, 29, 30, 36, 40, 39, 40, 38, 20, 30} {
		for _, e := range d.Observe(scene{sec: i, used: used}.snapshot()) {
			got = append(got, fmt.Sprintf("%s:%s@%d", e.Kind, e.Level, used))
		}
	}
	want := []string{"slots_over:warn@30", "slots_over:90%@36", "slots_over:full@40", "slots_under:warn@20", "slots_over:warn@30"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestDetectorForecast(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	var fired []Event
	// 4 slots a minute from 5: full (40) in under 9 minutes.
	for sec := 0; sec <= 300; sec++ {
		used := 5 + sec*4/60
		for _, e := range d.Observe(scene{sec: sec, used: used}.snapshot()) {
			if e.Kind == ForecastFull {
				fired = append(fired, e)
			}
		}
	}
	if len(fired) != 1 {
		t.Fatalf("forecast fired %d times", len(fired))
	}
	if f := fired[0]; f.PerMinute < 3 || f.PerMinute > 5 || f.Duration <= 0 || !strings.Contains(f.Text, "the pool will be full in ~") {
		t.Fatalf("forecast %+v", f)
	}
	// Flat use never forecasts.
	d = NewDetector(DetectorOptions{})
	for sec := 0; sec <= 300; sec++ {
		for _, e := range d.Observe(scene{sec: sec, used: 20 + sec%2}.snapshot()) {
			if e.Kind == ForecastFull {
				t.Fatalf("flat use forecast: %+v", e)
			}
		}
	}
}

func TestDetectorIndexesAndBuilds(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	bad := Index{Database: "shop", Schema: "public", Table: "accounts", Name: "accounts_code_uq", OID: 16400, Status: IndexFailedAfterBuild}
	building := Index{Database: "shop", Schema: "public", Table: "events", Name: "events_idx", OID: 16500, Status: IndexBuilding}
	started := evTime(0)
	build := IndexBuild{PID: 4400, Command: "CREATE INDEX CONCURRENTLY", Index: "events_idx", Table: "events", Phase: "building index", Started: started}
	steps := []struct {
		sc   scene
		want string
	}{
		{scene{sec: 0, used: 3, indexes: []Index{bad, building}, builds: []IndexBuild{build}}, "index_invalid build_start"},
		// Indexes not read again: nothing said about them, even if the
		// list were different.
		{scene{sec: 1, used: 3, indexes: nil, builds: []IndexBuild{build}}, ""},
		{scene{sec: 10, used: 3, indexes: []Index{bad}, indexRead: 10,
			builds: []IndexBuild{{PID: 4400, Command: build.Command, Index: "events_idx", Table: "events", Phase: "index validation: scanning table", Started: started}}},
			"build_phase"},
		{scene{sec: 20, used: 3, indexes: nil, indexRead: 20}, "index_gone build_end"},
	}
	var all []Event
	for _, st := range steps {
		evs := d.Observe(st.sc.snapshot())
		if got := kinds(evs); got != st.want {
			t.Fatalf("second %d: %q, want %q", st.sc.sec, got, st.want)
		}
		all = append(all, evs...)
	}
	if all[0].Index != "public.accounts_code_uq" || !strings.Contains(all[0].Text, "invalid index public.accounts_code_uq on public.accounts") {
		t.Fatalf("%+v", all[0])
	}
	if e := all[len(all)-1]; e.Duration != 20*time.Second || e.PID != 4400 {
		t.Fatalf("build end %+v", e)
	}
}

func TestDetectorLostAndBack(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	d.Observe(scene{sec: 0, used: 3}.snapshot())
	evs := d.Lost(evT0.Add(time.Second), errors.New("connection refused\nmore detail"))
	if len(evs) != 1 || evs[0].Kind != ConnectionLost || !strings.HasSuffix(evs[0].Text, "connection refused") {
		t.Fatalf("%+v", evs)
	}
	if evs := d.Lost(evT0.Add(2*time.Second), errors.New("again")); len(evs) != 0 {
		t.Fatal("a second failure of the same outage is an event")
	}
	evs = d.Observe(scene{sec: 31, used: 3}.snapshot())
	if len(evs) != 1 || evs[0].Kind != ConnectionBack || evs[0].Duration != 30*time.Second {
		t.Fatalf("%+v", evs)
	}
}

func TestDetectorCycleAndPrepared(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	s := scene{sec: 0, used: 4}.snapshot()
	s.Backends = append(s.Backends,
		Backend{PID: 7001, BackendType: "client backend", WaitEventType: "Lock", BlockedBy: []int{7002}, BlockersTotal: 1},
		Backend{PID: 7002, BackendType: "client backend", WaitEventType: "Lock", BlockedBy: []int{7001}, BlockersTotal: 1},
		Backend{PID: 7003, BackendType: "client backend", WaitEventType: "Lock", BlockedBy: []int{0}, BlockersTotal: 1, PreparedGID: "pay-17"})
	s.Saturation = ComputeSaturation(s.Server, s.Backends, s.ServerTime)
	s.LockForest = BuildForest(s.Backends, s.ServerTime)
	evs := d.Observe(s)
	if got := kinds(evs); !strings.Contains(got, "deadlock_cycle") || !strings.Contains(got, "prepared_locks") {
		t.Fatalf("%q %+v", got, evs)
	}
	if got := kinds(d.Observe(s)); strings.Contains(got, "deadlock_cycle") || strings.Contains(got, "prepared_locks") {
		t.Fatalf("the same cycle and prepared transaction again: %q", got)
	}
}

// The event's JSON keys are the documented contract.
func TestEventJSONKeys(t *testing.T) {
	e := Event{At: evT0, Kind: BlockerStart, Text: "x", PID: 1, BackendStart: evTime(0), App: "a", User: "u", Database: "d",
		Query: "q", Lock: "l", Relation: "r", Index: "i", Phase: "p", Count: 2, Of: 3, Level: "warn", Duration: time.Second,
		Peak: 4, PerMinute: 1.5, ActionID: "id", Action: "terminate", SQL: []string{"s"}, Outcome: "done"}
	raw, _ := json.Marshal(e)
	var m map[string]any
	json.Unmarshal(raw, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"action", "action_id", "application_name", "at", "backend_start", "count", "database", "duration_ns",
		"index", "kind", "level", "lock", "of", "outcome", "peak", "per_minute", "phase", "pid", "query", "relation", "sql", "text", "user"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v\nwant %v", keys, want)
	}
	raw, _ = json.Marshal(Event{At: evT0, Kind: SlotsUnder, Text: "y"})
	if string(raw) != `{"at":"2026-12-02T02:00:00Z","kind":"slots_under","text":"y"}` {
		t.Fatalf("empty keys are not left out: %s", raw)
	}
}

// A long run keeps nothing of what is gone.
func TestDetectorBounded(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	for i := range 5000 {
		d.Observe(scene{sec: i, used: 8, pid: 10000 + i, start: time.Duration(i) * time.Second, queue: 3}.snapshot())
	}
	if len(d.roots) != 1 || len(d.history.Samples()) > 901 {
		t.Fatalf("%d roots, %d samples kept", len(d.roots), len(d.history.Samples()))
	}
}

// A PgBouncer pool's queue is an event when it starts and when it ends,
// once each; its filling is forecast; a pooler not read says nothing.
func TestPoolerEvents(t *testing.T) {
	d := NewDetector(DetectorOptions{})
	var got []Event
	for sec := 0; sec <= 400; sec++ {
		s := scene{sec: sec, used: 5}.snapshot()
		busy := min(40, 10+sec*30/400) // 10 to 40 of 40: +4.5 a minute
		pool := Pool{Database: "shop", User: "app", PoolSize: 40, ServersActive: busy}
		if sec >= 300 && sec < 350 {
			pool.ClientsWaiting, pool.MaxWaitSeconds = sec-299, float64(sec-299)/10
			pool.Behind = []PoolBlocker{{PID: 4101, Servers: 30}}
		}
		s.Pooler = &Pooler{Pools: []Pool{pool}}
		if sec == 320 {
			s.Pooler.Error = "reading PgBouncer: timeout"
		}
		for _, e := range d.Observe(s) {
			if strings.HasPrefix(string(e.Kind), "pgbouncer") {
				got = append(got, e)
			}
		}
	}
	var kinds []string
	for _, e := range got {
		kinds = append(kinds, fmt.Sprintf("%s@%s", e.Kind, e.At.Sub(evT0)))
	}
	if len(got) != 3 || got[0].Kind != PoolerFilling || got[1].Kind != PoolerQueue || got[2].Kind != PoolerQueueEnd {
		t.Fatalf("events %v", kinds)
	}
	if at := got[0].At.Sub(evT0); at > 280*time.Second {
		t.Errorf("the forecast came at %s, under two minutes before full at 400s", at)
	}
	if got[1].At.Sub(evT0) != 300*time.Second || !strings.Contains(got[1].Text, "1 clients queue in PgBouncer pool shop/app") ||
		!strings.Contains(got[1].Text, "30 behind pid 4101") {
		t.Errorf("queue start: %s %q", got[1].At.Sub(evT0), got[1].Text)
	}
	if got[2].At.Sub(evT0) != 350*time.Second || got[2].Duration != 50*time.Second {
		t.Errorf("queue end: %s after %s", got[2].At.Sub(evT0), got[2].Duration)
	}
}
