//go:build unix

package pgcluster

import (
	"testing"
)

// A standby is a second server on its own port that is in recovery,
// refuses writes, and sees what the primary writes.
func TestStandby(t *testing.T) {
	ctx := testContext(t)
	p := startForTest(t, Options{})
	if err := p.Exec(ctx, "", "CREATE TABLE before_clone (id int); INSERT INTO before_clone VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	s, err := p.StartStandby(ctx)
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
