package inspect

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// serverConn is a connection to a throwaway cluster, closed with the test
// or benchmark.
func serverConn(t testing.TB) (context.Context, *pgx.Conn) {
	t.Helper()
	c := pgtest.Start(t, pgcluster.Options{})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return ctx, conn
}

// The activity statement's parameters must read back on the server exactly
// as the client holds them, or a still row would look changed on every
// refresh: nil timestamps, text with quotes, braces and non-ASCII.
func TestParametersReadBackExactly(t *testing.T) {
	ctx, conn := serverConn(t)

	berlin := time.FixedZone("CET", 3600)
	t1 := time.Date(2026, 11, 24, 1, 2, 3, 123456000, time.UTC)
	t2 := time.Date(1999, 12, 31, 23, 59, 59, 0, berlin)
	c := &Collector{prev: &Snapshot{Backends: []Backend{
		{PID: 1, StateChange: &t1, XactStart: nil, ApplicationName: `quote " and \ backslash`, State: "idle",
			WaitEventType: "Client", WaitEvent: "ClientRead"},
		{PID: 2147483647, StateChange: &t2, XactStart: &t1, ApplicationName: "ünïcode ✓ {brace}, NULL",
			WaitEventType: "Lock", WaitEvent: "relation", Waiting: &LockWait{LockType: "relation"}, graphSig: -1 << 63},
		{PID: 3}, // a background process, never marked
	}}}
	args := c.activityArgs()
	var (
		pids, waiters  []int32
		changes, xacts []*time.Time
		apps, events   []string
		sigs           []int64
		still          []bool
		n              int
	)
	err := conn.QueryRow(ctx, "SELECT $1::int[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bool[], $6::text[], $7::int",
		args...).Scan(&pids, &changes, &xacts, &apps, &still, &events, &n)
	if err != nil {
		t.Fatal(err)
	}
	var blind, many bool
	if err := conn.QueryRow(ctx, "SELECT $1::int[], $2::int8[], $3::bool, $4::bool", c.graphArgs()...).Scan(&waiters, &sigs, &blind, &many); err != nil {
		t.Fatal(err)
	}
	if !blind {
		t.Error("a collector that has not read its role's privileges assumes it sees every wait")
	}
	if many {
		t.Error("a collector that does not know the server's version chose the one-pass graph, which needs PostgreSQL 14")
	}
	if !slices.Equal(pids, []int32{1, 2147483647}) || n != 2 || !slices.Equal(still, []bool{true, true}) {
		t.Errorf("pids %v, still %v, n %d; want the two rows with a state_change, both still", pids, still, n)
	}
	if len(changes) != 2 || !changes[0].Equal(t1) || !changes[1].Equal(t2) || xacts[0] != nil || !xacts[1].Equal(t1) {
		t.Errorf("timestamps read back as %v %v", changes, xacts)
	}
	if !slices.Equal(apps, []string{c.prev.Backends[0].ApplicationName, c.prev.Backends[1].ApplicationName}) ||
		!slices.Equal(events, []string{"ClientRead", "relation"}) {
		t.Errorf("texts read back as %q %q", apps, events)
	}
	if !slices.Equal(waiters, []int32{2147483647}) || !slices.Equal(sigs, []int64{-1 << 63}) {
		t.Errorf("known waits read back as %v %v", waiters, sigs)
	}
}
