package inspect

import (
	"encoding/json"
	"fmt"
	"time"
)

// LockGraphOnePassAt is the number of lock waiters from which the graph
// is worked out from one pass over pg_locks rather than by calling
// pg_blocking_pids() for each waiter. Each call walks its waiter's queue
// with every lock-manager partition lock held, so their total grows with
// the square of a queue; the pass costs about the same however the waiters
// queue, but grows with every lock in the cluster. On the load harness
// (PostgreSQL 15): at 60 waiters the calls took 0.1 ms and the pass 2.1 ms,
// at 1,400 waiters 50 ms and 14 ms.
const LockGraphOnePassAt = 500

// lockGraphSQL reads the wait-for graph of heavyweight locks and returns
// the entries that differ from those the client holds ($1 pids, $2 their
// entries): a row per new or changed waiter, and a NULL entry for a waiter
// the client knew that no longer waits. $3 says whether our role may miss
// waits: without pg_read_all_stats, other roles' sessions show no wait
// event, though pg_locks shows their locks. Each entry is the JSON text
//
//	[blockers, total, holders, locktype, mode, relation, waitstart, gid]
//
// blockers are the first MaxBlockersPerWaiter sessions in its way, in
// pg_blocking_pids() order: the holders of a conflicting lock on the same
// object first, then the waiters queued ahead of it for a conflicting
// mode, from the head of the queue. total is how many there are in all,
// holders how many of blockers hold the lock (the rest only queue ahead:
// a "soft" block), and gid names the prepared transaction behind pid 0.
//
// It counts the waiters (n) in the copy of the backend table that the
// refresh's transaction took (the tick statement took it), and reads
// pg_locks only when somebody waits, or our role cannot see whether anybody
// does. Then, by their number:
//
//   - few: pg_blocking_pids() for each waiter, from pg_locks' ungranted
//     rows, which also say what each waits for. A blocker queued for the
//     same object as its waiter (its tag, below) only queues ahead.
//   - many (PostgreSQL 14+): one pass over pg_locks.
//     l: every lock, with a tag naming its object (two rows with the same
//     tag are the same lockable object); predicate locks (SIReadLock)
//     never block anyone. m: the lock manager's conflict table, a bit per
//     mode and the bits of the modes it conflicts with. w: the waiters,
//     numbered in queue order by waitstart. pg_locks does not show the
//     queue itself: a session that already holds a lock on the object can
//     be placed ahead of earlier waiters, and the deadlock detector can
//     reorder a queue; both are rare, short-lived, and change only the
//     order of soft blockers. h: the holders of objects someone waits
//     for, one row per holder (its modes as a bit mask), as
//     pg_blocking_pids() counts them; a prepared transaction holds its
//     locks with no pid, and is pid 0. k: for each object and wanted mode,
//     the holders in the way and the waiters of a conflicting mode, in
//     queue order with their positions. A waiter's queue ahead is then a
//     prefix of that list, and its length one binary search (width_bucket)
//     over the positions: no waiter is compared with every other one.
//
// px finds the prepared transaction that holds a lock, only when one
// blocks somebody; rel names the few relations waited for, each once.
// Before PostgreSQL 14 pg_locks has no waitstart, so there is no queue
// order to work from: every graph is few.
func lockGraphSQL(caps Capabilities, onePassAt int) string {
	few := fmt.Sprintf("n.waiting > 0 AND n.waiting < %d AND NOT $3", onePassAt)
	waitstart, many := "l.waitstart", lockGraphMany(onePassAt)
	if !caps.WaitStart {
		few, waitstart, many = "n.waiting > 0 OR $3", "NULL::timestamptz", ""
	}
	return fmt.Sprintf(`/* pgmedic:lock-graph */
WITH n AS MATERIALIZED (
  SELECT count(*) FILTER (WHERE pg_catalog.pg_stat_get_backend_wait_event_type(b.id) = 'Lock') AS waiting
  FROM pg_catalog.pg_stat_get_backend_idset() b(id)
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
  WHERE NOT l.granted AND l.pid IS NOT NULL AND (SELECT %[4]s FROM n)
), tags AS MATERIALIZED (
  SELECT pg_catalog.jsonb_object_agg(f.pid, f.tag) AS m FROM few f
)%[5]s, blocked AS (
  SELECT f.pid, f.locktype, f.mode, f.database, f.relation, f.waitstart,
         f.b[1:%[6]d] AS blockers, cardinality(f.b) AS total,
         (SELECT count(*) FROM unnest(f.b[1:%[6]d]) x(pid)
          WHERE ((SELECT tags.m FROM tags) ->> x.pid::text) IS DISTINCT FROM f.tag)::int AS hard,
         CASE WHEN 0 = ANY (f.b) THEN (SELECT px.gid FROM px WHERE px.tag = f.tag LIMIT 1) END AS gid
  FROM few f%[7]s
), rel AS MATERIALIZED (
  -- regclass resolves only the connected database's OIDs (and shared
  -- catalogs').
  SELECT r.database, r.relation,
         CASE WHEN r.database = 0 OR d.datname = pg_catalog.current_database() THEN r.relation::regclass::text
              ELSE coalesce(d.datname, r.database::text) || ':' || r.relation END AS name
  FROM (SELECT DISTINCT b.database, b.relation FROM blocked b WHERE b.relation IS NOT NULL) r
  LEFT JOIN pg_catalog.pg_database d ON d.oid = r.database
), e AS (
  SELECT b.pid, pg_catalog.json_build_array(b.blockers, b.total, b.hard, b.locktype, b.mode, rel.name,
                                            b.waitstart, b.gid)::text AS entry
  FROM blocked b
  LEFT JOIN rel ON rel.database = b.database AND rel.relation = b.relation
)
SELECT coalesce(e.pid, known.pid), e.entry
FROM e FULL JOIN unnest($1::int[], $2::text[]) AS known(pid, entry) ON known.pid = e.pid
WHERE e.entry IS DISTINCT FROM known.entry`,
		lockTag("h"), lockTag("l"), waitstart, few, many, MaxBlockersPerWaiter, manyBlocked(caps))
}

// lockTag names the object a pg_locks row locks.
func lockTag(alias string) string {
	return fmt.Sprintf(`pg_catalog.concat_ws('/', %[1]s.locktype, %[1]s.database, %[1]s.relation, %[1]s.page, %[1]s.tuple,
                              %[1]s.virtualxid, %[1]s.transactionid, %[1]s.classid, %[1]s.objid, %[1]s.objsubid)`, alias)
}

// manyBlocked adds the one-pass graph's waiters to blocked.
func manyBlocked(caps Capabilities) string {
	if !caps.WaitStart {
		return ""
	}
	return `
  UNION ALL
  SELECT pid, locktype, mode, database, relation, waitstart, blockers, total, hard, gid FROM many`
}

// lockGraphMany is the one-pass graph, for onePassAt waiters or more
// (PostgreSQL 14+).
func lockGraphMany(onePassAt int) string {
	return fmt.Sprintf(`, l AS MATERIALIZED (
  SELECT l.pid, l.mode, l.granted, l.waitstart, l.locktype, l.database, l.relation, l.virtualtransaction,
         %[1]s AS tag
  FROM pg_catalog.pg_locks l
  WHERE l.mode <> 'SIReadLock' AND (SELECT n.waiting >= %[2]d OR $3 FROM n)
), m(mode, bit, conflicts) AS (VALUES
  ('AccessShareLock', 1, 128), ('RowShareLock', 2, 192), ('RowExclusiveLock', 4, 240),
  ('ShareUpdateExclusiveLock', 8, 248), ('ShareLock', 16, 236), ('ShareRowExclusiveLock', 32, 252),
  ('ExclusiveLock', 64, 254), ('AccessExclusiveLock', 128, 255)
), w AS MATERIALIZED (
  SELECT l.pid, l.tag, l.mode, m.bit, m.conflicts, l.waitstart, l.locktype, l.database, l.relation,
         row_number() OVER (PARTITION BY l.tag ORDER BY l.waitstart NULLS LAST, l.pid)::int AS pos
  FROM l JOIN m USING (mode)
  WHERE NOT l.granted AND l.pid IS NOT NULL
), h AS MATERIALIZED (
  SELECT l.tag, coalesce(l.pid, 0) AS pid, bit_or(m.bit) AS held
  FROM l JOIN m USING (mode)
  WHERE l.granted AND l.tag IN (SELECT w.tag FROM w)
  GROUP BY l.tag, l.virtualtransaction, l.pid
), k AS MATERIALIZED (
  SELECT t.tag, t.conflicts, coalesce(hh.pids, '{}') AS hp, coalesce(q.pids, '{}') AS qpids,
         coalesce(q.pos, '{}') AS qpos,
         CASE WHEN 0 = ANY (hh.pids) THEN (SELECT px.gid FROM px WHERE px.tag = t.tag LIMIT 1) END AS gid
  FROM (SELECT DISTINCT w.tag, w.conflicts FROM w) t
  CROSS JOIN LATERAL (SELECT array_agg(h.pid ORDER BY h.pid) AS pids FROM h
                      WHERE h.tag = t.tag AND (h.held & t.conflicts) <> 0) hh
  CROSS JOIN LATERAL (SELECT array_agg(w.pid ORDER BY w.pos) AS pids, array_agg(w.pos ORDER BY w.pos) AS pos
                      FROM w WHERE w.tag = t.tag AND (w.bit & t.conflicts) <> 0) q
), many AS MATERIALIZED (
  -- Materialized: the queue lists of k are not carried any further.
  SELECT w.pid, w.locktype, w.mode, w.database, w.relation, w.waitstart, k.gid,
         (pg_catalog.array_remove(k.hp[1:%[3]d], w.pid) || k.qpids[1:least(a.ahead, %[4]d)])[1:%[4]d] AS blockers,
         cardinality(k.hp) - a.self + a.ahead AS total,
         least(cardinality(k.hp) - a.self, %[4]d) AS hard
  FROM w
  JOIN k ON k.tag = w.tag AND k.conflicts = w.conflicts
  CROSS JOIN LATERAL (SELECT pg_catalog.width_bucket(w.pos - 1, k.qpos) AS ahead,
                             (w.pid = ANY (k.hp))::int AS self) a
)`, lockTag("l"), onePassAt, MaxBlockersPerWaiter+1, MaxBlockersPerWaiter)
}

// lockEntry is one waiter's entry in the graph.
type lockEntry struct {
	blockedBy   []int
	total, hard int
	wait        *LockWait
	gid         string
}

// parseLockEntry reads a waiter's entry, as lockGraphSQL builds it.
func parseLockEntry(raw []byte) (lockEntry, error) {
	var f struct {
		blockers    []int
		total, hard int
		locktype    string
		mode        string
		relation    *string
		since       *time.Time
		gid         *string
	}
	fields := []any{&f.blockers, &f.total, &f.hard, &f.locktype, &f.mode, &f.relation, &f.since, &f.gid}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return lockEntry{}, fmt.Errorf("reading a waiter's lock %q: %w", raw, err)
	}
	if len(fields) != 8 {
		return lockEntry{}, fmt.Errorf("reading a waiter's lock %q: %d fields, want 8", raw, len(fields))
	}
	e := lockEntry{blockedBy: f.blockers, total: f.total, hard: min(f.hard, len(f.blockers)), gid: deref(f.gid),
		wait: &LockWait{LockType: f.locktype, Mode: f.mode, Relation: deref(f.relation), Since: f.since}}
	return e, nil
}

// setWait gives b the wait of a graph entry (raw, as the server sent it),
// or none when raw is empty.
func (b *Backend) setWait(raw string, e lockEntry) {
	b.entry, b.BlockedBy, b.BlockersTotal, b.Waiting, b.PreparedGID = raw, e.blockedBy, e.total, e.wait, e.gid
	b.QueuedBehind = nil
	if e.hard < len(e.blockedBy) {
		b.QueuedBehind = e.blockedBy[e.hard:]
	}
}

// takeWait gives b the wait another row of the same pid held.
func (b *Backend) takeWait(from *Backend) {
	b.entry, b.BlockedBy, b.BlockersTotal, b.QueuedBehind, b.Waiting, b.PreparedGID =
		from.entry, from.BlockedBy, from.BlockersTotal, from.QueuedBehind, from.Waiting, from.PreparedGID
}
