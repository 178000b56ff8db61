package inspect

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// The refresh's bounds, set by its first statement, hold for the statements queued after them in the
// same batch, and are gone once the batch ends: nothing is left on the
// server connection for whoever uses it next (behind a pooler, the
// application).
func TestBoundsLastOneBatch(t *testing.T) {
	ctx, conn := serverConn(t)
	num, err := serverVersionNum(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	batch := &pgx.Batch{}
	batch.Queue(tickSQL(num))
	batch.Queue("SHOW statement_timeout")
	batch.Queue("SHOW lock_timeout")
	br := conn.SendBatch(ctx, batch)
	var pid int
	var st, lt string
	if err := br.QueryRow().Scan(nil, nil, nil, nil, nil, nil, &pid, nil, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := br.QueryRow().Scan(&st); err != nil {
		t.Fatal(err)
	}
	if err := br.QueryRow().Scan(&lt); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if st != "5s" || lt != "200ms" {
		t.Errorf("inside the batch: statement_timeout %s, lock_timeout %s; want 5s, 200ms", st, lt)
	}
	if pid != int(conn.PgConn().PID()) {
		t.Errorf("pg_backend_pid() %d, connected to %d", pid, conn.PgConn().PID())
	}
	if err := conn.QueryRow(ctx, "SELECT current_setting('statement_timeout') || ' ' || current_setting('lock_timeout')").Scan(&st); err != nil {
		t.Fatal(err)
	}
	if st != "0 0" {
		t.Errorf("after the batch: statement_timeout and lock_timeout %q; want the defaults, 0 0", st)
	}
}
