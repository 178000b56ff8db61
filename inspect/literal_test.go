package inspect

import (
	"context"
	"errors"
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

// The activity statement's arrays go to the server as text literals: the
// server must read back exactly what the client held, or a known wait
// would look new on every refresh (and an idle row never quiet).
func TestArrayLiteralsReadBackExactly(t *testing.T) {
	ctx, conn := serverConn(t)

	berlin := time.FixedZone("CET", 3600)
	t1 := time.Date(2026, 11, 24, 1, 2, 3, 123456000, time.UTC)
	t2 := time.Date(1999, 12, 31, 23, 59, 59, 0, berlin)
	times := []*time.Time{&t1, nil, &t2}
	texts := []string{"ClientRead", `quote " and \ backslash`, "{brace}, comma", "", "NULL", "ünïcode ✓"}
	ints := []int{1, 2147483647, 0}
	bools := []bool{true, false}

	var lt, lx, li, lb arrayLiteral
	for _, l := range []*arrayLiteral{&lt, &lx, &li, &lb} {
		l.reset()
	}
	for _, v := range times {
		lt.time(v)
	}
	for _, v := range texts {
		lx.text(v)
	}
	for _, v := range ints {
		li.int(v)
	}
	for _, v := range bools {
		lb.bool(v)
	}

	var gotTimes []*time.Time
	var gotTexts []string
	var gotInts []int
	var gotBools []bool
	err := conn.QueryRow(ctx, "SELECT $1::timestamptz[], $2::text[], $3::int[], $4::bool[]",
		lt.String(), lx.String(), li.String(), lb.String()).Scan(&gotTimes, &gotTexts, &gotInts, &gotBools)
	if err != nil {
		t.Fatalf("the server refused the literals %s %s %s %s: %v", lt.String(), lx.String(), li.String(), lb.String(), err)
	}
	if len(gotTimes) != len(times) || gotTimes[1] != nil || !gotTimes[0].Equal(t1) || !gotTimes[2].Equal(t2) {
		t.Errorf("timestamps: sent %s, read back %v", lt.String(), gotTimes)
	}
	if !slices.Equal(gotTexts, texts) {
		t.Errorf("texts: sent %s, read back %q", lx.String(), gotTexts)
	}
	if !slices.Equal(gotInts, ints) || !slices.Equal(gotBools, bools) {
		t.Errorf("read back %v %v", gotInts, gotBools)
	}

	var empty arrayLiteral
	empty.reset()
	var n int
	if err := conn.QueryRow(ctx, "SELECT cardinality($1::int[])", empty.String()).Scan(&n); err != nil || n != 0 {
		t.Errorf("the empty literal %q: %d elements, %v", empty.String(), n, err)
	}
}

// The scanner keeps its plans from one result to the next, and makes a
// column's plan again when its type or its target's type changes.
func TestScannerReplansWhenAColumnChanges(t *testing.T) {
	ctx, conn := serverConn(t)
	var sc scanner
	read := func(sql string, targets ...any) error {
		batch := &pgx.Batch{}
		batch.Queue(sql)
		br := conn.SendBatch(ctx, batch)
		defer br.Close()
		return readEach(br, &sc, "test", targets, func() {})
	}
	var n int32
	var s string
	var ns *int32
	if err := read("SELECT 41 + 1", &n); err != nil || n != 42 {
		t.Fatalf("int4: %d, %v", n, err)
	}
	if err := read("SELECT 'forty-two'", &s); err != nil || s != "forty-two" {
		t.Errorf("text after int4 in the same column: %q, %v", s, err)
	}
	if err := read("SELECT NULL::int", &ns); err != nil || ns != nil {
		t.Errorf("NULL into a pointer: %v, %v", ns, err)
	}
	err := read("SELECT NULL::int", &n)
	var argErr pgx.ScanArgError
	if !errors.As(err, &argErr) || argErr.ColumnIndex != 0 {
		t.Errorf("NULL into an int32: %v, want a ScanArgError for column 0", err)
	}
	if err := read("SELECT 1, 2", &n); err == nil {
		t.Error("two columns into one target: no error")
	}
}
