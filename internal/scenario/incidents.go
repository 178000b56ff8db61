package scenario

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Table names a table; any characters are allowed in either part.
type Table struct{ Schema, Name string }

// Ident is the table's quoted, schema-qualified name.
func (t Table) Ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// Index returns the quoted name of an index in the table's schema.
func (t Table) Index(name string) string { return pgx.Identifier{t.Schema, name}.Sanitize() }

// CreateTable creates the table (and its schema) with columns id (primary
// key), v (int) and code (text, distinct per row), filled with rows rows.
func (st *Stage) CreateTable(ctx context.Context, t Table, rows int) error {
	schema := pgx.Identifier{t.Schema}.Sanitize()
	return st.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, code text);
INSERT INTO %[2]s SELECT g, g %% 100, 'c' || g FROM generate_series(1, %[3]d) g;
ANALYZE %[2]s`, schema, t.Ident(), rows))
}

// PileUp is a lock pile-up: a root holding a lock idle in transaction, a
// migration's DDL waiting for ACCESS EXCLUSIVE behind it, and readers.
type PileUp struct {
	Root  *Session
	DDL   *Session
	Early []*Session // readers that arrived before the DDL
	Late  []*Session // readers that arrived after it
}

// ExclusiveHolder stages a root that holds ACCESS EXCLUSIVE on t, idle in
// transaction, with early readers queued behind it, then an ALTER TABLE,
// then late readers queued behind both: held by the root, and queued
// behind the ALTER.
func (st *Stage) ExclusiveHolder(ctx context.Context, t Table, early, late int) (*PileUp, error) {
	p := &PileUp{}
	var err error
	if p.Root, err = st.Open(ctx, "migrate"); err != nil {
		return nil, err
	}
	if err := p.Root.Exec(ctx, "BEGIN; LOCK TABLE "+t.Ident()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return nil, err
	}
	return p, st.queueBehind(ctx, t, p, early, late)
}

// MigrationBehindIdleTx stages the incident as it usually happens: an
// application transaction updated a row and went idle (ROW EXCLUSIVE, no
// conflict with readers), a migration's ALTER TABLE waits for it, and
// every reader queues behind the ALTER, blocked by it alone.
func (st *Stage) MigrationBehindIdleTx(ctx context.Context, t Table, readers int) (*PileUp, error) {
	p := &PileUp{}
	var err error
	if p.Root, err = st.Open(ctx, "api"); err != nil {
		return nil, err
	}
	if err := p.Root.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v + 1 WHERE id = 1"); err != nil {
		return nil, err
	}
	return p, st.queueBehind(ctx, t, p, 0, readers)
}

func (st *Stage) queueBehind(ctx context.Context, t Table, p *PileUp, early, late int) error {
	readers := func(n int, name string) ([]*Session, error) {
		var out []*Session
		for i := range n {
			s, err := st.Open(ctx, name+"-"+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			s.Go("SELECT count(*) FROM " + t.Ident())
			if err := st.AwaitLockWait(ctx, s.PID); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	var err error
	if p.Early, err = readers(early, "api-early"); err != nil {
		return err
	}
	if p.DDL, err = st.Open(ctx, "migrate-ddl"); err != nil {
		return err
	}
	p.DDL.Go("ALTER TABLE " + t.Ident() + " ADD COLUMN added_by_migration int")
	if err := st.AwaitLockWait(ctx, p.DDL.PID); err != nil {
		return err
	}
	p.Late, err = readers(late, "api")
	return err
}

// RowChain is a row-lock chain: Holder updated a row and went idle, First
// waits for Holder's transaction, and Tail waits for First's tuple lock.
type RowChain struct {
	Holder *Session
	First  *Session
	Tail   []*Session
}

// RowLockChain stages a two-deep row-lock chain on row id = 1 of t.
func (st *Stage) RowLockChain(ctx context.Context, t Table, tail int) (*RowChain, error) {
	c := &RowChain{}
	var err error
	if c.Holder, err = st.Open(ctx, "row-holder"); err != nil {
		return nil, err
	}
	if err := c.Holder.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v + 1 WHERE id = 1"); err != nil {
		return nil, err
	}
	update := "UPDATE " + t.Ident() + " SET v = v + 1 WHERE id = 1"
	if c.First, err = st.Open(ctx, "row-waiter-0"); err != nil {
		return nil, err
	}
	c.First.Go(update)
	if err := st.AwaitLockWait(ctx, c.First.PID); err != nil {
		return nil, err
	}
	for i := range tail {
		s, err := st.Open(ctx, "row-waiter-"+strconv.Itoa(i+1))
		if err != nil {
			return nil, err
		}
		s.Go(update)
		if err := st.AwaitLockWait(ctx, s.PID); err != nil {
			return nil, err
		}
		c.Tail = append(c.Tail, s)
	}
	return c, nil
}

// AdvisoryLock stages a session holding a session-level advisory lock
// while idle (not even in a transaction) and one waiting for it.
func (st *Stage) AdvisoryLock(ctx context.Context, key int64) (holder, waiter *Session, err error) {
	if holder, err = st.Open(ctx, "advisory-holder"); err != nil {
		return nil, nil, err
	}
	if err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, nil, err
	}
	if waiter, err = st.Open(ctx, "advisory-waiter"); err != nil {
		return nil, nil, err
	}
	waiter.Go("SELECT pg_advisory_lock(" + strconv.FormatInt(key, 10) + ")")
	return holder, waiter, st.AwaitLockWait(ctx, waiter.PID)
}

// PreparedHolder prepares a transaction that locked row id = 2 of t (it
// outlives its session) and starts a session waiting for that row. The
// server needs max_prepared_transactions > 0. Close rolls it back.
func (st *Stage) PreparedHolder(ctx context.Context, t Table, gid string) (waiter *Session, err error) {
	s, err := st.Open(ctx, "two-phase")
	if err != nil {
		return nil, err
	}
	if err := s.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v + 1 WHERE id = 2; PREPARE TRANSACTION '"+escapeLiteral(gid)+"'"); err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.prepared = append(st.prepared, gid)
	st.mu.Unlock()
	if waiter, err = st.Open(ctx, "prepared-waiter"); err != nil {
		return nil, err
	}
	waiter.Go("UPDATE " + t.Ident() + " SET v = v + 1 WHERE id = 2")
	return waiter, st.AwaitLockWait(ctx, waiter.PID)
}

// FailedUniqueIndex makes two rows of t share a code, then runs
// CREATE UNIQUE INDEX CONCURRENTLY on code: it fails on the duplicates and
// leaves the invalid index behind, as a killed migration does.
func (st *Stage) FailedUniqueIndex(ctx context.Context, t Table, index string) error {
	if err := st.Exec(ctx, "UPDATE "+t.Ident()+" SET code = 'duplicate' WHERE id IN (1, 2)"); err != nil {
		return err
	}
	return st.expectFailure(ctx, "23505", "",
		"CREATE UNIQUE INDEX CONCURRENTLY "+pgx.Identifier{index}.Sanitize()+" ON "+t.Ident()+" (code)")
}

// ReindexLeftoverNew runs REINDEX INDEX CONCURRENTLY on an invalid unique
// index whose table still has duplicates (see FailedUniqueIndex): it fails
// again and leaves <index>_ccnew beside the original.
func (st *Stage) ReindexLeftoverNew(ctx context.Context, t Table, index string) error {
	return st.expectFailure(ctx, "23505", "", "REINDEX INDEX CONCURRENTLY "+t.Index(index))
}

// ReindexLeftoverOld creates an index on v and runs REINDEX INDEX
// CONCURRENTLY on it while a reader holds the table open (idle in a READ
// COMMITTED transaction: a lock, no snapshot). The build and swap go
// through, then "waiting for readers before marking dead" runs into
// lock_timeout: <index>_ccold is left, the rebuild itself succeeded.
func (st *Stage) ReindexLeftoverOld(ctx context.Context, t Table, index string) error {
	if err := st.Exec(ctx, "CREATE INDEX "+pgx.Identifier{index}.Sanitize()+" ON "+t.Ident()+" (v)"); err != nil {
		return err
	}
	reader, err := st.Open(ctx, "reader-holding-index")
	if err != nil {
		return err
	}
	if err := reader.Exec(ctx, "BEGIN; SELECT count(*) FROM "+t.Ident()+" WHERE v = 1"); err != nil {
		return err
	}
	err = st.expectFailure(ctx, "55P03", "SET lock_timeout = '300ms'", "REINDEX INDEX CONCURRENTLY "+t.Index(index))
	if rerr := reader.Exec(ctx, "ROLLBACK"); err == nil {
		err = rerr
	}
	return err
}

// expectFailure runs setup, then sql on its own (CONCURRENTLY statements
// refuse the implicit transaction of a multi-statement string), on a fresh
// session, and requires sql to fail with the given SQLSTATE.
func (st *Stage) expectFailure(ctx context.Context, sqlstate, setup, sql string) error {
	s, err := st.Open(ctx, "migration-failing")
	if err != nil {
		return err
	}
	if setup != "" {
		if err := s.Exec(ctx, setup); err != nil {
			return err
		}
	}
	_, err = s.conn.Exec(ctx, sql)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return fmt.Errorf("%s: expected SQLSTATE %s, but it succeeded", sql, sqlstate)
	case !errors.As(err, &pgErr) || pgErr.Code != sqlstate:
		return fmt.Errorf("%s: expected SQLSTATE %s: %w", sql, sqlstate, err)
	}
	return nil
}

// BuildWaitingForWriters starts CREATE INDEX CONCURRENTLY on t (v) while
// a writer sits idle in a transaction: the build stays in "waiting for
// writers before build", its index invalid, until the writer ends.
func (st *Stage) BuildWaitingForWriters(ctx context.Context, t Table, index string) (writer, builder *Session, err error) {
	if writer, err = st.Open(ctx, "writer-idle"); err != nil {
		return nil, nil, err
	}
	if err := writer.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v WHERE id = 3"); err != nil {
		return nil, nil, err
	}
	if builder, err = st.Open(ctx, "index-builder"); err != nil {
		return nil, nil, err
	}
	builder.Go("CREATE INDEX CONCURRENTLY " + pgx.Identifier{index}.Sanitize() + " ON " + t.Ident() + " (v)")
	return writer, builder, st.AwaitPhase(ctx, builder.PID, "waiting for writers before build")
}

// IdleInTransaction opens n sessions that began a transaction, ran a query
// and went idle: they hold slots, snapshots and (here) no locks.
func (st *Stage) IdleInTransaction(ctx context.Context, name string, n int) ([]*Session, error) {
	var out []*Session
	for i := range n {
		s, err := st.Open(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := s.Exec(ctx, "BEGIN; SELECT "+strconv.Itoa(i)); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Fill opens n idle sessions.
func (st *Stage) Fill(ctx context.Context, name string, n int) ([]*Session, error) {
	var out []*Session
	for range n {
		s, err := st.Open(ctx, name)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// HostileQuery is the text of a query that tries to take over the
// terminal that displays it: clear the screen, retitle the window, write
// the clipboard (OSC 52), reorder text with a bidi override.
const HostileQuery = "SELECT pg_sleep(3600) /* \x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07 \u202edesrever\u202c */"

// RunHostileQuery starts a session that locks t ACCESS EXCLUSIVE and runs
// HostileQuery in the same statement, and a reader that waits for it: the
// hostile session is a root blocker, so every view shows its query text.
func (st *Stage) RunHostileQuery(ctx context.Context, t Table) (hostile, reader *Session, err error) {
	if hostile, err = st.Open(ctx, "hostile"); err != nil {
		return nil, nil, err
	}
	hostile.Go("LOCK TABLE " + t.Ident() + " IN ACCESS EXCLUSIVE MODE; " + HostileQuery)
	if err := st.AwaitState(ctx, "active", hostile.PID); err != nil {
		return nil, nil, err
	}
	if reader, err = st.Open(ctx, "reader"); err != nil {
		return nil, nil, err
	}
	reader.Go("SELECT count(*) FROM " + t.Ident())
	return hostile, reader, st.AwaitLockWait(ctx, reader.PID)
}

// Deadlock stages two sessions each waiting for a row the other updated:
// a cycle that lives until deadlock_timeout runs out and the server aborts
// one of them (raise deadlock_timeout to keep it on screen).
func (st *Stage) Deadlock(ctx context.Context, t Table) (a, b *Session, err error) {
	if a, err = st.Open(ctx, "deadlock-a"); err != nil {
		return nil, nil, err
	}
	if b, err = st.Open(ctx, "deadlock-b"); err != nil {
		return nil, nil, err
	}
	if err := a.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v + 1 WHERE id = 1"); err != nil {
		return nil, nil, err
	}
	if err := b.Exec(ctx, "BEGIN; UPDATE "+t.Ident()+" SET v = v + 1 WHERE id = 2"); err != nil {
		return nil, nil, err
	}
	a.Go("UPDATE " + t.Ident() + " SET v = v + 1 WHERE id = 2")
	if err := st.AwaitLockWait(ctx, a.PID); err != nil {
		return nil, nil, err
	}
	b.Go("UPDATE " + t.Ident() + " SET v = v + 1 WHERE id = 1")
	return a, b, st.AwaitLockWait(ctx, b.PID)
}

// CreateSlowTable creates a table of rows rows, spread thin (fillfactor
// 10, so a scan's block counter advances often), and a key function
// <table>_slow_key that sleeps perRow per call: index builds on it move
// slowly and steadily enough to watch.
func (st *Stage) CreateSlowTable(ctx context.Context, t Table, rows int, perRow time.Duration) error {
	fn := pgx.Identifier{t.Schema, t.Name + "_slow_key"}.Sanitize()
	return st.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL) WITH (fillfactor = 10);
INSERT INTO %[2]s SELECT g, g FROM generate_series(1, %[3]d) g;
-- IMMUTABLE is a lie told on purpose: the index needs it, and it is what
-- makes the build slow.
CREATE FUNCTION %[4]s(v int) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT v FROM (SELECT pg_sleep(%[5]f)) s $$`,
		pgx.Identifier{t.Schema}.Sanitize(), t.Ident(), rows, fn, perRow.Seconds()))
}

// SlowBuild creates a slow table (CreateSlowTable) and starts CREATE INDEX
// CONCURRENTLY on its slow key: a build in progress. It returns once the
// build is scanning the table.
func (st *Stage) SlowBuild(ctx context.Context, t Table, index string, rows int, perRow time.Duration) (*Session, error) {
	if err := st.CreateSlowTable(ctx, t, rows, perRow); err != nil {
		return nil, err
	}
	builder, err := st.Open(ctx, "slow-migration")
	if err != nil {
		return nil, err
	}
	fn := pgx.Identifier{t.Schema, t.Name + "_slow_key"}.Sanitize()
	builder.Go("CREATE INDEX CONCURRENTLY " + pgx.Identifier{index}.Sanitize() + " ON " + t.Ident() + " (" + fn + "(v))")
	return builder, st.AwaitPhase(ctx, builder.PID, "building index: scanning table")
}

// KilledBuild runs CREATE INDEX CONCURRENTLY on the slow key of a slow
// table (CreateSlowTable) under a statement_timeout that kills it
// mid-build: the invalid index a cancelled migration leaves. No other
// build may run on t: concurrent builds on one table wait for each other.
func (st *Stage) KilledBuild(ctx context.Context, t Table, index string) error {
	fn := pgx.Identifier{t.Schema, t.Name + "_slow_key"}.Sanitize()
	return st.expectFailure(ctx, "57014", "SET statement_timeout = '300ms'",
		"CREATE INDEX CONCURRENTLY "+pgx.Identifier{index}.Sanitize()+" ON "+t.Ident()+" ("+fn+"(v))")
}

// InterruptedDrop creates index on t (columns: what follows ON t, e.g.
// "(code) WHERE v = 1"), valid, then runs DROP INDEX CONCURRENTLY on it
// while a reader holds the table open, under a short lock_timeout: the
// drop gives up after marking it invalid, and leaves it ready. A UNIQUE
// one (unique "UNIQUE ") is the trap of a killed migration: no query uses
// it, yet every write still maintains it and it still rejects duplicates.
func (st *Stage) InterruptedDrop(ctx context.Context, t Table, unique, index, columns string) error {
	if err := st.Exec(ctx, "CREATE "+unique+"INDEX "+pgx.Identifier{index}.Sanitize()+" ON "+t.Ident()+" "+columns); err != nil {
		return err
	}
	reader, err := st.Open(ctx, "reader-holding-table")
	if err != nil {
		return err
	}
	if err := reader.Exec(ctx, "BEGIN; SELECT count(*) FROM "+t.Ident()); err != nil {
		return err
	}
	err = st.expectFailure(ctx, "55P03", "SET lock_timeout = '300ms'", "DROP INDEX CONCURRENTLY "+t.Index(index))
	if rerr := reader.Exec(ctx, "ROLLBACK"); err == nil {
		err = rerr
	}
	return err
}
