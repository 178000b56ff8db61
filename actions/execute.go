package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// Env is what an execution needs from its surroundings.
type Env struct {
	// Monitor runs fn on the monitoring connection. Cancel and terminate
	// run there: when the pool is full a second connection may be refused.
	// A long DDL action also reads its own progress there.
	Monitor func(ctx context.Context, fn func(*pgx.Conn) error) error
	// Dedicated opens a second connection, to database db, for DDL that
	// may wait; it is closed when the action ends.
	Dedicated func(ctx context.Context, db string) (*pgx.Conn, error)
	// OpenPooler opens a connection to the PgBouncer admin console
	// (--pgbouncer), for a pooler action; nil when there is none.
	OpenPooler func(ctx context.Context) (*pgx.Conn, error)
	// PoolerWait bounds each admin console command; default PoolerWait.
	PoolerWait time.Duration
	// Snapshot reads the server, for the counts before and after and the
	// blocker shift.
	Snapshot func(ctx context.Context) (*inspect.Snapshot, error)
	// Audit records every execution; nil records nothing (--no-audit).
	// When it is set and cannot be written, nothing runs.
	Audit *Audit
	// Progress reports what a long action is doing (retries, waits).
	Progress func(string)
	// DropAttempts bounds the retries of DROP INDEX CONCURRENTLY after a
	// lock timeout; default 8. Backoff starts at BackoffStart (1s).
	DropAttempts int
	BackoffStart time.Duration
	// CleanupTimeout bounds the clean-up after a rebuild that failed or
	// was cancelled (dropping its unfinished copy); default 30 s.
	CleanupTimeout time.Duration
}

// Result is what happened.
type Result struct {
	// ID ties an execution's "started" audit record to its final one.
	ID       string        `json:"id"`
	Plan     Plan          `json:"plan"`
	Outcome  string        `json:"outcome"` // "done", "refused", "failed", "cancelled"
	Message  string        `json:"message"`
	SQLState string        `json:"sqlstate,omitempty"`
	Err      error         `json:"-"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Attempts has a line for every attempt of a retried statement and
	// every step of a clean-up.
	Attempts []string `json:"attempts,omitempty"`
	// Sessions waiting on a lock before and after.
	BlockedBefore int `json:"blocked_before"`
	BlockedAfter  int `json:"blocked_after"`
	// NewRoots are root blockers that appeared after the action: the
	// blocker shift, when a released session holds the queue in turn.
	NewRoots []int `json:"new_roots,omitempty"`
}

// OK reports whether the effect was verified.
func (r *Result) OK() bool { return r.Outcome == "done" }

// Run executes a plan: it writes a "started" audit record (and runs
// nothing if that fails), re-checks the target on the server before every
// attempt, runs the statements one by one outside any transaction,
// verifies the effect, and writes the final audit record. A cancelled
// context cancels what runs and is recorded as such; a panic becomes a
// failed result. before is the snapshot the plan came from.
func Run(ctx context.Context, env Env, plan Plan, before *inspect.Snapshot) (r Result) {
	r = Result{ID: NewActionID(), Plan: plan, Started: time.Now()}
	if before != nil {
		r.BlockedBefore = before.LockForest.Waiting
	}
	audited := env.Audit != nil
	defer func() {
		if p := recover(); p != nil {
			r.Outcome, r.Err = "failed", fmt.Errorf("panic: %v", p)
			r.Message = fmt.Sprintf("pgmedic failed inside the action (%v); look at the server before acting again. %s", p, r.Message)
		}
		r.Duration = time.Since(r.Started)
		if audited {
			if err := env.Audit.Append(env.Audit.recordOf(&r, before)); err != nil {
				r.Message += " (the final record could not be written: " + err.Error() + ")"
			}
		}
	}()
	if !plan.Allowed() {
		r.refuse(plan.Refusal)
		return r
	}
	if before != nil && before.Server.Pooler && needsOwnSession(plan.Kind) {
		r.refuse(PoolerRefusal)
		return r
	}
	if audited {
		start := env.Audit.recordOf(&r, before)
		start.Outcome = "started"
		if err := env.Audit.Append(start); err != nil {
			audited = false
			r.refuse("nothing was run, because the audit log cannot be written (" + err.Error() + ")" +
				". Fix that, or pass --no-audit to act without a record")
			return r
		}
	}
	switch plan.Kind {
	case Cancel, Terminate:
		runSignal(ctx, env, &r)
	case DropIndex, Rebuild:
		runIndex(ctx, env, &r)
	case RollbackPrepared:
		runRollbackPrepared(ctx, env, &r)
	case PoolerPause, PoolerResume, PoolerKill, PoolerReconnect:
		runPooler(ctx, env, &r)
	default:
		r.refuse("unknown action " + string(plan.Kind))
	}
	if ctx.Err() != nil && r.Outcome != "done" && r.Outcome != "refused" {
		r.Outcome = "cancelled"
		r.Message = "cancelled before it finished: " + r.Message
	}
	if r.Outcome == "done" && env.Snapshot != nil {
		if after := settled(ctx, env); after != nil {
			r.BlockedAfter = after.LockForest.Waiting
			r.NewRoots = newRoots(before, after, plan)
		}
	}
	return r
}

// PoolerRefusal is why index DDL and ROLLBACK PREPARED do not run through
// a pooler. They need a session of their own: a claim (an advisory lock),
// SETs and then a CONCURRENTLY statement that must run on the backend the
// SETs were made on. Behind a transaction pooler each statement may land
// on another server connection, and what is set stays on one that the
// application gets next. pgmedic cannot tell a session pool from a
// transaction pool from the client side, so it refuses behind either.
const PoolerRefusal = "refused: pgmedic is connected through a connection pooler, where this action's " +
	"session settings and lock would stay on a server connection the application uses next, and its statements " +
	"may run on different backends; connect pgmedic to PostgreSQL directly (its own host and port) to run it. " +
	"Nothing was done"

// RefuseBehindPooler marks a plan refused, before anyone is asked, when
// pgmedic reaches the server through a pooler and the action needs a
// session of its own (see PoolerRefusal).
func RefuseBehindPooler(p *Plan, srv inspect.Server) {
	if p.Allowed() && srv.Pooler && needsOwnSession(p.Kind) {
		p.Refusal = strings.TrimPrefix(PoolerRefusal, "refused: ")
		p.Alternative = "connect pgmedic to PostgreSQL directly, not through the pooler"
	}
}

// needsOwnSession reports whether an action kind needs a server session of
// its own; cancel and terminate are one statement each, with their guard
// in it, and are safe on any backend.
func needsOwnSession(k Kind) bool {
	return k == DropIndex || k == Rebuild || k == RollbackPrepared
}

// refuseBehindPooler refuses on the dedicated connection itself, which is
// what matters, even when the snapshot did not say.
func refuseBehindPooler(ctx context.Context, conn *pgx.Conn, r *Result) bool {
	pooled, err := connect.BehindPooler(ctx, conn)
	if err != nil {
		r.fail(err, "checking for a connection pooler")
		return true
	}
	if pooled {
		r.refuse(PoolerRefusal)
	}
	return pooled
}

func (r *Result) refuse(why string) {
	r.Outcome, r.Message = "refused", why
}

func (r *Result) fail(err error, what string) {
	r.Outcome, r.Err = "failed", err
	r.SQLState, r.Message = "", what+": "+explain(err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		r.SQLState = pgErr.Code
	}
}

// explain is an error in one line, with the server's SQLSTATE, detail and
// hint when it sent them.
func explain(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled):
		return "it was cancelled"
	case !errors.As(err, &pgErr):
		return err.Error()
	}
	msg := fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	if pgErr.Detail != "" {
		msg += ": " + pgErr.Detail
	}
	if pgErr.Hint != "" {
		msg += " Hint: " + pgErr.Hint
	}
	return msg
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// cancelSettle is how long a cancelled statement has to stop before
// pgmedic says it did not.
const cancelSettle = 3 * time.Second

func runSignal(ctx context.Context, env Env, r *Result) {
	b := r.Plan.Backend
	st := r.Plan.Statements[0]
	var holder string
	if err := env.Monitor(ctx, func(conn *pgx.Conn) (err error) {
		holder, err = claim(ctx, conn, claimBackend, uint32(b.PID))
		return err
	}); err != nil {
		r.fail(err, "claiming the backend")
		return
	} else if holder != "" {
		r.refuse(fmt.Sprintf("another pgmedic is acting on backend %d right now: %s; nothing was signalled", b.PID, holder))
		return
	}
	defer env.Monitor(context.WithoutCancel(ctx), func(conn *pgx.Conn) error {
		return release(context.WithoutCancel(ctx), conn, claimBackend, uint32(b.PID))
	})

	var signalled bool
	var queryStart *time.Time
	err := env.Monitor(ctx, func(conn *pgx.Conn) error {
		if r.Plan.Kind == Cancel {
			return conn.QueryRow(ctx, st.SQL, st.Args...).Scan(&signalled, &queryStart)
		}
		return conn.QueryRow(ctx, st.SQL, st.Args...).Scan(&signalled)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.refuse(fmt.Sprintf("backend %d is gone, or its pid now belongs to a new session: nothing was signalled", b.PID))
		return
	case r.Plan.Kind == Terminate && sqlState(err) == "57014" && ctx.Err() == nil:
		// Our own statement_timeout ran out while the server waited for
		// the backend to go: the signal was delivered. Look for it below.
		signalled = true
	case err != nil:
		r.fail(err, "the server refused the signal")
		if r.SQLState == "42501" {
			r.Message += " (our role may not signal this backend)"
		}
		return
	case !signalled && r.Plan.Kind == Terminate && len(st.Args) == 3:
		// pg_terminate_backend(pid, timeout) is false when the backend
		// did not leave within the timeout: the signal was sent. Look for
		// it below, and say what is still true if it stays.
	case !signalled:
		r.Outcome, r.Message = "failed", fmt.Sprintf("the server did not signal backend %d (it said it is not a PostgreSQL backend)", b.PID)
		return
	}
	if r.Plan.Kind == Cancel {
		stopped, now, err := statementStopped(ctx, env, b, queryStart)
		switch {
		case err != nil:
			r.fail(err, fmt.Sprintf("the cancel was sent to backend %d, but checking whether its statement stopped", b.PID))
		case stopped:
			r.Outcome, r.Message = "done", fmt.Sprintf("backend %d: its statement stopped (%s)", b.PID, now)
		default:
			r.Outcome = "failed"
			r.Message = fmt.Sprintf("the cancel was delivered to backend %d, but %s later it is still running the same statement "+
				"(it may catch the cancel, or be stuck where a cancel is not seen): terminate it instead", b.PID, cancelSettle)
		}
		return
	}
	// Terminate: gone is what counts.
	deadline := time.Now().Add(GoneDeadline)
	for {
		gone, err := backendGone(ctx, env, b)
		switch {
		case err != nil:
			r.fail(err, fmt.Sprintf("backend %d was signalled, but checking that it is gone", b.PID))
			return
		case gone:
			r.Outcome = "done"
			r.Message = fmt.Sprintf("backend %d terminated", b.PID)
			if b.XactStart != nil {
				r.Message += "; its transaction rolled back"
			}
			return
		case time.Now().After(deadline):
			r.Outcome = "failed"
			r.Message = fmt.Sprintf("backend %d was sent SIGTERM but is still there after %s: it may be stuck where signals "+
				"are not seen (I/O, an extension's loop); look at its wait event", b.PID, GoneDeadline)
			return
		}
		if sleep(ctx, 50*time.Millisecond) != nil {
			r.fail(ctx.Err(), fmt.Sprintf("backend %d was signalled; waiting for it to go", b.PID))
			return
		}
	}
}

func backendGone(ctx context.Context, env Env, b *BackendTarget) (bool, error) {
	var n int
	err := env.Monitor(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start = $2`,
			b.PID, b.BackendStart).Scan(&n)
	})
	return n == 0, err
}

// statementStopped watches a cancelled backend for a moment: the
// statement stopped when the backend is gone, no longer active, or runs a
// statement that started later. A statement that catches the cancel keeps
// its start time.
func statementStopped(ctx context.Context, env Env, b *BackendTarget, queryStart *time.Time) (bool, string, error) {
	deadline := time.Now().Add(cancelSettle)
	for {
		var state string
		var start *time.Time
		err := env.Monitor(ctx, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT coalesce(state, ''), query_start
FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start = $2`, b.PID, b.BackendStart).Scan(&state, &start)
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return true, "the backend has ended", nil
		case err != nil:
			return false, "", err
		case state != "active":
			return true, "it is now " + state, nil
		case queryStart != nil && start != nil && !start.Equal(*queryStart):
			return true, "it has started another statement since", nil
		case time.Now().After(deadline):
			return false, "", nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return false, "", err
		}
	}
}

// sleep waits d, or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// settled reads the server until two snapshots in a row show the same
// root blockers (at most about 2 s): a released queue needs a moment to
// move, and the blocker shift is only real once it has.
func settled(ctx context.Context, env Env) *inspect.Snapshot {
	var last *inspect.Snapshot
	for range 10 {
		s, err := env.Snapshot(ctx)
		if err != nil {
			return last
		}
		if last != nil && slices.Equal(rootPIDs(last), rootPIDs(s)) && s.LockForest.Waiting == last.LockForest.Waiting {
			return s
		}
		last = s
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

func rootPIDs(s *inspect.Snapshot) []int {
	out := make([]int, 0, len(s.LockForest.Roots))
	for _, r := range s.LockForest.Roots {
		out = append(out, s.LockForest.Nodes[r].PID)
	}
	return out
}

// newRoots lists the root blockers in after that were not roots before,
// among the sessions the target held up: the queue has a new head.
func newRoots(before, after *inspect.Snapshot, plan Plan) []int {
	if before == nil || after == nil || plan.Backend == nil {
		return nil
	}
	wasRoot := map[int]bool{}
	for _, r := range before.LockForest.Roots {
		wasRoot[before.LockForest.Nodes[r].PID] = true
	}
	var out []int
	for _, r := range after.LockForest.Roots {
		if pid := after.LockForest.Nodes[r].PID; !wasRoot[pid] && pid != plan.Backend.PID {
			out = append(out, pid)
		}
	}
	return out
}

// Describe says what happened, for a message line or a terminal.
func (r *Result) Describe() string {
	msg := r.Message
	if r.Outcome == "done" && r.Plan.Backend != nil {
		msg += fmt.Sprintf("; sessions waiting on locks: %d before, %d after", r.BlockedBefore, r.BlockedAfter)
		for _, pid := range r.NewRoots {
			msg += fmt.Sprintf("; blocker shift: pid %d now heads a queue", pid)
		}
	}
	return fmt.Sprintf("%s: %s (%s)", strings.ToUpper(r.Outcome), msg, human.Duration(r.Duration))
}

func runRollbackPrepared(ctx context.Context, env Env, r *Result) {
	px := r.Plan.Prepared
	conn, err := env.Dedicated(ctx, px.Database)
	if err != nil {
		r.fail(err, "connecting to the prepared transaction's database")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if refuseBehindPooler(ctx, conn, r) {
		return
	}
	// The gid is a name anyone can reuse: check it is still the same
	// transaction right before acting.
	var prepared time.Time
	switch err := conn.QueryRow(ctx, `SELECT prepared FROM pg_catalog.pg_prepared_xacts WHERE gid = $1`, px.GID).Scan(&prepared); {
	case errors.Is(err, pgx.ErrNoRows):
		r.refuse(fmt.Sprintf("prepared transaction '%s' no longer exists: nothing to do", px.GID))
		return
	case err != nil:
		r.fail(err, "re-checking the prepared transaction")
		return
	case !prepared.Equal(px.Prepared):
		r.refuse(fmt.Sprintf("'%s' is now another prepared transaction (prepared at %s, not %s): nothing was done",
			px.GID, prepared.UTC().Format(time.RFC3339Nano), px.Prepared.UTC().Format(time.RFC3339Nano)))
		return
	}
	if _, err := conn.Exec(ctx, r.Plan.Statements[0].SQL); err != nil {
		r.fail(err, "running "+r.Plan.Statements[0].Display)
		if r.SQLState == "42704" {
			r.Outcome, r.Message = "refused", fmt.Sprintf("prepared transaction '%s' no longer exists: nothing to do", px.GID)
		}
		return
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_prepared_xacts WHERE gid = $1`, px.GID).Scan(&n); err != nil {
		r.fail(err, "verifying the rollback")
		return
	}
	if n != 0 {
		r.Outcome, r.Message = "failed", "the prepared transaction is still there"
		return
	}
	r.Outcome, r.Message = "done", fmt.Sprintf("prepared transaction '%s' rolled back; its locks are released", px.GID)
}
