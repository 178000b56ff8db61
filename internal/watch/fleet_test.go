package watch

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// Two clusters and a server that is down, from one fleet: a line each,
// read at once, one connection per server, kept between reads; the down
// one says why.
func TestFleetOverview(t *testing.T) {
	ctx := context.Background()
	calm := pgtest.Start(t, pgcluster.Options{})
	busy := pgtest.Start(t, pgcluster.Options{})
	if err := busy.Exec(ctx, "postgres", `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1)`); err != nil {
		t.Fatal(err)
	}
	_ = busy.Exec(ctx, "postgres", `CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v)`) // fails: invalid
	holder, err := pgx.Connect(ctx, busy.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, `BEGIN; LOCK TABLE t`); err != nil {
		t.Fatal(err)
	}
	waiter, err := pgx.Connect(ctx, busy.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(ctx)
	go func() { _, _ = waiter.Exec(context.Background(), `SELECT * FROM t`) }()
	defer holder.Exec(ctx, `ROLLBACK`)

	fleet := NewFleet([]Server{
		{Name: "calm", Conn: calm.ConnString("postgres", "")},
		{Name: "busy", Conn: busy.ConnString("postgres", "")},
		{Name: "down", Conn: "host=127.0.0.1 port=1 user=postgres connect_timeout=2"},
		{Name: "calm", Conn: "host=elsewhere"}, // the first of a name wins
	}, false)
	defer fleet.Close()
	if got := strings.Join(fleet.Servers(), ","); got != "calm,busy,down" {
		t.Fatalf("servers %s", got)
	}
	var lines = fleet.Overview(ctx, "")
	for range 50 {
		if lines[1].Waiting == 1 {
			break
		}
		lines = fleet.Overview(ctx, "")
	}
	calmL, busyL, downL := lines[0], lines[1], lines[2]
	if calmL.Error != "" || calmL.RootBlockers != 0 || calmL.Invalid != 0 || calmL.Usable == 0 || calmL.Version == "" {
		t.Errorf("calm: %+v", calmL)
	}
	if busyL.Error != "" || busyL.RootBlockers != 1 || busyL.Waiting != 1 || busyL.Invalid != 1 {
		t.Errorf("busy: %+v; want one root blocker, one waiting, one invalid index", busyL)
	}
	if !strings.Contains(downL.Error, "cannot connect") {
		t.Errorf("down: %+v", downL)
	}
	// One connection per server, kept: a second read opens none.
	src, _, err := fleet.Source("busy")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, b := range snap.Backends {
		if b.ApplicationName == connect.ApplicationName {
			ours++
		}
	}
	if ours != 1 {
		t.Errorf("%d pgmedic sessions on busy, want 1", ours)
	}
	// The server on screen is skipped: its snapshot is the caller's.
	if l := fleet.Overview(ctx, "busy"); l[1].Name != "busy" || l[1].Usable != 0 || l[1].Error != "" {
		t.Errorf("the skipped server was read: %+v", l[1])
	}
	if _, _, err := fleet.Source("nosuch"); err == nil {
		t.Errorf("an unknown server was found")
	}
}
