package watch

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// appConn is an application session through the pooler. It sends its
// statements unnamed, as an application behind PgBouncer 1.18 must.
func appConn(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// serverState is what an application transaction finds on the server
// connection it was given.
type serverState struct {
	pid                                     int
	statementTimeout, lockTimeout, idleInTx string
	prepared                                int
}

// onEveryServerConn holds one transaction on each of the pool's server
// connections at once, so that every one of them is looked at, and runs
// fn in each.
func onEveryServerConn(t *testing.T, apps []*pgx.Conn, fn func(pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	var txs []pgx.Tx
	for _, app := range apps {
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(txs))
	for i, tx := range txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(tx)
		}()
	}
	wg.Wait()
	for i, tx := range txs {
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if errs[i] != nil {
			t.Errorf("application transaction %d: %v", i, errs[i])
		}
	}
}

func readState(ctx context.Context, tx pgx.Tx) (serverState, error) {
	var s serverState
	err := tx.QueryRow(ctx, `SELECT pg_backend_pid(), current_setting('statement_timeout'), current_setting('lock_timeout'),
		current_setting('idle_in_transaction_session_timeout'), (SELECT count(*) FROM pg_prepared_statements)`).
		Scan(&s.pid, &s.statementTimeout, &s.lockTimeout, &s.idleInTx, &s.prepared)
	return s, err
}

// Through PgBouncer in transaction mode pgmedic leaves nothing on the
// server connections it shares with the application: their settings are
// the server's defaults afterwards, an application statement longer than
// pgmedic's statement_timeout is not cancelled, no prepared statement is
// left behind, and pgmedic runs again and again through the same pool.
// It says it is behind a pooler.
func TestTransactionPoolerLeavesNothing(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction", PoolSize: 2})
	ctx := context.Background()
	apps := []*pgx.Conn{appConn(t, b.ConnString("", "")), appConn(t, b.ConnString("", ""))}

	var before []serverState
	var mu sync.Mutex
	onEveryServerConn(t, apps, func(tx pgx.Tx) error {
		s, err := readState(ctx, tx)
		mu.Lock()
		before = append(before, s)
		mu.Unlock()
		return err
	})

	for run := 0; run < 3; run++ {
		cfg, err := connect.Config(connect.Options{DBName: b.ConnString("", "")})
		if err != nil {
			t.Fatal(err)
		}
		src := New(cfg, false)
		for i := 0; i < 4; i++ {
			snap, err := src.Snapshot(ctx)
			if err != nil {
				t.Fatalf("run %d, refresh %d: %v", run, i, err)
			}
			if !snap.Server.Pooler || !slices.Contains(snap.Warnings, inspect.PoolerWarning) {
				t.Errorf("run %d: pooler %v, warnings %q: pgmedic should say it is behind a pooler",
					run, snap.Server.Pooler, snap.Warnings)
			}
			if snap.Backend(snap.Server.OwnPID) == nil || !snap.Backend(snap.Server.OwnPID).Own {
				t.Errorf("run %d: own pid %d is not the backend marked as pgmedic's", run, snap.Server.OwnPID)
			}
		}
		src.Close()
	}

	var after []serverState
	onEveryServerConn(t, apps, func(tx pgx.Tx) error {
		s, err := readState(ctx, tx)
		mu.Lock()
		after = append(after, s)
		mu.Unlock()
		if err != nil {
			return err
		}
		// Longer than pgmedic's statement_timeout (5s).
		_, err = tx.Exec(ctx, "SELECT pg_sleep(5.5)")
		return err
	})
	pids := map[int]bool{}
	for _, s := range after {
		pids[s.pid] = true
		if s.prepared != 0 {
			t.Errorf("backend %d has %d prepared statement(s) left", s.pid, s.prepared)
		}
		if s.statementTimeout != before[0].statementTimeout || s.lockTimeout != before[0].lockTimeout ||
			s.idleInTx != before[0].idleInTx {
			t.Errorf("backend %d: statement_timeout %s, lock_timeout %s, idle_in_transaction_session_timeout %s; "+
				"want the defaults the application saw before (%+v)", s.pid, s.statementTimeout, s.lockTimeout, s.idleInTx, before[0])
		}
	}
	if len(pids) != 2 {
		t.Errorf("looked at backends %v, want both of the pool's", pids)
	}
}

// In session mode pgmedic works as before, and still says what is in
// between.
func TestSessionPooler(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "session"})
	ctx := context.Background()
	for run := 0; run < 2; run++ {
		cfg, err := connect.Config(connect.Options{DBName: b.ConnString("", "")})
		if err != nil {
			t.Fatal(err)
		}
		src := New(cfg, false)
		for i := 0; i < 3; i++ {
			snap, err := src.Snapshot(ctx)
			if err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
			if !snap.Server.Pooler || !slices.Contains(snap.Warnings, inspect.PoolerWarning) {
				t.Errorf("run %d: pooler %v, warnings %q", run, snap.Server.Pooler, snap.Warnings)
			}
		}
		src.Close()
	}
}
