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
	"github.com/pgmedic/pgmedic/internal/human"
)

// Env is what an execution needs from its surroundings.
type Env struct {
	// Monitor runs fn on the monitoring connection. Cancel and terminate
	// run there: when the pool is full a second connection may be refused.
	Monitor func(ctx context.Context, fn func(*pgx.Conn) error) error
	// Dedicated opens a second connection, to database db, for DDL that
	// may wait; it is closed when the action ends.
	Dedicated func(ctx context.Context, db string) (*pgx.Conn, error)
	// Snapshot reads the server, for the counts before and after and the
	// blocker shift.
	Snapshot func(ctx context.Context) (*inspect.Snapshot, error)
	// Audit records every execution; nil records nothing.
	Audit *Audit
	// Progress reports what a long action is doing (retries, waits).
	Progress func(string)
	// DropAttempts bounds the retries of DROP INDEX CONCURRENTLY after a
	// lock timeout; default 8. Backoff starts at BackoffStart (1s).
	DropAttempts int
	BackoffStart time.Duration
}

// Result is what happened.
type Result struct {
	Plan     Plan          `json:"plan"`
	Outcome  string        `json:"outcome"` // "done", "refused", "failed"
	Message  string        `json:"message"`
	SQLState string        `json:"sqlstate,omitempty"`
	Err      error         `json:"-"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	// Sessions waiting on a lock before and after.
	BlockedBefore int `json:"blocked_before"`
	BlockedAfter  int `json:"blocked_after"`
	// NewRoots are root blockers that appeared after the action: the
	// blocker shift, when a released session holds the queue in turn.
	NewRoots []int `json:"new_roots,omitempty"`
}

// OK reports whether the effect was verified.
func (r *Result) OK() bool { return r.Outcome == "done" }

// Run executes a plan: re-checks its preconditions on the server, runs its
// statements one by one outside any transaction, verifies the effect, and
// writes the audit record. before is the snapshot the plan came from.
func Run(ctx context.Context, env Env, plan Plan, before *inspect.Snapshot) Result {
	r := Result{Plan: plan, Started: time.Now()}
	if before != nil {
		r.BlockedBefore = before.LockForest.Waiting
	}
	switch {
	case !plan.Allowed():
		r.refuse(plan.Refusal)
	case plan.Kind == Cancel || plan.Kind == Terminate:
		runSignal(ctx, env, &r)
	case plan.Kind == DropIndex || plan.Kind == Rebuild:
		runIndex(ctx, env, &r)
	case plan.Kind == RollbackPrepared:
		runRollbackPrepared(ctx, env, &r)
	default:
		r.refuse("unknown action " + string(plan.Kind))
	}
	if r.Outcome == "done" && env.Snapshot != nil {
		if after := settled(ctx, env); after != nil {
			r.BlockedAfter = after.LockForest.Waiting
			r.NewRoots = newRoots(before, after, plan)
		}
	}
	r.Duration = time.Since(r.Started)
	if env.Audit != nil {
		if err := env.Audit.Write(&r); err != nil && r.Message != "" {
			r.Message += " (the audit log could not be written: " + err.Error() + ")"
		}
	}
	return r
}

func (r *Result) refuse(why string) {
	r.Outcome, r.Message = "refused", why
}

func (r *Result) fail(err error, what string) {
	r.Outcome, r.Err = "failed", err
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		r.SQLState = pgErr.Code
		r.Message = fmt.Sprintf("%s: %s (SQLSTATE %s)", what, pgErr.Message, pgErr.Code)
		if pgErr.Detail != "" {
			r.Message += ": " + pgErr.Detail
		}
		if pgErr.Hint != "" {
			r.Message += " Hint: " + pgErr.Hint
		}
		return
	}
	r.Message = what + ": " + err.Error()
}

func runSignal(ctx context.Context, env Env, r *Result) {
	b := r.Plan.Backend
	st := r.Plan.Statements[0]
	var signalled bool
	err := env.Monitor(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, st.SQL, st.Args...).Scan(&signalled)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.refuse(fmt.Sprintf("backend %d is gone, or its pid now belongs to a new session: nothing was signalled", b.PID))
		return
	case err != nil:
		r.fail(err, "the server refused the signal")
		if r.SQLState == "42501" {
			r.Message += " (our role may not signal this backend)"
		}
		return
	}
	if r.Plan.Kind == Cancel {
		r.Outcome = "done"
		r.Message = fmt.Sprintf("cancel sent to backend %d", b.PID)
		if !signalled {
			r.Outcome, r.Message = "failed", fmt.Sprintf("the server did not signal backend %d", b.PID)
		} else if still := stillRunning(ctx, env, b); still {
			r.Message += "; its statement is still running: if it does not stop, terminate it instead"
		} else {
			r.Message += "; its statement stopped"
		}
		return
	}
	// Terminate: gone is what counts. With a timeout (14+) the server
	// waited; before 14, poll.
	deadline := time.Now().Add(TerminateWait)
	for {
		gone, err := backendGone(ctx, env, b)
		if err != nil {
			r.fail(err, "checking that the backend is gone")
			return
		}
		if gone {
			r.Outcome = "done"
			r.Message = fmt.Sprintf("backend %d terminated", b.PID)
			if b.XactStart != nil {
				r.Message += "; its transaction rolled back"
			}
			return
		}
		if time.Now().After(deadline) {
			r.Outcome = "failed"
			r.Message = fmt.Sprintf("backend %d was signalled but is still there after %s", b.PID, TerminateWait)
			return
		}
		time.Sleep(50 * time.Millisecond)
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

// stillRunning waits a moment and reports whether the backend is still
// active in the statement that was cancelled.
func stillRunning(ctx context.Context, env Env, b *BackendTarget) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		var state string
		var waiting bool
		err := env.Monitor(ctx, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT coalesce(state, ''), wait_event_type IS NOT DISTINCT FROM 'Lock'
FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND backend_start = $2`, b.PID, b.BackendStart).Scan(&state, &waiting)
		})
		if err != nil || state != "active" {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
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
