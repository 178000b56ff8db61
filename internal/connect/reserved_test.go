package connect

import (
	"context"
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// PostgreSQL 16+: a monitoring role granted pg_use_reserved_connections
// still gets in when ordinary roles are refused, and pgmedic counts the
// slots right. scripts/version-matrix runs this on 16, 17 and 18.
func TestReservedConnectionsRole(t *testing.T) {
	cleanEnv(t)
	c := pgtest.Start(t, pgcluster.Options{Settings: map[string]string{
		"max_connections": "10", "superuser_reserved_connections": "2"}})
	if c.Major < 16 {
		t.Skipf("reserved_connections and pg_use_reserved_connections are PostgreSQL 16+; this server is %s", c.Version)
	}
	ctx := testContext(t)
	if err := c.Restart(ctx, map[string]string{"reserved_connections": "2"}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, c, "postgres",
		"CREATE ROLE app LOGIN", "CREATE ROLE monitor LOGIN",
		"GRANT pg_use_reserved_connections, pg_monitor TO monitor")
	// Ordinary roles may use 10 - 2 - 2 = 6 slots: fill them.
	for range 6 {
		hold(t, ctx, c.ConnString("postgres", "app"))
	}
	e := openError(t, ctx, socketOpts(c, "postgres", "app"))
	if e.SQLState != "53300" || !strings.Contains(e.Problem, "pg_use_reserved_connections") ||
		!strings.Contains(e.Advice, "pg_use_reserved_connections") {
		t.Errorf("ordinary role at the limit: %s", e.Error())
	}
	conn := open(t, ctx, socketOpts(c, "postgres", "monitor"))
	coll, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := coll.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Server
	if srv.RoleReserved != 2 || srv.SuperuserReserved != 2 || srv.Usable != 6 || !srv.Role.UseReserved || srv.Role.Superuser {
		t.Errorf("server as seen by monitor: %+v", srv)
	}
	if s.Saturation.Used != 7 || s.FreeSlotsForUs() != 1 {
		t.Errorf("slots used %d, free for monitor %d; want 7 (6 app + monitor) and 1", s.Saturation.Used, s.FreeSlotsForUs())
	}
}
