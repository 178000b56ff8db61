package actions

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/human"
)

func (ix *IndexTarget) display() string { return ident(ix.Schema, ix.Name) }

// runIndex runs a drop or a rebuild on a connection of its own, claimed
// against any other pgmedic, with the session settings the plan shows.
func runIndex(ctx context.Context, env Env, r *Result) {
	ix := r.Plan.Index
	conn, err := env.Dedicated(ctx, ix.Database)
	if err != nil {
		r.fail(err, "opening a second connection for the DDL")
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if refuseBehindPooler(ctx, conn, r) {
		return
	}
	if holder, err := claim(ctx, conn, claimIndex, ix.OID); err != nil {
		r.fail(err, "claiming the index")
		return
	} else if holder != "" {
		r.refuse(fmt.Sprintf("another pgmedic is acting on index %s right now: %s; nothing was done", ix.display(), holder))
		return
	}
	version, _ := strconv.Atoi(conn.PgConn().ParameterStatus("server_version_num"))
	if version == 0 {
		_ = conn.QueryRow(ctx, `SELECT pg_catalog.current_setting('server_version_num')::int`).Scan(&version)
	}
	stmts := r.Plan.Statements
	for _, st := range stmts[:len(stmts)-1] {
		if st.MinVersion > version {
			continue
		}
		if _, err := conn.Exec(ctx, st.SQL, st.Args...); err != nil {
			r.fail(err, "setting up the DDL session ("+st.Display+")")
			return
		}
	}
	if r.Plan.Kind == DropIndex {
		runDrop(ctx, env, conn, r, stmts[len(stmts)-1])
	} else {
		runRebuild(ctx, env, conn, r, stmts[len(stmts)-1])
	}
}

// indexState is an index as the catalog has it right now, with what a
// rebuild must carry over.
type indexState struct {
	Schema, Name string
	Table        uint32
	Valid, Ready bool
	Unique       bool
	// BuildOnTable names another CREATE INDEX or REINDEX running on the
	// table: two concurrent builds on one table wait for each other, and
	// can deadlock.
	BuildOnTable string
	props        indexProps
}

// indexProps is what the swap of REINDEX CONCURRENTLY must carry from
// the old index to the new one, compared before and after.
type indexProps struct {
	Definition  string
	Tablespace  uint32
	Comment     string
	StatTargets string
	ReplIdent   bool
	Clustered   bool
}

func (p indexProps) diff(q indexProps) []string {
	var out []string
	add := func(what string, a, b any) {
		if a != b {
			out = append(out, fmt.Sprintf("%s was %v, is %v", what, a, b))
		}
	}
	add("definition", p.Definition, q.Definition)
	add("tablespace", p.Tablespace, q.Tablespace)
	add("comment", strconv.Quote(p.Comment), strconv.Quote(q.Comment))
	add("statistics targets", p.StatTargets, q.StatTargets)
	add("replica identity", p.ReplIdent, q.ReplIdent)
	add("clustered", p.Clustered, q.Clustered)
	return out
}

const indexStateColumns = `n.nspname, c.relname, i.indrelid, i.indisvalid, i.indisready, i.indisunique,
       (SELECT format('pid %s (%s, %s)', p.pid, p.command, p.phase)
          FROM pg_catalog.pg_stat_progress_create_index p
         WHERE p.relid = i.indrelid AND p.pid <> pg_catalog.pg_backend_pid()
           AND p.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
         LIMIT 1),
       pg_catalog.pg_get_indexdef(i.indexrelid), c.reltablespace,
       coalesce(pg_catalog.obj_description(i.indexrelid, 'pg_class'), ''),
       (SELECT coalesce(string_agg(coalesce(a.attstattarget::text, '-1'), ',' ORDER BY a.attnum), '')
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attnum > 0),
       i.indisreplident, i.indisclustered
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`

// readIndex re-reads an index by OID (byName: by schema and name); nil
// when there is none. pg_get_indexdef() waits for a lock when the table
// is locked ACCESS EXCLUSIVE, and the DDL session may have no lock
// timeout, so the read runs in a short transaction with its own bound.
func readIndex(ctx context.Context, conn *pgx.Conn, where string, args ...any) (*indexState, error) {
	var st *indexState
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '10s'`); err != nil {
			return err
		}
		var s indexState
		var build *string
		err := tx.QueryRow(ctx, `/* pgmedic:action-check */ SELECT `+indexStateColumns+` WHERE `+where, args...).Scan(
			&s.Schema, &s.Name, &s.Table, &s.Valid, &s.Ready, &s.Unique, &build,
			&s.props.Definition, &s.props.Tablespace, &s.props.Comment, &s.props.StatTargets, &s.props.ReplIdent, &s.props.Clustered)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if build != nil {
			s.BuildOnTable = *build
		}
		st = &s
		return err
	})
	if err != nil && sqlState(err) == "55P03" {
		return nil, fmt.Errorf("the table is locked (ACCESS EXCLUSIVE, most likely by a migration), so the index cannot be read: "+
			"deal with that lock first (Locks view), then try again: %w", err)
	}
	return st, err
}

func readIndexByOID(ctx context.Context, conn *pgx.Conn, oid uint32) (*indexState, error) {
	return readIndex(ctx, conn, `i.indexrelid = $1`, oid)
}

// mismatch says why the index is not (any more) the target of the plan.
func (s *indexState) mismatch(ix *IndexTarget, kind Kind) string {
	switch {
	case s.Schema != ix.Schema || s.Name != ix.Name:
		return fmt.Sprintf("oid %d is now %s, not %s: the catalog changed since the plan", ix.OID, ident(s.Schema, s.Name), ix.display())
	case ix.TableOID != 0 && s.Table != ix.TableOID:
		return fmt.Sprintf("oid %d now belongs to another table: the catalog changed since the plan", ix.OID)
	case s.BuildOnTable != "":
		return "another index build is running on the table, " + s.BuildOnTable + ": two builds on one table wait for each other; let it finish first"
	case kind == DropIndex && s.Valid:
		return "it has become valid since the plan (rebuilt by someone else?): this action is for invalid indexes"
	}
	return ""
}

// runDrop drops an invalid index, re-checking before every attempt that
// the OID still has the name about to be dropped: between attempts
// someone else may have renamed, rebuilt or replaced it.
func runDrop(ctx context.Context, env Env, conn *pgx.Conn, r *Result, drop Statement) {
	ix := r.Plan.Index
	attempts, wait := env.DropAttempts, env.BackoffStart
	if attempts <= 0 {
		attempts = 8
	}
	if wait <= 0 {
		wait = time.Second
	}
	for attempt := 1; ; attempt++ {
		st, err := readIndexByOID(ctx, conn, ix.OID)
		switch {
		case err != nil:
			r.fail(err, fmt.Sprintf("re-checking the index before attempt %d", attempt))
			return
		case st == nil:
			r.Outcome, r.Message = "done", fmt.Sprintf("index %s (oid %d) no longer exists: dropped by someone else; nothing was dropped",
				ix.display(), ix.OID)
			if other, err := readIndex(ctx, conn, `n.nspname = $1 AND c.relname = $2`, ix.Schema, ix.Name); err == nil && other != nil {
				r.Message += "; the index of that name now is another one, and was not touched"
			}
			return
		}
		if why := st.mismatch(ix, DropIndex); why != "" {
			if attempt == 1 {
				r.refuse(why + "; nothing was done")
			} else {
				r.Outcome, r.Message = "failed", why+"; nothing was dropped"
			}
			return
		}
		_, err = conn.Exec(ctx, drop.SQL, drop.Args...)
		if err == nil {
			break
		}
		if sqlState(err) != "55P03" || ctx.Err() != nil {
			r.fail(err, "running "+drop.Display)
			return
		}
		holders := tableLockHolders(ctx, conn, ix)
		line := fmt.Sprintf("attempt %d of %d: DROP INDEX CONCURRENTLY %s waited %s (its lock timeout) for %s",
			attempt, attempts, ix.display(), human.Duration(DropLockTimeout), holders)
		r.Attempts = append(r.Attempts, line)
		if attempt == attempts {
			r.fail(err, "running "+drop.Display)
			r.Message = fmt.Sprintf("gave up after %d attempts; the index is still there, invalid as before. "+
				"It waits for %s: end those transactions (K) and try again", attempts, holders)
			return
		}
		progress(env, line+"; next attempt in "+human.Duration(wait))
		if err := sleep(ctx, wait); err != nil {
			r.fail(err, "waiting to drop "+ix.display()+" again")
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
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

// runRebuild runs REINDEX INDEX CONCURRENTLY: the old index keeps doing
// its job until a finished, valid copy is swapped in. What it leaves when
// it fails or is cancelled (the unfinished copy, or after the swap the
// old one) is dropped, and the rebuilt index is checked to be the same
// index: name, table, validity, uniqueness and what the swap carries.
func runRebuild(ctx context.Context, env Env, conn *pgx.Conn, r *Result, reindex Statement) {
	ix := r.Plan.Index
	st, err := readIndexByOID(ctx, conn, ix.OID)
	switch {
	case err != nil:
		r.fail(err, "re-checking the index")
		return
	case st == nil:
		r.refuse(fmt.Sprintf("index %s (oid %d) no longer exists (dropped by someone else?); nothing was built", ix.display(), ix.OID))
		return
	}
	if why := st.mismatch(ix, Rebuild); why != "" {
		r.refuse(why + "; nothing was done")
		return
	}
	before := st.props
	var existing []uint32
	if err := conn.QueryRow(ctx, `SELECT array_agg(indexrelid) FROM pg_catalog.pg_index WHERE indrelid = $1`, st.Table).Scan(&existing); err != nil {
		r.fail(err, "listing the table's indexes")
		return
	}
	if st.Unique && !st.Valid { // a valid unique index proves there are none
		dup, err := duplicateKey(ctx, conn, ix.OID)
		switch {
		case errors.Is(err, errNotExact):
			progress(env, "the duplicate pre-check cannot test this index's equality exactly; the build itself will, "+
				"and the index stays as it is if it finds one")
		case err != nil && (sqlState(err) == "57014" || sqlState(err) == "55P03"):
			progress(env, fmt.Sprintf("the duplicate pre-check ran out of its %s; going on: if there are duplicates the build fails, "+
				"the index stays as it is, and pgmedic drops the unfinished copy", human.Duration(DuplicateCheckTimeout)))
		case err != nil:
			r.fail(err, "checking the table for duplicate keys")
			return
		case dup != "":
			r.refuse("the table has duplicate keys, so the unique build would fail: " + dup +
				"; nothing was changed. Remove the duplicates, then rebuild")
			return
		}
		// The check may have taken a while: look at the target again.
		if st, err = readIndexByOID(ctx, conn, ix.OID); err != nil || st == nil || st.mismatch(ix, Rebuild) != "" {
			r.refuse("the index changed while pgmedic looked for duplicates; nothing was done")
			return
		}
	}

	watch := startWatch(ctx, env, conn.PgConn().PID(), ix)
	_, err = conn.Exec(ctx, reindex.SQL, reindex.Args...)
	ccnew := watch.stop()
	if err != nil {
		r.fail(err, "running "+reindex.Display)
		// What became of the index comes first, then why the build stopped:
		// a one-line result is read from its start.
		stopped := "the REINDEX stopped: " + explain(err)
		if blocker := watch.lastWait(); blocker != "" {
			stopped += ", while waiting for " + blocker
		}
		r.Message = ""
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp(env.CleanupTimeout, 30*time.Second))
		defer cancel()
		swapped := cleanUpRebuild(cctx, env, conn, r, st.Table, existing, ccnew)
		r.Message = strings.TrimPrefix(r.Message, "; ") + "; " + stopped
		if !swapped {
			return
		}
		// The swap had happened: the rebuild itself succeeded. Verify it
		// as if nothing had failed, and say what happened.
		note := r.Message
		verifyRebuild(cctx, conn, r, before, st.Unique)
		if r.OK() {
			r.Message += "; the REINDEX was interrupted after the swap (" + note + "), and pgmedic finished its clean-up"
		}
		return
	}
	verifyRebuild(ctx, conn, r, before, st.Unique)
}

func cmp(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// cleanUpRebuild drops what a failed REINDEX CONCURRENTLY left: its
// unfinished copy (<name>_ccnew, a new OID on the table that the build's
// progress named, or that was not there before), or, when it failed after
// the swap, the old index (the target's OID, now <name>_ccold). It says
// whether the swap had happened.
func cleanUpRebuild(ctx context.Context, env Env, conn *pgx.Conn, r *Result, table uint32, existing []uint32, ccnew uint32) (swapped bool) {
	ix := r.Plan.Index
	rows, err := conn.Query(ctx, `/* pgmedic:rebuild-leftovers */
SELECT i.indexrelid, n.nspname, c.relname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = $1 AND NOT i.indisvalid
  AND ((NOT i.indexrelid = ANY ($2) AND (i.indexrelid = $3 OR c.relname ~ '_ccnew[0-9]*$'))
       OR (i.indexrelid = $4 AND c.relname ~ '_ccold[0-9]*$'))`, table, existing, ccnew, ix.OID)
	type leftover struct {
		oid          uint32
		schema, name string
	}
	var left []leftover
	if err == nil {
		var l leftover
		_, err = pgx.ForEachRow(rows, []any{&l.oid, &l.schema, &l.name}, func() error {
			left = append(left, l)
			return nil
		})
	}
	if err != nil {
		r.Message += "; pgmedic could not look for the unfinished copy (" + explain(err) + "): look for an invalid " +
			ix.Name + "_ccnew on the table and drop it (pgmedic drop-index)"
		return false
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET lock_timeout = '%dms'", DropLockTimeout.Milliseconds())); err != nil {
		r.Message += "; the clean-up could not start: " + explain(err)
		return false
	}
	for _, l := range left {
		if l.oid == ix.OID {
			swapped = true
		}
		what := "the unfinished copy " + ident(l.schema, l.name)
		if swapped && l.oid == ix.OID {
			what = "the old copy " + ident(l.schema, l.name)
		}
		if err := dropLeftover(ctx, conn, r, l.oid, l.schema, l.name); err != nil {
			r.Message += fmt.Sprintf("; %s (oid %d) is left, invalid and unused by queries: drop it with pgmedic drop-index %s (%s)",
				what, l.oid, shellQuote(ident(l.schema, l.name)), err)
			continue
		}
		r.Attempts = append(r.Attempts, "clean-up: dropped "+what)
		if !swapped {
			r.Message += "; " + ix.display() + " is untouched, and pgmedic dropped " + what
		}
	}
	if len(left) == 0 && !swapped {
		r.Message += "; " + ix.display() + " is untouched, and the build left nothing behind"
	}
	return swapped
}

// dropLeftover drops one invalid index of the rebuild's own making, its
// identity checked before each of a few attempts.
func dropLeftover(ctx context.Context, conn *pgx.Conn, r *Result, oid uint32, schema, name string) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var st *indexState
		if st, err = readIndexByOID(ctx, conn, oid); err != nil {
			return err
		}
		if st == nil {
			return nil
		}
		if st.Schema != schema || st.Name != name || st.Valid {
			return fmt.Errorf("it changed since the build failed")
		}
		if _, err = conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+ident(schema, name)); err == nil {
			return nil
		}
		r.Attempts = append(r.Attempts, fmt.Sprintf("clean-up attempt %d: dropping %s: %s", attempt, ident(schema, name), explain(err)))
		if sqlState(err) != "55P03" || sleep(ctx, time.Second) != nil {
			break
		}
	}
	return err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// verifyRebuild proves the effect: the index of that name on the same
// table is valid, ready, unique if it was, the old OID is gone, and
// everything the swap should carry is as it was.
func verifyRebuild(ctx context.Context, conn *pgx.Conn, r *Result, before indexProps, unique bool) {
	ix := r.Plan.Index
	var oid uint32
	now, err := readIndex(ctx, conn, `n.nspname = $1 AND c.relname = $2`, ix.Schema, ix.Name)
	if err == nil && now != nil {
		err = conn.QueryRow(ctx, `SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, ix.Schema, ix.Name).Scan(&oid)
	}
	var problems []string
	switch {
	case err != nil:
		r.fail(err, "verifying the rebuild")
		return
	case now == nil:
		r.Outcome, r.Message = "failed", "the rebuilt index is not there"
		return
	case now.Table != ix.TableOID && ix.TableOID != 0:
		problems = append(problems, "it is on another table")
	case !now.Valid || !now.Ready:
		problems = append(problems, "it is not valid")
	case now.Unique != unique:
		problems = append(problems, "it lost or gained UNIQUE")
	case oid == ix.OID:
		problems = append(problems, "it still has the old OID: nothing was swapped")
	}
	problems = append(problems, before.diff(now.props)...)
	if len(problems) > 0 {
		r.Outcome, r.Message = "failed", "the rebuild finished, but the index is not the same: "+strings.Join(problems, "; ")
		return
	}
	r.Outcome = "done"
	r.Message = fmt.Sprintf("index %s rebuilt and valid (oid %d, was %d)", ix.display(), oid, ix.OID)
	if unique {
		r.Message += ", still UNIQUE"
	}
	r.Message += "; comment, tablespace and statistics targets carried over"
}

// watch follows a running rebuild from the monitoring connection and
// says what it does and whom it waits for, while it waits.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
	ccnew  uint32
	wait   string
}

// watchEvery is how often a running rebuild's progress is read.
var watchEvery = time.Second

func startWatch(ctx context.Context, env Env, pid uint32, ix *IndexTarget) *watch {
	wctx, cancel := context.WithCancel(ctx)
	w := &watch{cancel: cancel, done: make(chan struct{})}
	if env.Monitor == nil {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		started, last, lastSaid := time.Now(), "", time.Time{}
		for sleep(wctx, watchEvery) == nil {
			var p buildProgress
			err := env.Monitor(wctx, func(conn *pgx.Conn) error { return p.read(wctx, conn, pid) })
			if err != nil {
				continue
			}
			if p.ccnew != 0 {
				w.ccnew = p.ccnew
			}
			w.wait = p.waitsFor
			line := p.describe(ix)
			if line != last || time.Since(lastSaid) >= 10*time.Second {
				progress(env, fmt.Sprintf("%s; running %s", line+p.counters(), human.Duration(time.Since(started))))
				last, lastSaid = line, time.Now()
			}
		}
	}()
	return w
}

// stop ends the watch and returns the unfinished copy's OID, when the
// build's progress named one.
func (w *watch) stop() uint32 {
	w.cancel()
	<-w.done
	return w.ccnew
}

func (w *watch) lastWait() string { return w.wait }

type buildProgress struct {
	phase                                      string
	ccnew                                      uint32
	lockersDone, lockersTotal                  int64
	blocksDone, blocksTotal, tuplesDone, total int64
	waitsFor                                   string
}

// read takes one look at the rebuild: its phase, and the session it
// waits for (the one named by the progress view, or the first blocker of
// a lock wait before the progress view has a phase).
func (p *buildProgress) read(ctx context.Context, conn *pgx.Conn, pid uint32) error {
	var wpid *int32
	var app, state string
	var secs int
	err := conn.QueryRow(ctx, `/* pgmedic:action-progress */
SELECT coalesce(p.phase, ''), coalesce(p.index_relid, 0), coalesce(p.lockers_done, 0), coalesce(p.lockers_total, 0),
       coalesce(p.blocks_done, 0), coalesce(p.blocks_total, 0), coalesce(p.tuples_done, 0), coalesce(p.tuples_total, 0),
       w.pid, coalesce(w.application_name, ''), coalesce(w.state, ''),
       coalesce(extract(epoch FROM clock_timestamp() - w.xact_start)::int, -1)
FROM pg_catalog.pg_stat_activity d
LEFT JOIN pg_catalog.pg_stat_progress_create_index p ON p.pid = d.pid
LEFT JOIN pg_catalog.pg_stat_activity w ON w.pid = coalesce(nullif(p.current_locker_pid, 0),
     CASE WHEN d.wait_event_type = 'Lock' THEN (pg_catalog.pg_blocking_pids(d.pid))[1] END)
WHERE d.pid = $1`, int32(pid)).Scan(&p.phase, &p.ccnew, &p.lockersDone, &p.lockersTotal,
		&p.blocksDone, &p.blocksTotal, &p.tuplesDone, &p.total, &wpid, &app, &state, &secs)
	if err == nil && wpid != nil {
		p.waitsFor = fmt.Sprintf("pid %d (%s, %s", *wpid, orDash(app), orDash(state))
		if secs >= 0 {
			p.waitsFor += ", transaction open " + human.Duration(time.Duration(secs)*time.Second)
		}
		p.waitsFor += ")"
	}
	return err
}

func (p *buildProgress) describe(ix *IndexTarget) string {
	s := "REINDEX " + ix.display()
	if p.phase != "" {
		s += ": " + p.phase
	}
	if p.waitsFor != "" {
		s += ", waiting for " + p.waitsFor + "; it goes on when that transaction ends (K ends it)"
		if p.lockersTotal > 0 {
			s += fmt.Sprintf(", %d of %d such transactions done", p.lockersDone, p.lockersTotal)
		}
	}
	return s
}

func (p *buildProgress) counters() string {
	switch {
	case p.blocksTotal > 0:
		return fmt.Sprintf(" (%d%% of the table's blocks)", 100*p.blocksDone/p.blocksTotal)
	case p.total > 0:
		return fmt.Sprintf(" (%d%% of the tuples)", 100*p.tuplesDone/p.total)
	}
	return ""
}
