package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// The demo, headless: the incident is there, and nothing is left behind.
func TestDemoIncidentAndTeardown(t *testing.T) {
	_, err := pgcluster.FindBinDir()
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PGMEDIC_REQUIRE_PG") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bouncer, err := pgcluster.FindPgBouncer()
	if err != nil && pgcluster.Required() {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := Start(ctx, Options{Logf: t.Logf, PgBouncer: bouncer, Standby: true})
	if err != nil {
		t.Fatal(err)
	}
	dir, pid := d.Cluster.Dir, d.Cluster.PID()
	if d.Standby == nil {
		t.Fatal("the demo has no standby")
	}
	standbyDir, standbyPID := d.Standby.Dir, d.Standby.PID()
	stopped := false
	defer func() {
		if !stopped {
			d.Stop()
		}
	}()

	cfg, err := connect.Config(connect.Options{DBName: d.ConnString()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	// The api workers pile up behind the migration within moments.
	var s *inspect.Snapshot
	deadline := time.Now().Add(time.Minute) // a hang
	for {
		if s, err = coll.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if len(s.LockForest.Roots) > 0 && s.LockForest.Nodes[s.LockForest.Roots[0]].BlockedTotal >= APIWorkers-2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api workers did not pile up behind the migration: %d waiting", s.LockForest.Waiting)
		}
		time.Sleep(300 * time.Millisecond)
	}
	root := &s.LockForest.Nodes[s.LockForest.Roots[0]]
	if root.PID != d.Migration.PID || s.Backend(root.PID).ApplicationName != "migrate" {
		t.Errorf("the root blocker is pid %d, want the migration %d", root.PID, d.Migration.PID)
	}
	status := map[string]inspect.IndexStatus{}
	for _, ix := range s.Indexes {
		status[ix.Name] = ix.Status
	}
	for name, want := range map[string]inspect.IndexStatus{
		"orders_code_uq":    inspect.IndexFailedDuringBuild,
		"audit_log_key_idx": inspect.IndexFailedDuringBuild,
		"events_key_idx":    inspect.IndexBuilding,
	} {
		if status[name] != want {
			t.Errorf("index %s: %q, want %q (all: %v)", name, status[name], want, status)
		}
	}
	if len(s.Builds) != 1 || s.Builds[0].Index != "events_key_idx" {
		t.Errorf("builds = %+v", s.Builds)
	}
	// The slow VACUUM is a long operation with its counters.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		if s, err = coll.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if len(s.Operations) == 1 && s.Operations[0].Kind == "VACUUM" && s.Operations[0].Table == "archive" &&
			s.Operations[0].Phase == "scanning heap" && s.Operations[0].Percent != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slow VACUUM of the archive: %+v", s.Operations)
		}
	}
	if s.Saturation.IdleInTx < 3 || s.Saturation.Percent < 75 {
		t.Errorf("saturation: %d idle in tx, %.0f%% of the pool; want the forgotten consoles and the migration, and a pool near full",
			s.Saturation.IdleInTx, s.Saturation.Percent)
	}
	// The web application's clients queue in PgBouncer, its server
	// connections all waiting behind the migration.
	bouncerAddr := ""
	if d.Bouncer != nil {
		bouncerAddr = fmt.Sprintf("127.0.0.1:%d", d.Bouncer.Port)
		pcfg, err := connect.PoolerConfig(d.Bouncer.ConnString("", ""))
		if err != nil {
			t.Fatal(err)
		}
		admin, err := connect.OpenPooler(ctx, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
			p, err := inspect.ReadPooler(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			if s, err = coll.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			inspect.MapPooler(p, s)
			i := slices.IndexFunc(p.Pools, func(p inspect.Pool) bool { return p.Database == "shop" && p.User == "app" })
			if i >= 0 && p.Pools[i].ClientsWaiting > 0 && p.Pools[i].ServersActive == BouncerPool &&
				len(p.Pools[i].Behind) == 1 && p.Pools[i].Behind[0].PID == d.Migration.PID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no queue in PgBouncer behind the migration: %+v", p.Pools)
			}
		}
		admin.Close(ctx)
	}
	// The standby's replay waits for the report's lock while the
	// backfill writes: the primary sees it fall megabytes behind.
	{
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
			if s, err = coll.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			r := s.Replication
			if r != nil && len(r.Standbys) == 1 && r.Standbys[0].ReplayLagBytes != nil && *r.Standbys[0].ReplayLagBytes > 1<<20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the standby did not fall behind: %+v", r)
			}
		}
		// On the standby: replay waits for the report's snapshot.
		scfg, err := connect.Config(connect.Options{DBName: d.Standby.ConnString("shop", "")})
		if err != nil {
			t.Fatal(err)
		}
		sconn, err := connect.Open(ctx, scfg)
		if err != nil {
			t.Fatal(err)
		}
		defer sconn.Close(ctx)
		onStandby, err := inspect.NewCollector(ctx, sconn)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
			if s, err = onStandby.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
			if st := s.Replication.Standby; st != nil && st.ReplayWaits == "snapshot" && len(st.ReplayHeldBy) > 0 {
				if st.ReplayHeldBy[0] != d.Report.PID {
					t.Errorf("replay waits for pid %v, want the report %d", st.ReplayHeldBy, d.Report.PID)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the standby's replay does not wait for the report: %+v", s.Replication.Standby)
			}
		}
	}
	conn.Close(ctx)

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cluster directory %s is still there", dir)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("the postmaster %d is still running", pid)
	}
	if _, err := os.Stat(standbyDir); !os.IsNotExist(err) {
		t.Errorf("the standby's directory %s is still there", standbyDir)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(standbyPID)); err == nil {
		t.Errorf("the standby's postmaster %d is still running", standbyPID)
	}
	if bouncerAddr != "" {
		if c, err := net.DialTimeout("tcp", bouncerAddr, time.Second); err == nil {
			c.Close()
			t.Errorf("PgBouncer still listens on %s", bouncerAddr)
		}
	}
}
