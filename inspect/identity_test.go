package inspect_test

import (
	"context"
	"testing"

	"github.com/pgmedic/pgmedic/inspect"
)

// The snapshot names the server by its system_identifier, for every role
// the server lets call pg_control_system() (everyone, by default); where
// an administrator revoked that, the snapshot is still taken, without it.
func TestSystemIdentifier(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, nil)
	must(t, l.c.Exec(ctx, "postgres", "CREATE ROLE plain LOGIN"))
	var want string
	admin, _ := l.monitor(t, "postgres", "")
	must(t, admin.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&want))
	snap := func(user string) *inspect.Snapshot {
		conn, _ := l.monitor(t, "postgres", user)
		c, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		s, err := c.Snapshot(ctx)
		must(t, err)
		return s
	}
	if got := snap("").Server.SystemIdentifier; got == "" || got != want {
		t.Errorf("superuser: system identifier %q, want %q", got, want)
	}
	if got := snap("plain").Server.SystemIdentifier; got != want {
		t.Errorf("plain role: system identifier %q, want %q", got, want)
	}
	must(t, l.c.Exec(ctx, "postgres", "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC"))
	if got := snap("plain").Server.SystemIdentifier; got != "" {
		t.Errorf("plain role without EXECUTE: system identifier %q, want none", got)
	}
}
