package watch

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
)

// Executor is pgmedic's live action executor: the tui.Executor that runs
// a confirmed plan through the actions package. Signals use the source's
// connection, between refreshes (the pool may be full: a second
// connection could be refused); DDL gets a second connection of its own
// for as long as it runs.
type Executor struct {
	Source *Source
	Audit  *actions.Audit
	// PoolerWait, when set, bounds each PgBouncer admin command (tests).
	PoolerWait time.Duration
}

// Execute runs a plan with the guard rails of the actions package.
func (e *Executor) Execute(ctx context.Context, plan actions.Plan, before *inspect.Snapshot, progress func(string)) actions.Result {
	s := e.Source
	env := actions.Env{
		Monitor: func(ctx context.Context, fn func(*pgx.Conn) error) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if err := s.connect(ctx); err != nil {
				return err
			}
			return fn(s.conn)
		},
		Dedicated: func(ctx context.Context, db string) (*pgx.Conn, error) {
			other := s.cfg.Copy()
			other.Database = db
			return connect.Open(ctx, other)
		},
		Snapshot: s.fullSnapshot,
		OpenPooler: func(ctx context.Context) (*pgx.Conn, error) {
			if s.pooler == nil {
				return nil, errors.New("pgmedic was not given a PgBouncer (--pgbouncer)")
			}
			return connect.OpenPooler(ctx, s.pooler.cfg)
		},
		Audit:      e.Audit,
		PoolerWait: e.PoolerWait,
		Progress:   progress,
	}
	return actions.Run(ctx, env, plan, before)
}
