package inspect

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockGraphOnePassAt is the number of lock waiters from which the graph
// is worked out from one pass over pg_locks rather than by calling
// pg_blocking_pids() for each waiter. Each call walks its waiter's queue
// with every lock-manager partition lock held, so their total grows with
// the square of a queue; the pass costs about the same however the waiters
// queue, but grows with every lock in the cluster. The README's
// performance section has the measurements.
const LockGraphOnePassAt = 500

// lockGraphSQL reads the wait-for graph of heavyweight locks and returns
// the waiters whose entries differ from those the client holds ($1 pids,
// $2 each entry's sig): a row per new or changed waiter, and a row with
// a NULL sig for a waiter the client knew that no longer waits. $3 says
// whether our role may miss waits: without pg_read_all_stats, other
// roles' sessions show no wait event, though pg_locks shows their locks.
// $4 picks the one-pass graph (PostgreSQL 14+); the client picks it from
// the number of waiters the previous refresh saw. A row is
//
//	pid, sig, blockers, total, holders, locktype, mode, relation, waitstart, gid
//
// blockers are the first MaxBlockersPerWaiter sessions in its way, in
// pg_blocking_pids() order: the holders of a conflicting lock on the same
// object first, then the waiters queued ahead of it for a conflicting
// mode, from the head of the queue. total is how many there are in all,
// holders how many of blockers hold the lock (the rest only queue ahead:
// a "soft" block), and gid names the prepared transaction behind pid 0.
// sig is a 64-bit hash of the rest of the row: comparing it, rather than
// the entry itself, spares building and sending back every unchanged
// entry; two different entries of one waiter share a sig once in 2^64.
//
// n asks whether anybody waits for a lock, in the copy of the backend
// table that the refresh's transaction took (the tick statement took
// it), stopping at the first waiter; pg_locks is read only when somebody
// does, or when our role cannot see whether anybody does. Then:
//
//   - few: pg_blocking_pids() for each waiter, from pg_locks' ungranted
//     rows, which also say what each waits for. A blocker queued for the
//     same object as its waiter (its tag, below) only queues ahead.
//   - many: one pass over pg_locks.
//     l: every lock, with a tag naming its object (two rows with the same
//     tag are the same lockable object; "C": an identity, not a word to
//     sort in a language's order); predicate locks (SIReadLock) never
//     block anyone. m: the lock manager's conflict table, a bit per mode
//     and the bits of the modes it conflicts with. w: the waiters, in
//     queue order by waitstart, each with how many waiters are ahead of
//     it for a mode its own conflicts with, from a running count per mode
//     (aheadSum). pg_locks does not show the queue itself: a session that
//     already holds a lock on the object can be placed ahead of earlier
//     waiters, and the deadlock detector can reorder a queue; both are
//     rare, short-lived, and change only the order of soft blockers. h:
//     the holders of objects someone waits for, one row per holder (its
//     modes as a bit mask), as pg_blocking_pids() counts them; a prepared
//     transaction holds its locks with no pid, and is pid 0. k: for each
//     object and wanted mode, the holders in the way and the head of the
//     queue of conflicting modes: a waiter's queue ahead is a prefix of
//     that queue.
//
// px finds the prepared transaction that holds a lock, only when one
// blocks somebody; rel names the few relations waited for, each once.
// Before PostgreSQL 14 pg_locks has no waitstart, so there is no queue
// order to work from, and every graph is few.
func lockGraphSQL(caps Capabilities) string {
	sig := "pg_catalog.hash_record_extended(ROW(%s), 0)"
	if !caps.HashRecord {
		sig = "pg_catalog.hashtextextended(ROW(%s)::text, 0)"
	}
	sig = fmt.Sprintf(sig, "b.blockers, b.total, b.hard, b.locktype, b.mode, rel.name, b.waitstart, b.gid")
	waitstart, many, manyBlocked := "NULL::timestamptz", "", ""
	if caps.WaitStart {
		waitstart, many = "l.waitstart", lockGraphMany()
		manyBlocked = `
  UNION ALL
  SELECT pid, locktype, mode, database, relation, waitstart, blockers, total, hard, gid FROM many`
	}
	return fmt.Sprintf(`/* pgmedic:lock-graph */
WITH n AS MATERIALIZED (
  SELECT $3 OR EXISTS (SELECT FROM pg_catalog.pg_stat_get_backend_idset() b(id)
                       WHERE pg_catalog.pg_stat_get_backend_wait_event_type(b.id) = 'Lock') AS read
), px AS MATERIALIZED (
  -- A prepared transaction's locks keep its old virtualtransaction; its
  -- own transactionid lock leads to the gid.
  SELECT %[1]s AS tag, p.gid
  FROM pg_catalog.pg_locks h
  JOIN pg_catalog.pg_locks x ON x.pid IS NULL AND x.granted AND x.locktype = 'transactionid'
   AND x.virtualtransaction = h.virtualtransaction
  JOIN pg_catalog.pg_prepared_xacts p ON p.transaction = x.transactionid
  WHERE h.pid IS NULL AND h.granted
), few AS MATERIALIZED (
  SELECT l.pid, %[2]s AS tag, l.locktype, l.mode, l.database, l.relation, %[3]s AS waitstart,
         pg_catalog.pg_blocking_pids(l.pid) AS b
  FROM pg_catalog.pg_locks l
  WHERE NOT l.granted AND l.pid IS NOT NULL AND NOT $4 AND (SELECT n.read FROM n)
), tags AS MATERIALIZED (
  SELECT pg_catalog.jsonb_object_agg(f.pid, f.tag) AS m FROM few f
)%[4]s, blocked AS (
  SELECT f.pid, f.locktype, f.mode, f.database, f.relation, f.waitstart,
         f.b[1:%[5]d] AS blockers, cardinality(f.b) AS total,
         (SELECT count(*) FROM unnest(f.b[1:%[5]d]) x(pid)
          WHERE ((SELECT tags.m FROM tags) ->> x.pid::text) IS DISTINCT FROM f.tag)::int AS hard,
         CASE WHEN 0 = ANY (f.b) THEN (SELECT px.gid FROM px WHERE px.tag = f.tag LIMIT 1) END AS gid
  FROM few f%[6]s
), rel AS MATERIALIZED (
  -- regclass resolves only the connected database's OIDs (and shared
  -- catalogs').
  SELECT r.database, r.relation,
         CASE WHEN r.database = 0 OR d.datname = pg_catalog.current_database() THEN r.relation::regclass::text
              ELSE coalesce(d.datname, r.database::text) || ':' || r.relation END AS name
  FROM (SELECT DISTINCT b.database, b.relation FROM blocked b WHERE b.relation IS NOT NULL) r
  LEFT JOIN pg_catalog.pg_database d ON d.oid = r.database
), e AS (
  SELECT b.pid, b.blockers, b.total, b.hard, b.locktype, b.mode, rel.name, b.waitstart, b.gid, %[7]s AS sig
  FROM blocked b
  LEFT JOIN rel ON rel.database = b.database AND rel.relation = b.relation
)
SELECT coalesce(e.pid, known.pid), e.sig, e.blockers, e.total, e.hard, e.locktype, e.mode, e.name, e.waitstart, e.gid
FROM e FULL JOIN unnest($1::int[], $2::int8[]) AS known(pid, sig) ON known.pid = e.pid
WHERE e.sig IS DISTINCT FROM known.sig`,
		lockTag("h"), lockTag("l"), waitstart, many, MaxBlockersPerWaiter, manyBlocked, sig)
}

// lockTag names the object a pg_locks row locks.
func lockTag(alias string) string {
	return fmt.Sprintf(`pg_catalog.concat_ws('/', %[1]s.locktype, %[1]s.database, %[1]s.relation, %[1]s.page, %[1]s.tuple,
                              %[1]s.virtualxid, %[1]s.transactionid, %[1]s.classid, %[1]s.objid, %[1]s.objsubid) COLLATE "C"`, alias)
}

// lockGraphMany is the one-pass graph (PostgreSQL 14+).
func lockGraphMany() string {
	return fmt.Sprintf(`, l AS MATERIALIZED (
  SELECT l.pid, l.mode, l.granted, l.waitstart, l.locktype, l.database, l.relation, l.virtualtransaction,
         %[1]s AS tag
  FROM pg_catalog.pg_locks l
  WHERE l.mode <> 'SIReadLock' AND $4 AND (SELECT n.read FROM n)
), m(mode, bit, conflicts) AS (VALUES
  ('AccessShareLock', 1, 128), ('RowShareLock', 2, 192), ('RowExclusiveLock', 4, 240),
  ('ShareUpdateExclusiveLock', 8, 248), ('ShareLock', 16, 236), ('ShareRowExclusiveLock', 32, 252),
  ('ExclusiveLock', 64, 254), ('AccessExclusiveLock', 128, 255)
), w AS MATERIALIZED (
  SELECT l.pid, l.tag, l.mode, m.bit, m.conflicts, l.waitstart, l.locktype, l.database, l.relation,
         row_number() OVER q AS pos, (%[4]s)::int AS ahead
  FROM l JOIN m USING (mode)
  WHERE NOT l.granted AND l.pid IS NOT NULL
  WINDOW q AS (PARTITION BY l.tag ORDER BY l.waitstart NULLS LAST, l.pid),
         e AS (q ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), h AS MATERIALIZED (
  SELECT l.tag, coalesce(l.pid, 0) AS pid, bit_or(m.bit) AS held
  FROM l JOIN m USING (mode)
  WHERE l.granted AND l.tag IN (SELECT w.tag FROM w)
  GROUP BY l.tag, l.virtualtransaction, l.pid
), k AS MATERIALIZED (
  SELECT t.tag, t.conflicts, coalesce(hh.pids, '{}') AS hp, coalesce(q.pids, '{}') AS head,
         CASE WHEN 0 = ANY (hh.pids) THEN (SELECT px.gid FROM px WHERE px.tag = t.tag LIMIT 1) END AS gid
  FROM (SELECT DISTINCT w.tag, w.conflicts FROM w) t
  CROSS JOIN LATERAL (SELECT array_agg(h.pid ORDER BY h.pid) AS pids FROM h
                      WHERE h.tag = t.tag AND (h.held & t.conflicts) <> 0) hh
  CROSS JOIN LATERAL (SELECT array_agg(x.pid) AS pids
                      FROM (SELECT w.pid FROM w WHERE w.tag = t.tag AND (w.bit & t.conflicts) <> 0
                            ORDER BY w.pos LIMIT %[3]d) x) q
), many AS (
  SELECT w.pid, w.locktype, w.mode, w.database, w.relation, w.waitstart, k.gid,
         (pg_catalog.array_remove(k.hp[1:%[2]d], w.pid) || k.head[1:w.ahead])[1:%[3]d] AS blockers,
         cardinality(k.hp) - a.self + w.ahead AS total,
         least(cardinality(k.hp) - a.self, %[3]d) AS hard
  FROM w
  JOIN k ON k.tag = w.tag AND k.conflicts = w.conflicts
  CROSS JOIN LATERAL (SELECT (w.pid = ANY (k.hp))::int AS self) a
)`, lockTag("l"), MaxBlockersPerWaiter+1, MaxBlockersPerWaiter, aheadSum())
}

// aheadSum counts, for a waiter in w, the waiters before it in its queue
// for a mode its own conflicts with: the sum of the running counts (over
// window e) of each such mode.
func aheadSum() string {
	var terms []string
	for bit := 1; bit <= 128; bit <<= 1 {
		terms = append(terms, fmt.Sprintf(
			"CASE WHEN m.conflicts & %[1]d <> 0 THEN count(*) FILTER (WHERE m.bit = %[1]d) OVER e ELSE 0 END", bit))
	}
	return strings.Join(terms, "\n                                   + ")
}

// lockEntry is one waiter's entry in the graph.
type lockEntry struct {
	sig         int64
	blockedBy   []int
	total, hard int
	wait        *LockWait
	gid         string
}

// scanLockEntry reads a row of lockGraphSQL: the waiter's pid and its
// entry, or ok false when it no longer waits.
func scanLockEntry(rows pgx.Rows) (pid int, e lockEntry, ok bool, err error) {
	var (
		sig            *int64
		total, hard    *int
		locktype, mode *string
		relation, gid  *string
		since          *time.Time
	)
	if err := rows.Scan(&pid, &sig, &e.blockedBy, &total, &hard, &locktype, &mode, &relation, &since, &gid); err != nil {
		return 0, e, false, err
	}
	if sig == nil {
		return pid, lockEntry{}, false, nil
	}
	e.sig, e.total, e.hard, e.gid = *sig, deref(total), min(deref(hard), len(e.blockedBy)), deref(gid)
	e.wait = &LockWait{LockType: deref(locktype), Mode: deref(mode), Relation: deref(relation), Since: since}
	return pid, e, true, nil
}

// setWait gives b the wait of a graph entry, or none (the zero entry).
func (b *Backend) setWait(e lockEntry) {
	b.graphSig, b.BlockedBy, b.BlockersTotal, b.Waiting, b.PreparedGID = e.sig, e.blockedBy, e.total, e.wait, e.gid
	b.QueuedBehind = nil
	if e.hard < len(e.blockedBy) {
		b.QueuedBehind = e.blockedBy[e.hard:]
	}
}

// takeWait gives b the wait another row of the same pid held.
func (b *Backend) takeWait(from *Backend) {
	b.graphSig, b.BlockedBy, b.BlockersTotal, b.QueuedBehind, b.Waiting, b.PreparedGID =
		from.graphSig, from.BlockedBy, from.BlockersTotal, from.QueuedBehind, from.Waiting, from.PreparedGID
}
