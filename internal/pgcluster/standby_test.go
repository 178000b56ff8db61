//go:build unix

package pgcluster

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A standby is a second server on its own port that is in recovery,
// refuses writes, and sees what the primary writes; made with
// pg_basebackup or, where the binaries lack it, by copying the data
// directory between pg_backup_start and pg_backup_stop while a writer
// keeps changing it.
func TestStandby(t *testing.T) {
	for _, basebackup := range []bool{true, false} {
		name := map[bool]string{true: "pg_basebackup", false: "low-level copy"}[basebackup]
		t.Run(name, func(t *testing.T) { testStandby(t, basebackup) })
	}
}

func testStandby(t *testing.T, basebackup bool) {
	ctx := testContext(t)
	p := startForTest(t, Options{})
	if _, err := os.Stat(filepath.Join(p.BinDir, "pg_basebackup")); basebackup && err != nil {
		t.Skipf("these server binaries have no pg_basebackup: %v", err)
	}
	if err := p.Exec(ctx, "", "CREATE TABLE before_clone (id int); INSERT INTO before_clone VALUES (1); CREATE TABLE written (id serial PRIMARY KEY, pad text)"); err != nil {
		t.Fatal(err)
	}
	// A writer changes the primary all through the clone, so the copy
	// catches files mid-change and only the WAL makes them consistent.
	writer := connect(t, ctx, p.ConnString("", ""))
	wctx, stopWriting := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			_, _ = writer.Exec(wctx, "INSERT INTO written (pad) SELECT repeat('x', 200) FROM generate_series(1, 50)")
		}
	}()
	s, err := p.startStandby(ctx, basebackup)
	stopWriting()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the standby: %v", err)
		}
	})
	if s.Port == p.Port || s.SocketDir == p.SocketDir || s.Dir == p.Dir {
		t.Fatalf("standby shares the primary's port, socket or directory: %d %s %s", s.Port, s.SocketDir, s.Dir)
	}
	if err := p.Exec(ctx, "", "CREATE TABLE after_clone (id int)"); err != nil {
		t.Fatal(err)
	}
	if err := s.CaughtUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, ctx, s.ConnString("", ""))
	const written = "SELECT count(*) || ' rows, ids summing to ' || coalesce(sum(id), 0) FROM written"
	primaryConn := connect(t, ctx, p.ConnString("", ""))
	if want, got := queryString(t, ctx, primaryConn, written), queryString(t, ctx, conn, written); got != want || want == "0 rows, ids summing to 0" {
		t.Errorf("the standby has %s, the primary %s", got, want)
	}
	var slots string
	if err := primaryConn.QueryRow(ctx, "SELECT count(*)::text FROM pg_replication_slots").Scan(&slots); err != nil || slots != "0" {
		t.Errorf("the clone left %s replication slots on the primary (%v)", slots, err)
	}
	if got := queryString(t, ctx, conn, "SELECT pg_is_in_recovery()::text"); got != "true" {
		t.Errorf("pg_is_in_recovery() = %s on the standby", got)
	}
	if got := queryString(t, ctx, conn, "SELECT (to_regclass('after_clone') IS NOT NULL AND to_regclass('before_clone') IS NOT NULL)::text"); got != "true" {
		t.Errorf("the standby does not see the primary's tables")
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE refused (id int)"); err == nil {
		t.Errorf("the standby accepted a write")
	}
	// Over TCP too, with the primary's password: the clone has its roles.
	tcp := connect(t, ctx, s.TCPConnString("", "", s.Password))
	if got := queryString(t, ctx, tcp, "SELECT count(*)::text FROM before_clone"); got != "1" {
		t.Errorf("count over TCP = %s", got)
	}
}
