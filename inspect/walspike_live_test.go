package inspect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// walLab is a throwaway cluster written to a little and steadily, and a
// collector that has the baseline of that trickle.
type walLab struct {
	c    *pgcluster.Cluster
	coll *inspect.Collector
	s    *inspect.Snapshot // the latest
}

// startWALLab starts the cluster and the trickle (a row every 100 ms,
// until the test ends), and refreshes until the collector has a baseline:
// a little over RateWindow. The spike rule's floor is 1 MB/s here, so
// that a load of tens of MB/s is far above it on any machine; the
// default thresholds are the pure tests'.
func startWALLab(ctx context.Context, t *testing.T, c *pgcluster.Cluster) *walLab {
	t.Helper()
	l := &walLab{c: c}
	must(t, l.c.Exec(ctx, "", "CREATE TABLE trickle (id bigserial, at timestamptz DEFAULT now()); CREATE TABLE bulk (g int, pad text)"))
	coll, err := inspect.NewCollector(ctx, l.monitor(ctx, t, "pgmedic"))
	must(t, err)
	l.coll = coll
	inspect.QuickWALSpikes(l.coll, 1<<20)

	trickle := l.monitor(ctx, t, "trickle")
	tctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for tctx.Err() == nil {
			if _, err := trickle.Exec(tctx, "INSERT INTO trickle DEFAULT VALUES"); err != nil && tctx.Err() == nil {
				t.Errorf("the trickle: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })

	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		l.refresh(ctx, t)
		if _, ok := inspect.WALBaseline(l.coll, l.s.ServerTime); ok {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatal("no baseline of the WAL rate after two minutes of refreshes")
		}
	}
}

func (l *walLab) monitor(ctx context.Context, t *testing.T, app string) *pgx.Conn {
	t.Helper()
	cfg, err := connect.Config(connect.Options{DBName: l.c.ConnString("", "") + " application_name=" + app})
	must(t, err)
	conn, err := connect.Open(ctx, cfg)
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (l *walLab) refresh(ctx context.Context, t *testing.T) {
	t.Helper()
	s, err := l.coll.Snapshot(ctx)
	must(t, err)
	l.s = s
}

// load is a session writing in the background.
type load struct {
	done chan struct{}
	err  error
}

func startLoad(run func() error) *load {
	ld := &load{done: make(chan struct{})}
	go func() {
		defer close(ld.done)
		ld.err = run()
	}()
	return ld
}

// waitForSuspect refreshes until the spike names pid first as attributed,
// or the load ends, or the deadline passes.
func (l *walLab) waitForSuspect(ctx context.Context, t *testing.T, pid int, attribution string, ld *load) *inspect.WALSpike {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		l.refresh(ctx, t)
		sp := l.s.Replication.WALSpike
		if sp != nil && len(sp.Suspects) > 0 && sp.Suspects[0].PID == pid && sp.Suspects[0].Attribution == attribution {
			w := sp.Suspects[0]
			bytes := "-"
			if w.Bytes != nil && sp.MeasuredBytes != nil {
				bytes = fmt.Sprintf("%d of %d", *w.Bytes, *sp.MeasuredBytes)
			}
			t.Logf("WAL at %.1f MB/s over a baseline of %.3f MB/s, since %s: pid %d (%s) %s, %q, bytes %s; %d suspect(s)",
				sp.BytesPerSecond/(1<<20), sp.BaselineBytesPerSecond/(1<<20), sp.Since.Format(time.TimeOnly),
				w.PID, w.ApplicationName, w.Attribution, w.Evidence, bytes, len(sp.Suspects))
			return sp
		}
		select {
		case <-ld.done:
			t.Fatalf("the load ended (%v) before a spike named pid %d (%s); last: rate %v, spike %+v",
				ld.err, pid, attribution, l.s.Replication.WALBytesPerSecond, sp)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spike named pid %d (%s) in 3 minutes; last: rate %v, spike %+v", pid, attribution,
				l.s.Replication.WALBytesPerSecond, sp)
		}
	}
}

// A session named bulk-loader runs one long INSERT ... SELECT
// generate_series on a cluster that was written to a little and
// steadily: the snapshot's WAL spike names that session, as likely (by
// what it runs), with its application and statement. On every version:
// its WAL reaches its backend's own counter (18+) only when the
// statement ends. The INSERT sleeps a little every 2 MB, so that it lasts
// more than a minute on any machine and writes at most 2 GB; it is
// cancelled once named.
func TestWALSpikeLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	l := startWALLab(ctx, t, pgtest.Start(t, pgcluster.Options{}))

	loader := l.monitor(ctx, t, "bulk-loader")
	pid := int(loader.PgConn().PID())
	ld := startLoad(func() error {
		_, err := loader.Exec(ctx, `INSERT INTO bulk SELECT g, repeat(md5(g::text), 30)
FROM generate_series(1, 2000000) g WHERE g % 2000 <> 0 OR pg_sleep(0.1) IS NOT NULL`)
		return err
	})
	t.Cleanup(func() {
		_ = l.c.Exec(context.Background(), "", fmt.Sprintf("SELECT pg_cancel_backend(%d)", pid))
		<-ld.done
	})

	sp := l.waitForSuspect(ctx, t, pid, inspect.Likely, ld)
	w := sp.Suspects[0]
	if w.ApplicationName != "bulk-loader" || !strings.HasPrefix(w.Query, "INSERT INTO bulk SELECT") ||
		w.Evidence != inspect.LongestWrite || w.Bytes != nil {
		t.Errorf("the loader as named: %+v", w)
	}
	if sp.BytesPerSecond < 1<<20 || sp.BytesPerSecond < 4*sp.BaselineBytesPerSecond || sp.Since.After(l.s.ServerTime) {
		t.Errorf("the spike: %+v", sp)
	}
	raw, err := json.Marshal(l.s)
	must(t, err)
	if !strings.Contains(string(raw), `"wal_spike":{"bytes_per_second":`) {
		t.Errorf("the JSON lacks the spike: %.300s", raw[strings.Index(string(raw), `"replication"`):])
	}
}

// On PostgreSQL 18+, a session that writes in many short transactions is
// named from its own WAL counter, with what it wrote: "measured". Before
// 18 the test is skipped (nothing measures).
func TestWALSpikeMeasuredLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := pgtest.Start(t, pgcluster.Options{})
	if v := serverVersionNum(ctx, t, c); v < 180000 {
		t.Skipf("PostgreSQL %d has no per-backend WAL counters (18+)", v)
	}
	l := startWALLab(ctx, t, c)

	loader := l.monitor(ctx, t, "batch-loader")
	pid := int(loader.PgConn().PID())
	lctx, stop := context.WithCancel(ctx)
	ld := startLoad(func() error {
		// 2 MB a transaction, at most 1,000 of them: 50 s or more.
		for i := 0; i < 1000 && lctx.Err() == nil; i++ {
			if _, err := loader.Exec(lctx, `INSERT INTO bulk SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 2000) g`); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	})
	t.Cleanup(func() { stop(); <-ld.done })

	sp := l.waitForSuspect(ctx, t, pid, inspect.Measured, ld)
	w := sp.Suspects[0]
	if w.ApplicationName != "batch-loader" || w.Bytes == nil || *w.Bytes <= 0 || sp.MeasuredBytes == nil ||
		*w.Bytes*10 < *sp.MeasuredBytes || *w.Bytes > *sp.MeasuredBytes {
		t.Errorf("the loader as measured: %+v of %v", w, sp.MeasuredBytes)
	}
}

func serverVersionNum(ctx context.Context, t *testing.T, c *pgcluster.Cluster) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.ConnString("", ""))
	must(t, err)
	defer conn.Close(context.Background())
	var v int
	must(t, conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v))
	return v
}
