package recording

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// busy is refresh i of a server with n client backends, waiting of them
// queued behind one blocker, and about a tenth of the others starting a
// statement each second: the load harness's 600/60 shape.
func busy(i, n, waiting int) *inspect.Snapshot {
	now := t0.Add(time.Duration(i) * time.Second)
	s := &inspect.Snapshot{TakenAt: now, ServerTime: now, IndexesReadAt: t0,
		Server: inspect.Server{Version: "15.18", VersionNum: 150018, Database: "shop", User: "postgres",
			MaxConnections: 2000, Usable: 1997, OwnPID: 99}}
	s.Backends = make([]inspect.Backend, 0, n)
	for p := range n {
		b := inspect.Backend{PID: 10000 + p, BackendType: "client backend", Database: "shop", User: "app",
			ApplicationName: "web-" + fmt.Sprint(p%7), ClientAddr: "10.0.3.17", State: "idle",
			BackendStart: tp(t0.Add(-time.Hour)), StateChange: tp(t0.Add(-time.Minute)),
			Query: fmt.Sprintf("SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1 /* %d */", p%50)}
		switch {
		case p == 0:
			b.State, b.XactStart, b.Query = "idle in transaction", tp(t0), "ALTER TABLE users ADD COLUMN note text"
		case p <= waiting:
			b.State, b.WaitEventType, b.WaitEvent = "active", "Lock", "relation"
			b.XactStart, b.QueryStart = tp(t0.Add(time.Duration(p)*time.Second)), tp(t0.Add(time.Duration(p)*time.Second))
			b.BlockedBy, b.BlockersTotal = []int{10000}, 1
			b.Waiting = &inspect.LockWait{LockType: "relation", Mode: "AccessShareLock", Relation: "public.users", Since: b.QueryStart}
		case (p+i)%10 == 0:
			b.State, b.QueryStart, b.StateChange = "active", tp(now), tp(now)
			b.XactStart = tp(now)
		default:
			// Each backend's last statement started the last time it was busy.
			last := now.Add(-time.Duration((p+i)%10) * time.Second)
			b.QueryStart, b.StateChange = tp(last), tp(last.Add(3*time.Millisecond))
		}
		s.Backends = append(s.Backends, b)
	}
	s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, now)
	s.LockForest = inspect.BuildForest(s.Backends, now)
	return s
}

// BenchmarkRecord600 records the 600/60 shape: ns/op is the recorder's
// cost per refresh, and bytes/refresh what an hour at 1 s costs on disk
// divided by 3600.
func BenchmarkRecord600(b *testing.B) {
	const n = 240
	snaps := make([]*inspect.Snapshot, n)
	for i := range snaps {
		snaps[i] = busy(i, 600, 60)
	}
	path := filepath.Join(b.TempDir(), "r.pgmedic")
	w, err := Create(path, Header{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Add(snaps[i%n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	w.Close()
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/float64(b.N), "bytes/refresh")
}

// BenchmarkJump opens an hour of the 600/60 shape and goes to refreshes
// spread over it, as replay's jumps do.
func BenchmarkJump(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.pgmedic")
	w, err := Create(path, Header{})
	if err != nil {
		b.Fatal(err)
	}
	const hour = 3600
	for i := range hour {
		if err := w.Add(busy(i%240, 600, 60)); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.At((i * 1237) % hour); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
