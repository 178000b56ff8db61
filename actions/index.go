package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DuplicateCheckTimeout bounds the duplicate pre-check of a unique
// rebuild: a full scan of a big table must not run unbounded mid-incident.
const DuplicateCheckTimeout = 30 * time.Second

func runIndex(ctx context.Context, env Env, r *Result) {
	ix := r.Plan.Index
	conn, err := env.Dedicated(ctx, ix.Database)
	if err != nil {
		r.fail(err, "opening a second connection for the DDL")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if why, gone, err := checkIndex(ctx, conn, ix, r.Plan.Kind); err != nil {
		r.fail(err, "re-checking the index")
		return
	} else if gone {
		r.Outcome, r.Message = "done", fmt.Sprintf("index %s no longer exists (dropped by someone else?): nothing to do", ix.display())
		if r.Plan.Kind == Rebuild {
			r.Outcome, r.Message = "refused", fmt.Sprintf("index %s no longer exists (dropped by someone else?); nothing was built", ix.display())
		}
		return
	} else if why != "" {
		r.refuse(why)
		return
	}
	if r.Plan.Kind == Rebuild && ix.Unique && !ix.Valid {
		if dup, err := duplicateKey(ctx, conn, ix.OID); err != nil {
			r.fail(err, "checking the table for duplicate keys")
			return
		} else if dup != "" {
			r.refuse("the table still has duplicate keys, so the unique build would fail again: " + dup +
				"; nothing was changed. Remove the duplicates, then rebuild.")
			return
		}
	}

	for _, st := range r.Plan.Statements {
		var err error
		if strings.HasPrefix(st.SQL, "DROP INDEX CONCURRENTLY") {
			err = dropWithRetries(ctx, env, conn, st, ix)
		} else {
			_, err = conn.Exec(ctx, st.SQL, st.Args...)
		}
		if err != nil {
			what := "running " + st.Display
			r.fail(err, what)
			if strings.HasPrefix(st.SQL, "CREATE") || strings.HasPrefix(st.SQL, "REINDEX") {
				r.Message += "; a failed or cancelled build leaves an invalid index behind: drop it (D, or pgmedic drop-index)"
			}
			return
		}
	}
	verifyIndex(ctx, conn, r)
}

func (ix *IndexTarget) display() string { return ident(ix.Schema, ix.Name) }

// checkIndex re-reads the index by OID right before acting: the same name,
// still invalid (for a drop or a failed build's rebuild), no build on it.
func checkIndex(ctx context.Context, conn *pgx.Conn, ix *IndexTarget, kind Kind) (why string, gone bool, err error) {
	var schema, name string
	var valid, building bool
	err = conn.QueryRow(ctx, `/* pgmedic:action-precheck */
SELECT n.nspname, c.relname, i.indisvalid,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.indexrelid = $1`, ix.OID).Scan(&schema, &name, &valid, &building)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", true, nil
	case err != nil:
		return "", false, err
	case schema != ix.Schema || name != ix.Name:
		return fmt.Sprintf("oid %d is now %s, not %s: the catalog changed since the plan", ix.OID, ident(schema, name), ix.display()), false, nil
	case building:
		return "a build is running on it now", false, nil
	case valid && kind == DropIndex:
		return "it has become valid since the plan: this action is for invalid indexes", false, nil
	}
	return "", false, nil
}

// duplicateKey looks for one duplicate key of a unique index over plain
// columns (the predicate of a partial index included). It returns "" when
// there is none or the index has expressions (then the build itself will
// tell).
func duplicateKey(ctx context.Context, conn *pgx.Conn, oid uint32) (string, error) {
	var query *string
	err := conn.QueryRow(ctx, `/* pgmedic:duplicate-check */
SELECT CASE WHEN 0 = ANY (i.indkey::int2[]) THEN NULL ELSE
  format('SELECT concat_ws('', '', %1$s)::text, count(*) FROM %2$s %3$s GROUP BY %1$s HAVING count(*) > 1 LIMIT 1',
         (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.ord)
            FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
         i.indrelid::regclass,
         CASE WHEN i.indpred IS NULL THEN '' ELSE 'WHERE ' || pg_catalog.pg_get_expr(i.indpred, i.indrelid) END)
END
FROM pg_catalog.pg_index i WHERE i.indexrelid = $1`, oid).Scan(&query)
	if err != nil || query == nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET statement_timeout = '%dms'", DuplicateCheckTimeout.Milliseconds())); err != nil {
		return "", err
	}
	var key string
	var n int
	err = conn.QueryRow(ctx, *query).Scan(&key, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("key (%s) appears %d times", key, n), nil
}

// dropWithRetries runs DROP INDEX CONCURRENTLY, retrying with backoff
// after a lock timeout (harmless on an invalid index) and saying who it
// waits for: the transactions that hold the table open.
func dropWithRetries(ctx context.Context, env Env, conn *pgx.Conn, st Statement, ix *IndexTarget) error {
	attempts, wait := env.DropAttempts, env.BackoffStart
	if attempts <= 0 {
		attempts = 8
	}
	if wait <= 0 {
		wait = time.Second
	}
	for attempt := 1; ; attempt++ {
		_, err := conn.Exec(ctx, st.SQL, st.Args...)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55P03" || attempt == attempts {
			return err
		}
		holders := tableLockHolders(ctx, conn, ix)
		progress(env, fmt.Sprintf("DROP INDEX CONCURRENTLY %s hit its lock timeout (attempt %d of %d); it waits for %s; retrying in %s",
			ix.display(), attempt, attempts, holders, wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// tableLockHolders names the other sessions that hold a lock on the
// index's table: the ones DROP INDEX CONCURRENTLY waits for.
func tableLockHolders(ctx context.Context, conn *pgx.Conn, ix *IndexTarget) string {
	rows, err := conn.Query(ctx, `/* pgmedic:drop-waits-for */
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
       coalesce(extract(epoch FROM clock_timestamp() - a.xact_start)::int, 0)
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND a.pid <> pg_catalog.pg_backend_pid()
  AND l.relation = (SELECT indrelid FROM pg_catalog.pg_index WHERE indexrelid = $1)
ORDER BY a.xact_start LIMIT 5`, ix.OID)
	if err != nil {
		return "sessions that hold the table open"
	}
	var parts []string
	for rows.Next() {
		var pid, secs int
		var app, state string
		if rows.Scan(&pid, &app, &state, &secs) == nil {
			parts = append(parts, fmt.Sprintf("pid %d (%s, %s, transaction open %ds)", pid, orDash(app), state, secs))
		}
	}
	rows.Close()
	if len(parts) == 0 {
		return "transactions that held the table open"
	}
	return strings.Join(parts, ", ")
}

func progress(env Env, msg string) {
	if env.Progress != nil {
		env.Progress(msg)
	}
}

// verifyIndex proves the effect: a dropped index is gone; a rebuilt one
// exists under the same name, valid, and unique if it was.
func verifyIndex(ctx context.Context, conn *pgx.Conn, r *Result) {
	ix := r.Plan.Index
	if r.Plan.Kind == DropIndex {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_class WHERE oid = $1`, ix.OID).Scan(&n); err != nil {
			r.fail(err, "verifying the drop")
			return
		}
		if n != 0 {
			r.Outcome, r.Message = "failed", "the index is still there after DROP INDEX CONCURRENTLY"
			return
		}
		r.Outcome, r.Message = "done", fmt.Sprintf("index %s dropped", ix.display())
		return
	}
	var valid, unique bool
	var oid uint32
	err := conn.QueryRow(ctx, `SELECT i.indisvalid, i.indisunique, i.indexrelid
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, ix.Schema, ix.Name).Scan(&valid, &unique, &oid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.Outcome, r.Message = "failed", "the rebuilt index is not there"
	case err != nil:
		r.fail(err, "verifying the rebuild")
	case !valid:
		r.Outcome, r.Message = "failed", "the rebuilt index is still invalid: drop it (D) and look at the server log"
	case unique != ix.Unique:
		r.Outcome, r.Message = "failed", "the rebuilt index lost or gained UNIQUE"
	default:
		r.Outcome = "done"
		r.Message = fmt.Sprintf("index %s rebuilt and valid (new oid %d)", ix.display(), oid)
		if unique {
			r.Message += ", still UNIQUE"
		}
	}
}
