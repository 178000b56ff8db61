package watch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
)

// pooler is the connection to a PgBouncer admin console (--pgbouncer),
// read after the server on every refresh. It is not a PostgreSQL
// connection: it takes no server slot.
type pooler struct {
	cfg    *pgx.ConnConfig
	target string
	conn   *pgx.Conn
	last   *inspect.Pooler
	// After a failure the pooler is tried again only from retryAt, with
	// lastErr said meanwhile: a pooler that drops packets must not hold
	// every refresh of the server for a connect timeout.
	retryAt time.Time
	lastErr string
}

// Bounds of the pooler's side of a refresh.
const (
	poolerConnectTimeout = 3 * time.Second
	poolerRetry          = 10 * time.Second
)

// WithPooler adds a PgBouncer admin console to every snapshot. Call it
// before the first Snapshot.
func (s *Source) WithPooler(cfg *pgx.ConnConfig) {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host
	}
	s.pooler = &pooler{cfg: cfg, target: fmt.Sprintf("%s@%s:%d", cfg.User, host, cfg.Port)}
}

// readPooler reads the pooler into snap. A pooler that cannot be read
// leaves its last reading in place with the error, so the view says
// since when it is stale; the server's snapshot is good either way.
func (s *Source) readPooler(ctx context.Context, snap *inspect.Snapshot) {
	p := s.pooler
	stale := func(why string) {
		st := &inspect.Pooler{}
		if p.last != nil {
			*st = *p.last
		}
		st.Target, st.Error = p.target, why
		snap.Pooler = st
	}
	if now := time.Now(); now.Before(p.retryAt) {
		stale(p.lastErr + " (tried again at " + p.retryAt.Format(time.TimeOnly) + ")")
		return
	}
	read, err := withPooler(ctx, p, inspect.ReadPooler)
	if err != nil {
		p.retryAt, p.lastErr = time.Now().Add(poolerRetry), err.Error()
		stale(p.lastErr)
		return
	}
	read.Target = p.target
	inspect.MapPooler(read, snap)
	p.last = read
	snap.Pooler = read
}

// withPooler runs fn on the admin console connection, opening it first;
// a connection that failed is closed, to be opened on the next call.
func withPooler[T any](ctx context.Context, p *pooler, fn func(context.Context, *pgx.Conn) (T, error)) (T, error) {
	var zero T
	if p.conn == nil || p.conn.IsClosed() {
		if p.cfg.ConnectTimeout == 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, poolerConnectTimeout)
			defer cancel()
		}
		conn, err := connect.OpenPooler(ctx, p.cfg)
		if err != nil {
			return zero, err
		}
		p.conn = conn
	}
	v, err := fn(ctx, p.conn)
	if err != nil {
		p.close()
		return zero, fmt.Errorf("reading PgBouncer at %s: %w", p.target, err)
	}
	return v, nil
}

func (p *pooler) close() {
	if p.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		_ = p.conn.Close(ctx)
		p.conn = nil
	}
}
