package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

var t0 = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

func tp(t time.Time) *time.Time { return &t }

// incident is refresh i of a small staged story: a migration (pid 4101)
// takes its lock at refresh 5, and one more session queues behind it
// each refresh until it is gone at refresh 150.
func incident(i int) *inspect.Snapshot {
	now := t0.Add(time.Duration(i) * time.Second)
	s := &inspect.Snapshot{TakenAt: now, ServerTime: now, IndexesReadAt: t0.Add(time.Duration(i/10*10) * time.Second),
		Server: inspect.Server{Version: "15.18", VersionNum: 150018, Database: "shop", User: "postgres",
			MaxConnections: 100, SuperuserReserved: 3, Reserved: 3, Usable: 97, OwnPID: 99}}
	for p := range 20 {
		s.Backends = append(s.Backends, inspect.Backend{PID: 1000 + p, BackendType: "client backend", Database: "shop",
			User: "app", ApplicationName: "web", State: "idle", BackendStart: tp(t0.Add(-time.Hour)),
			StateChange: tp(t0.Add(-time.Minute)), Query: fmt.Sprintf("SELECT * FROM orders WHERE id = %d", p)})
	}
	migrating := i >= 5 && i < 150
	if migrating {
		s.Backends = append(s.Backends, inspect.Backend{PID: 4101, BackendType: "client backend", Database: "shop",
			User: "deploy", ApplicationName: "migrate", State: "idle in transaction", BackendStart: tp(t0),
			XactStart: tp(t0.Add(5 * time.Second)), StateChange: tp(t0.Add(6 * time.Second)),
			Query: "ALTER TABLE users ADD COLUMN note text"})
		for q := 0; q < i-5 && q < 60; q++ {
			start := t0.Add(time.Duration(6+q) * time.Second)
			s.Backends = append(s.Backends, inspect.Backend{PID: 5000 + q, BackendType: "client backend", Database: "shop",
				User: "app", ApplicationName: "web", State: "active", WaitEventType: "Lock", WaitEvent: "relation",
				BackendStart: tp(start), XactStart: tp(start), QueryStart: tp(start), StateChange: tp(start),
				Query: "SELECT * FROM users WHERE id = 1", BlockedBy: []int{4101}, BlockersTotal: 1,
				Waiting: &inspect.LockWait{LockType: "relation", Mode: "AccessShareLock", Relation: "public.users", Since: tp(start)}})
		}
	}
	if i%7 == 0 { // some churn among the idle ones
		s.Backends[i%20].State = "active"
		s.Backends[i%20].QueryStart = tp(now)
	}
	s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, now)
	s.LockForest = inspect.BuildForest(s.Backends, now)
	// The parts besides the backends come and go, back to nil: a list
	// that empties must not read as unchanged. A partitioned index's size
	// is 0 and a build starts at 0%: not "not read".
	if i >= 100 && i < 180 {
		s.Warnings = []string{"1 invalid index(es): ..."}
	}
	if i >= 100 && i < 170 {
		zero, size := int64(0), int64(8192)
		s.Indexes = []inspect.Index{
			{Database: "shop", Schema: "public", Table: "users", Name: "users email idx", OID: 16400, Status: inspect.IndexFailedDuringBuild, SizeBytes: &size},
			{Database: "shop", Schema: "public", Table: "events", Name: "events_at_idx", OID: 16410, Status: inspect.IndexPartitionedIncomplete, Partitioned: true, SizeBytes: &zero},
		}
		s.Databases = []string{"shop"}
	}
	if i >= 120 && i < 130 {
		pct := 0.0
		s.Builds = []inspect.IndexBuild{{PID: 4200, Database: "shop", Index: "users_email_idx", Phase: "building index", Percent: &pct}}
	}
	if i >= 140 && i < 160 {
		pct, rate, eta := float64(i-140)*5, 12.5, float64(160-i)
		s.Operations = []inspect.Operation{{PID: 4300, Kind: "VACUUM FULL", Database: "shop", Table: "users", Phase: "seq scanning heap",
			Step: 2, Steps: 8, Unit: "blocks", Done: int64(i - 140), Total: 20, Percent: &pct, PerSecond: &rate, ETASeconds: &eta}}
		size := int64(8 << 30)
		s.Rewrites = []inspect.Rewrite{{PID: 4301, Database: "shop", Action: "changes a column's type", Rewrites: true,
			Table: "orders", SizeBytes: &size, Started: tp(t0.Add(140 * time.Second)), Blocking: i - 140}}
	}
	if i >= 150 && i < 175 {
		lag := int64(i) << 20
		s.Replication = &inspect.Replication{LSN: fmt.Sprintf("0/%X", i<<20), Standbys: []inspect.Standby{{PID: 77,
			ApplicationName: "replica", State: "streaming", ReplayLagBytes: &lag}}}
	}
	if i >= 165 && i < 185 {
		// As the recording keeps it: of the clients, the oldest waiting.
		s.Pooler = &inspect.Pooler{Target: "admin@pool:6432", Version: "PgBouncer 1.18.0", ReadAt: t0.Add(time.Duration(i) * time.Second),
			Pools: []inspect.Pool{{Database: "shop", User: "app", Mode: "transaction", ClientsWaiting: i - 165, PoolSize: 20,
				ServersActive: 20, MaxWaitSeconds: float64(i-165) / 2, Behind: []inspect.PoolBlocker{{PID: 4101, Servers: 18}}}},
			Servers: []inspect.PoolConn{{User: "app", Database: "shop", State: "active", RemotePID: 4200,
				Backend: &inspect.PoolBackend{State: "active", Root: 4101}}}}
		if i > 165 {
			s.Pooler.Clients = []inspect.PoolConn{{User: "app", Database: "shop", State: "waiting", WaitSeconds: float64(i-165) / 2}}
		}
		if i == 175 {
			s.Pooler.Error = "reading PgBouncer: conn closed"
		}
	}
	if i >= 130 && i < 140 {
		s.Prepared = []inspect.PreparedXact{{GID: "tx 1", Owner: "app", Database: "shop", Prepared: t0}}
	}
	return s
}

func writeIncident(t *testing.T, path string, n int) {
	t.Helper()
	w, err := Create(path, Header{PGMedic: "test", Started: t0, Target: "postgres@socket /tmp:5432/shop", Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Add(incident(i)); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			if err := w.AddEvents([]inspect.Event{{At: incident(i).ServerTime, Kind: inspect.BlockerStart, PID: 4101}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// comparable strips what a recording does not keep (unexported fields)
// by a JSON round trip of both sides.
func asJSON(t *testing.T, s *inspect.Snapshot) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pgmedic")
	const n = 200
	writeIncident(t, path, n)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != n || r.Damage() != nil {
		t.Fatalf("len %d damage %v", r.Len(), r.Damage())
	}
	if h := r.Header(); h.Format != FormatVersion || h.PGMedic != "test" || h.Interval != time.Second {
		t.Fatalf("header %+v", h)
	}
	if len(r.Events()) != 1 || r.Events()[0].PID != 4101 {
		t.Fatalf("events %+v", r.Events())
	}
	// Forward, backward, and jumps across segments all give the snapshot
	// that was written, forest and saturation included.
	for _, i := range []int{0, 1, 2, 59, 60, 61, 149, 150, 30, 199, 0, 120, 119, 100, 125, 135, 140, 145, 150, 151, 159, 160, 169, 170, 174, 175, 179, 180, 165, 166, 184, 185, 176} {
		got, err := r.At(i)
		if err != nil {
			t.Fatalf("At(%d): %v", i, err)
		}
		if g, w := asJSON(t, got), asJSON(t, incident(i)); g != w {
			t.Fatalf("refresh %d differs:\n got %s\nwant %s", i, g, w)
		}
	}
	for i := range n {
		got, err := r.At(i)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Backends) != len(incident(i).Backends) || got.LockForest.Waiting != incident(i).LockForest.Waiting {
			t.Fatalf("refresh %d: %d backends, %d waiting", i, len(got.Backends), got.LockForest.Waiting)
		}
	}
	at := t0.Add(90*time.Second + 500*time.Millisecond)
	if i, err := r.Index(at); err != nil || i != 90 {
		t.Fatalf("Index(%v) = %d, %v", at, i, err)
	}
	if i, _ := r.Index(t0.Add(-time.Hour)); i != 0 {
		t.Fatalf("before the start: %d", i)
	}
	if i, _ := r.Index(t0.Add(time.Hour)); i != n-1 {
		t.Fatalf("after the end: %d", i)
	}
	s, err := r.Sample(100)
	if err != nil || s.Waiting != 60 || s.Roots != 1 || s.Used != 20+1+60 {
		t.Fatalf("sample 100: %+v %v", s, err)
	}
	ss, err := r.Samples(t0.Add(10*time.Second), t0.Add(70*time.Second))
	if err != nil || len(ss) != 61 || !ss[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("samples: %d %v", len(ss), err)
	}
	if !r.Start().Equal(t0) || !r.End().Equal(t0.Add((n-1)*time.Second)) {
		t.Fatalf("start %v end %v", r.Start(), r.End())
	}
}

// Gob reads a pointer to a zero value back as nil. A Backend's pointers
// may only be to what is never zero when set (a timestamp from the
// server, a lock wait, which always has a lock type); a new pointer field
// must be checked for this, or moved to the JSON part of a record.
func TestBackendGob(t *testing.T) {
	allowed := map[reflect.Type]bool{reflect.TypeFor[time.Time](): true, reflect.TypeFor[inspect.LockWait](): true}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Pointer:
				if !allowed[f.Type.Elem()] {
					t.Errorf("%s.%s is a pointer to %s: gob would read a pointer to its zero back as nil", path, f.Name, f.Type.Elem())
				}
				if f.Type.Elem().Kind() == reflect.Struct && f.Type.Elem() != reflect.TypeFor[time.Time]() {
					walk(f.Type.Elem(), path+"."+f.Name)
				}
			case reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
				t.Errorf("%s.%s is a %s: not for a gob record", path, f.Name, f.Type.Kind())
			}
		}
	}
	walk(reflect.TypeFor[inspect.Backend](), "Backend")
}

// A recorder killed while writing leaves a chunk cut short: every refresh
// before it is read, and the damage is reported, never fatal.
func TestCutShortTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.pgmedic")
	writeIncident(t, path, 70)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := Open(path)
	last := whole.chunkEnd(t, 68) // the end of refresh 68's chunk
	whole.Close()
	for _, cut := range []int64{last + 1, last + 20, last + headerSize + 3, int64(len(raw)) - 1} {
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(p, raw[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		var d *DamageError
		if !errors.As(r.Damage(), &d) || d.Offset != last || !strings.Contains(d.Error(), "cut short") {
			t.Fatalf("cut at %d: damage %v", cut, r.Damage())
		}
		if r.Len() != 69 {
			t.Fatalf("cut at %d: %d refreshes, want 69", cut, r.Len())
		}
		got, err := r.At(68)
		if err != nil || asJSON(t, got) != asJSON(t, incident(68)) {
			t.Fatalf("cut at %d: last whole refresh: %v", cut, err)
		}
		r.Close()
	}
}

// chunkEnd is where refresh i's chunk ends.
func (r *Reader) chunkEnd(t *testing.T, i int) int64 {
	t.Helper()
	k := r.segmentOf(i)
	if err := r.load(k); err != nil {
		t.Fatal(err)
	}
	c := r.chunks[i-r.segs[k].first]
	return c.off + int64(c.length)
}

func TestCorruptChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pgmedic")
	writeIncident(t, path, 70)
	r, _ := Open(path)
	end := r.chunkEnd(t, 30)
	r.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, end+headerSize+2) // inside refresh 31's payload
	f.Close()
	r, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Len() != 31 || r.Damage() == nil || !strings.Contains(r.Damage().Error(), "checksum") {
		t.Fatalf("len %d damage %v", r.Len(), r.Damage())
	}
	if _, err := r.At(30); err != nil {
		t.Fatal(err)
	}
}

func TestNotARecording(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty": "", "text": "hello\n", "magic-only": Magic,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := Open(p); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	// A newer format is refused with what to do.
	p := filepath.Join(dir, "future")
	w, err := Create(p, Header{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	raw, _ := os.ReadFile(p)
	h := chunkHeader{kind: kindHeader}
	future := append([]byte(Magic), h.marshal([]byte(`{"format":99}`))...)
	os.WriteFile(p, future, 0o600)
	_, err = Open(p)
	if err == nil || !strings.Contains(err.Error(), "newer pgmedic") {
		t.Fatalf("future format: %v (%d bytes before)", err, len(raw))
	}
}

func TestCreateNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "r.pgmedic")
	w, err := Create(p, Header{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := Create(p, Header{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second create: %v", err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// TestSameBackend changes each field of a backend in turn: sameBackend
// must see every one, or a recording would miss that change.
func TestSameBackend(t *testing.T) {
	base := incident(10).Backends[21] // a waiter: every pointer is set
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		changed := base
		cv := reflect.ValueOf(&changed).Elem().Field(i)
		switch cv.Kind() {
		case reflect.String:
			cv.SetString(cv.String() + "x")
		case reflect.Int:
			cv.SetInt(cv.Int() + 1)
		case reflect.Bool:
			cv.SetBool(!cv.Bool())
		case reflect.Slice:
			cv.Set(reflect.Append(cv, reflect.ValueOf(7)))
		case reflect.Pointer:
			switch p := cv.Interface().(type) {
			case *time.Time:
				cv.Set(reflect.ValueOf(tp(p.Add(time.Second))))
			case *inspect.LockWait:
				w := *p
				w.Mode = "ExclusiveLock"
				cv.Set(reflect.ValueOf(&w))
			default:
				t.Fatalf("field %s: teach this test its type", f.Name)
			}
		default:
			t.Fatalf("field %s: teach this test its kind %v", f.Name, cv.Kind())
		}
		if sameBackend(&base, &changed) {
			t.Errorf("sameBackend misses a change of %s", f.Name)
		}
	}
	copied := base
	if !sameBackend(&base, &copied) {
		t.Fatal("a copy differs")
	}
}

// TestDeltaApply checks that applying a delta gives the snapshot it was
// taken from, whatever moved: backends gone from the middle, new ones,
// the order changed.
func TestDeltaApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	prev := incident(40)
	for step := range 300 {
		cur := &inspect.Snapshot{TakenAt: prev.TakenAt.Add(time.Second), ServerTime: prev.ServerTime.Add(time.Second),
			Server: prev.Server, IndexesReadAt: prev.IndexesReadAt}
		for _, b := range prev.Backends {
			switch rng.IntN(10) {
			case 0: // gone
			case 1:
				b.State = fmt.Sprint("state ", step)
				cur.Backends = append(cur.Backends, b)
			default:
				cur.Backends = append(cur.Backends, b)
			}
		}
		for range rng.IntN(4) {
			cur.Backends = append(cur.Backends, inspect.Backend{PID: 20000 + rng.IntN(5000), State: "idle"})
		}
		if rng.IntN(5) == 0 && len(cur.Backends) > 1 {
			i, j := rng.IntN(len(cur.Backends)), rng.IntN(len(cur.Backends))
			cur.Backends[i], cur.Backends[j] = cur.Backends[j], cur.Backends[i]
		}
		cur.Backends = slices.CompactFunc(cur.Backends, func(a, b inspect.Backend) bool { return a.PID == b.PID })
		seen := map[int]bool{}
		cur.Backends = slices.DeleteFunc(cur.Backends, func(b inspect.Backend) bool { d := seen[b.PID]; seen[b.PID] = true; return d })

		r, err := delta(prev, cur)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.apply(prev)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]inspect.Backend{}
		for _, b := range cur.Backends {
			want[b.PID] = b
		}
		if len(got.Backends) != len(cur.Backends) {
			t.Fatalf("step %d: %d backends, want %d", step, len(got.Backends), len(cur.Backends))
		}
		for _, b := range got.Backends {
			w, ok := want[b.PID]
			if !ok || !sameBackend(&b, &w) {
				t.Fatalf("step %d: pid %d differs", step, b.PID)
			}
		}
		prev = got
	}
}

// The recording keeps, of a pooler's clients, the oldest waiting one of
// each database: the pools count the rest.
func TestPoolerForRecord(t *testing.T) {
	p := &inspect.Pooler{Clients: []inspect.PoolConn{
		{Database: "shop", State: "active"},
		{Database: "shop", State: "waiting", WaitSeconds: 1, Port: 1},
		{Database: "shop", State: "waiting", WaitSeconds: 3, Port: 2},
		{Database: "batch", State: "waiting", WaitSeconds: 2, Port: 3},
		{Database: "shop", State: "waiting", WaitSeconds: 2, Port: 4},
	}}
	got := poolerForRecord(p)
	if len(got.Clients) != 2 || got.Clients[0].Port != 2 || got.Clients[1].Port != 3 {
		t.Errorf("kept %+v", got.Clients)
	}
	if len(p.Clients) != 5 {
		t.Errorf("the snapshot's own clients were changed")
	}
	if poolerForRecord(nil) != nil {
		t.Errorf("no pooler came back as one")
	}
}
