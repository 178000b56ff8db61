package pgcluster_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// A client logs in through the bouncer and reaches the cluster.
func TestBouncerTransactionMode(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction"})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.ConnString("", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeExec).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// pgmedic's pooler detection rests on this: the cancel key PgBouncer
	// hands out is its own, not the server backend's.
	if int(conn.PgConn().PID()) == pid {
		t.Errorf("the cancel key names backend %d, the bouncer should hide it", pid)
	}
}
