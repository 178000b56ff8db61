// Package scenario stages PostgreSQL incidents with real sessions: lock
// pile-ups, row-lock chains, prepared transactions, invalid indexes,
// builds in progress, idle transactions, a full pool. The integration
// tests assert pgmedic's view of them, and `pgmedic demo` plays them.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnStringFunc returns a connection string for a new session tagged with
// the given application_name.
type ConnStringFunc func(application string) string

// Stage owns every session a scenario opens, and an admin connection it
// uses to watch them. Close ends them all, and rolls back any prepared
// transaction it made.
type Stage struct {
	connString ConnStringFunc
	admin      *pgx.Conn

	mu       sync.Mutex
	sessions []*Session
	prepared []string
}

// Session is one real backend held by a scenario.
type Session struct {
	Name string
	PID  int
	conn *pgx.Conn

	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	done chan struct{} // closed when the background statement ends
}

// NewStage connects the admin session.
func NewStage(ctx context.Context, connString ConnStringFunc) (*Stage, error) {
	admin, err := pgx.Connect(ctx, connString("scenario-admin"))
	if err != nil {
		return nil, fmt.Errorf("scenario admin connection: %w", err)
	}
	return &Stage{connString: connString, admin: admin}, nil
}

// Admin is the stage's own connection, for setup statements.
func (st *Stage) Admin() *pgx.Conn { return st.admin }

// Open starts a session with the given application_name.
func (st *Stage) Open(ctx context.Context, name string) (*Session, error) {
	conn, err := pgx.Connect(ctx, st.connString(name))
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", name, err)
	}
	s := &Session{Name: name, PID: int(conn.PgConn().PID()), conn: conn}
	st.mu.Lock()
	st.sessions = append(st.sessions, s)
	st.mu.Unlock()
	return s, nil
}

// Exec runs statements on the session and waits for them.
func (s *Session) Exec(ctx context.Context, sql string, args ...any) error {
	if _, err := s.conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("session %s (pid %d): %s: %w", s.Name, s.PID, sql, err)
	}
	return nil
}

// Go runs a statement in the background: it is expected to block. Err
// reports how it ended once Done is closed.
func (s *Session) Go(sql string) {
	s.done = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.done)
		_, err := s.conn.Exec(context.Background(), sql)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
}

// Done is closed when the statement started by Go has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait waits up to d for the background statement to end, and says so
// when it does not: the session is still blocked.
func (s *Session) Wait(d time.Duration) error {
	select {
	case <-s.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("session %s (pid %d) is still blocked after %s", s.Name, s.PID, d)
	}
}

// Err is the background statement's outcome, once Done is closed.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Exec runs setup statements on the admin connection.
func (st *Stage) Exec(ctx context.Context, sql string, args ...any) error {
	if _, err := st.admin.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("scenario setup: %s: %w", sql, err)
	}
	return nil
}

// AwaitLockWait waits until every pid is waiting on a heavyweight lock.
func (st *Stage) AwaitLockWait(ctx context.Context, pids ...int) error {
	return st.await(ctx, "waiting on a lock", pids,
		`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) AND wait_event_type = $2`, "Lock")
}

// AwaitState waits until every pid is in the given state.
func (st *Stage) AwaitState(ctx context.Context, state string, pids ...int) error {
	return st.await(ctx, state, pids,
		`SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) AND state = $2`, state)
}

// AwaitGone waits until every pid has left pg_stat_activity:
// pg_terminate_backend() only sends the signal.
func (st *Stage) AwaitGone(ctx context.Context, pids ...int) error {
	return st.await(ctx, "gone", pids,
		`SELECT count(*) FROM unnest($1::int[]) p(pid)
		 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = p.pid)`)
}

// await polls sql, which counts the pids ($1, then args) that are what
// they should be, until it counts them all.
func (st *Stage) await(ctx context.Context, what string, pids []int, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		var n int
		if err := st.admin.QueryRow(ctx, sql, append([]any{pids}, args...)...).Scan(&n); err != nil {
			return fmt.Errorf("waiting for %v to be %s: %w", pids, what, err)
		}
		if n == len(pids) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sessions %v not all %s after 20s (%d are)", pids, what, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AwaitPhase waits until the index build run by pid reports a phase
// starting with prefix.
func (st *Stage) AwaitPhase(ctx context.Context, pid int, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		var phase string
		err := st.admin.QueryRow(ctx, `SELECT phase FROM pg_stat_progress_create_index WHERE pid = $1`, pid).Scan(&phase)
		if err == nil && len(phase) >= len(prefix) && phase[:len(prefix)] == prefix {
			return nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("waiting for build phase %q: %w", prefix, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("build pid %d did not reach phase %q (last %q)", pid, prefix, phase)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close ends every session: their transactions roll back and their locks
// go. It waits until the server has seen them go, so the next scenario
// starts from a quiet server.
func (st *Stage) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st.mu.Lock()
	sessions, prepared := st.sessions, st.prepared
	st.sessions, st.prepared = nil, nil
	st.mu.Unlock()

	var errs []error
	pids := make([]int, 0, len(sessions))
	for _, s := range sessions {
		pids = append(pids, s.PID)
	}
	if _, err := st.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)`, pids); err != nil {
		errs = append(errs, err)
	}
	for _, s := range sessions {
		s.wg.Wait() // the terminated backend ends its background statement
		_ = s.conn.Close(ctx)
	}
	for _, gid := range prepared {
		var n int
		// The test may have rolled it back itself.
		if err := st.admin.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_xacts WHERE gid = $1`, gid).Scan(&n); err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			if _, err := st.admin.Exec(ctx, `ROLLBACK PREPARED '`+escapeLiteral(gid)+`'`); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for {
		var n int
		if err := st.admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n); err != nil || n == 0 {
			if err != nil {
				errs = append(errs, err)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	errs = append(errs, st.admin.Close(ctx))
	return errors.Join(errs...)
}

func escapeLiteral(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}
