package watch

import (
	"context"
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

// exhaustion is a pool exhausted at the pooler by a lock: a direct
// session holds ACCESS EXCLUSIVE on t, the pool's server connections are
// all taken by clients whose SELECT waits behind it, and more clients
// queue in the pooler for a server connection.
type exhaustion struct {
	blockerPID int
	release    func()
}

func stageExhaustion(t *testing.T, c *pgcluster.Cluster, b *pgcluster.Bouncer, servers, queued int) exhaustion {
	t.Helper()
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", `CREATE TABLE IF NOT EXISTS t (v int)`); err != nil {
		t.Fatal(err)
	}
	blocker, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE t IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	watcher, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(ctx)
	var apps []*pgx.Conn
	for i := 0; i < servers+queued; i++ {
		apps = append(apps, appConn(t, b.ConnString("", "")))
	}
	var wg sync.WaitGroup
	for i, app := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			_ = app.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) /* app %d */ FROM t", i)).Scan(&n)
			// Gone once served: in session pooling a client keeps its
			// server connection until it leaves.
			app.Close(context.Background())
		}()
		if i < servers {
			// The first ones take the server connections, in order.
			waitFor(t, 10*time.Second, func() bool {
				var waiting int
				_ = watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'`).Scan(&waiting)
				return waiting == i+1
			})
		}
	}
	release := func() {
		_ = tx.Rollback(ctx)
		wg.Wait()
		blocker.Close(ctx)
	}
	t.Cleanup(release)
	return exhaustion{blockerPID: int(blocker.PgConn().PID()), release: release}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the staged state")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The pooler is read alongside the server, in both pooling modes: the
// queue in the pooler, its oldest wait, every server connection busy and
// mapped to its backend, and the root blocker they all wait behind.
func TestPoolerExhaustion(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			c := pgtest.Start(t, pgcluster.Options{})
			b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: mode, PoolSize: 3})
			ctx := context.Background()
			st := stageExhaustion(t, c, b, 3, 4)

			cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
			if err != nil {
				t.Fatal(err)
			}
			pcfg, err := connect.PoolerConfig(b.ConnString("postgres", ""))
			if err != nil {
				t.Fatal(err)
			}
			src := New(cfg, false)
			src.WithPooler(pcfg)
			defer src.Close()
			var pool *inspect.Pool
			var snap *inspect.Snapshot
			waitFor(t, 10*time.Second, func() bool {
				if snap, err = src.Snapshot(ctx); err != nil {
					t.Fatal(err)
				}
				if snap.Pooler == nil || snap.Pooler.Error != "" {
					t.Fatalf("pooler not read: %+v", snap.Pooler)
				}
				pool = nil
				for i := range snap.Pooler.Pools {
					if snap.Pooler.Pools[i].Database == "postgres" {
						pool = &snap.Pooler.Pools[i]
					}
				}
				return pool != nil && pool.ClientsWaiting == 4 && pool.MaxWaitSeconds > 0.2
			})
			if pool.Mode != mode || pool.PoolSize != 3 || pool.ServersActive != 3 || !pool.Full() {
				t.Errorf("pool %+v: want mode %s, 3 of 3 server connections active", pool, mode)
			}
			if pool.ServersWaitingOnLock != 3 || len(pool.Behind) != 1 || pool.Behind[0] != (inspect.PoolBlocker{PID: st.blockerPID, Servers: 3}) {
				t.Errorf("pool: %d waiting on a lock behind %+v; want 3 behind pid %d", pool.ServersWaitingOnLock, pool.Behind, st.blockerPID)
			}
			waitingClients, mapped := 0, 0
			for _, cl := range snap.Pooler.Clients {
				if cl.Waiting() {
					waitingClients++
				}
			}
			for _, sv := range snap.Pooler.Servers {
				if sv.Backend != nil && sv.Backend.Root == st.blockerPID && snap.Backend(sv.RemotePID) != nil {
					mapped++
				}
			}
			// The clients on a server connection reach its backend too.
			linked := 0
			for _, cl := range snap.Pooler.Clients {
				if cl.ServerPID != 0 && cl.Backend != nil && cl.Backend.Root == st.blockerPID {
					linked++
				}
			}
			if linked != 3 {
				t.Errorf("%d clients mapped through their server connection to a backend behind the blocker, want 3", linked)
			}
			if waitingClients != 4 || mapped != 3 {
				t.Errorf("%d waiting clients (want 4), %d server connections mapped behind the blocker (want 3)", waitingClients, mapped)
			}
			for _, cl := range snap.Pooler.Clients {
				if cl.Database == "pgbouncer" {
					t.Errorf("the admin console's own client is listed: %+v", cl)
				}
			}

			// The queue drains once the blocker goes, and the next read says so.
			st.release()
			waitFor(t, 10*time.Second, func() bool {
				snap, err := src.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range snap.Pooler.Pools {
					if p.Database == "postgres" {
						return p.ClientsWaiting == 0 && p.ServersWaitingOnLock == 0
					}
				}
				return false
			})
		})
	}
}

// A pooler that goes away leaves the server's snapshot intact, with the
// last reading marked stale, and every refresh tries to reconnect.
func TestPoolerGone(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction"})
	ctx := context.Background()
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	if err != nil {
		t.Fatal(err)
	}
	pcfg, err := connect.PoolerConfig(b.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	src.WithPooler(pcfg)
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil || snap.Pooler == nil || snap.Pooler.Error != "" || snap.Pooler.Version == "" {
		t.Fatalf("first read: %v, %+v", err, snap.Pooler)
	}
	b.Stop()
	snap, err = src.Snapshot(ctx)
	if err != nil {
		t.Fatalf("the server's snapshot failed with the pooler: %v", err)
	}
	if snap.Pooler == nil || snap.Pooler.Error == "" || snap.Pooler.Version == "" {
		t.Fatalf("a stopped pooler: want the last reading with an error, got %+v", snap.Pooler)
	}
	t.Logf("pooler stopped: %s", snap.Pooler.Error)
	// The next refreshes do not wait on it: it is tried again later.
	start := time.Now()
	if snap, err = src.Snapshot(ctx); err != nil || snap.Pooler == nil || !strings.Contains(snap.Pooler.Error, "tried again at") {
		t.Fatalf("the next refresh: want the pooler left alone until its retry, got %v, %+v", err, snap.Pooler)
	}
	t.Logf("next refresh in %s: %s", time.Since(start), snap.Pooler.Error)
	src.pooler.retryAt = time.Time{} // its time has come
	if snap, err = src.Snapshot(ctx); err != nil || snap.Pooler == nil || !strings.Contains(snap.Pooler.Error, "cannot connect") {
		t.Fatalf("at its retry: want a new connection tried and refused, got %v, %+v", err, snap.Pooler)
	}
}
