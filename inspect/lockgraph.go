package inspect

import (
	"encoding/json"
	"fmt"
	"time"
)

// lockGraphSQL reads the wait-for graph of heavyweight locks in one pass
// over pg_locks, and returns the entries that differ from those the client
// holds ($1 pids, $2 their entries): a row per new or changed waiter, and
// a NULL entry for a waiter the client knew that no longer waits. Each
// entry is the JSON text
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
// pg_blocking_pids() answers the same question for one pid, taking every
// lock-manager partition lock on each call; with a queue of n waiters
// that is n calls, each walking the queue. Here pg_locks is read once and
// the graph is worked out from it:
//
//   - l: every lock, with a tag naming its object (two rows with the
//     same tag are the same lockable object). Predicate locks
//     (SIReadLock) never block anyone. pg_locks is not read at all unless
//     pg_stat_activity shows a lock wait (or rows our role may not see):
//     it runs after the activity statement, in the same transaction, so
//     that check reads the backend table the activity statement copied.
//   - m: the lock manager's conflict table, a bit per mode and the bits of
//     the modes it conflicts with.
//   - w: the waiters (ungranted, with a pid), numbered in queue order by
//     waitstart. pg_locks does not show the queue itself: a session that
//     already holds a lock on the object can be placed ahead of earlier
//     waiters, and the deadlock detector can reorder a queue; both are
//     rare, short-lived, and change only the order of soft blockers.
//   - h: the holders of objects someone waits for, one row per holder
//     (its modes as a bit mask), as pg_blocking_pids() counts them.
//     A prepared transaction holds its locks with no pid: it is pid 0.
//   - k: for each object and wanted mode, the holders in the way and the
//     waiters of a conflicting mode, in queue order with their positions.
//     A waiter's queue ahead is then a prefix of that list, and its
//     length one binary search (width_bucket) over the positions: no
//     waiter is compared with every other one.
//   - blocked: each waiter's entry, from k.
//   - rel: the names of the few relations waited for, each resolved once.
//
// Before PostgreSQL 14 pg_locks has no waitstart, so there is no queue
// order to work from: lockGraph13 calls pg_blocking_pids() for each
// waiter instead, behind the same entries.
func lockGraphSQL(caps Capabilities) string {
	graph, waitstart := lockGraph14, "l.waitstart"
	if !caps.WaitStart {
		graph, waitstart = lockGraph13, "NULL::timestamptz"
	}
	return `/* pgmedic:lock-graph */
WITH l AS MATERIALIZED (
  SELECT l.pid, l.mode, l.granted, ` + waitstart + ` AS waitstart, l.locktype, l.database, l.relation,
         l.transactionid, l.virtualtransaction,
         pg_catalog.concat_ws('/', l.locktype, l.database, l.relation, l.page, l.tuple, l.virtualxid,
                              l.transactionid, l.classid, l.objid, l.objsubid) AS tag
  FROM pg_catalog.pg_locks l
  WHERE l.mode <> 'SIReadLock'
    AND EXISTS (SELECT FROM pg_catalog.pg_stat_get_activity(NULL::int) a
                WHERE a.wait_event_type = 'Lock' OR a.query = '<insufficient privilege>')
), px AS MATERIALIZED (
  -- A prepared transaction's locks keep its old virtualtransaction; its
  -- own transactionid lock leads to the gid.
  SELECT x.virtualtransaction, p.gid
  FROM l x JOIN pg_catalog.pg_prepared_xacts p ON p.transaction = x.transactionid
  WHERE x.pid IS NULL AND x.granted AND x.locktype = 'transactionid'
)` + graph + `, rel AS MATERIALIZED (
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
WHERE e.entry IS DISTINCT FROM known.entry`
}

// lockGraph14 works out each waiter's blockers (blocked) from pg_locks.
var lockGraph14 = `, m(mode, bit, conflicts) AS (VALUES
  ('AccessShareLock', 1, 128), ('RowShareLock', 2, 192), ('RowExclusiveLock', 4, 240),
  ('ShareUpdateExclusiveLock', 8, 248), ('ShareLock', 16, 236), ('ShareRowExclusiveLock', 32, 252),
  ('ExclusiveLock', 64, 254), ('AccessExclusiveLock', 128, 255)
), w AS MATERIALIZED (
  SELECT l.pid, l.tag, l.mode, m.bit, m.conflicts, l.waitstart, l.locktype, l.database, l.relation,
         row_number() OVER (PARTITION BY l.tag ORDER BY l.waitstart NULLS LAST, l.pid)::int AS pos
  FROM l JOIN m USING (mode)
  WHERE NOT l.granted AND l.pid IS NOT NULL
), h AS MATERIALIZED (
  SELECT l.tag, coalesce(l.pid, 0) AS pid, l.virtualtransaction, bit_or(m.bit) AS held
  FROM l JOIN m USING (mode)
  WHERE l.granted AND l.tag IN (SELECT w.tag FROM w)
  GROUP BY l.tag, l.virtualtransaction, l.pid
), k AS MATERIALIZED (
  SELECT t.tag, t.conflicts, coalesce(hh.pids, '{}') AS hp, coalesce(q.pids, '{}') AS qpids,
         coalesce(q.pos, '{}') AS qpos,
         CASE WHEN 0 = ANY (hh.pids) THEN
           (SELECT px.gid FROM h JOIN px USING (virtualtransaction)
            WHERE h.tag = t.tag AND h.pid = 0 AND (h.held & t.conflicts) <> 0 LIMIT 1) END AS gid
  FROM (SELECT DISTINCT w.tag, w.conflicts FROM w) t
  CROSS JOIN LATERAL (SELECT array_agg(h.pid ORDER BY h.pid) AS pids FROM h
                      WHERE h.tag = t.tag AND (h.held & t.conflicts) <> 0) hh
  CROSS JOIN LATERAL (SELECT array_agg(w.pid ORDER BY w.pos) AS pids, array_agg(w.pos ORDER BY w.pos) AS pos
                      FROM w WHERE w.tag = t.tag AND (w.bit & t.conflicts) <> 0) q
), blocked AS MATERIALIZED (
  -- Materialized: the queue lists of k are not carried any further.
  SELECT w.pid, w.locktype, w.mode, w.database, w.relation, w.waitstart, k.gid,
         (pg_catalog.array_remove(k.hp[1:` + fmt.Sprint(MaxBlockersPerWaiter+1) + `], w.pid) || k.qpids[1:least(a.ahead, ` + fmt.Sprint(MaxBlockersPerWaiter) + `)])[1:` + fmt.Sprint(MaxBlockersPerWaiter) + `] AS blockers,
         cardinality(k.hp) - a.self + a.ahead AS total,
         least(cardinality(k.hp) - a.self, ` + fmt.Sprint(MaxBlockersPerWaiter) + `) AS hard
  FROM w
  JOIN k ON k.tag = w.tag AND k.conflicts = w.conflicts
  CROSS JOIN LATERAL (SELECT pg_catalog.width_bucket(w.pos - 1, k.qpos) AS ahead,
                             (w.pid = ANY (k.hp))::int AS self) a
)`

// lockGraph13 is the graph before PostgreSQL 14, from
// pg_blocking_pids(): holders come first in its answer, so the holders
// among the first blockers are those that do not wait for the same
// object.
var lockGraph13 = `, w AS MATERIALIZED (
  SELECT l.pid, l.tag, l.mode, l.locktype, l.database, l.relation, l.waitstart,
         pg_catalog.pg_blocking_pids(l.pid) AS b
  FROM l WHERE NOT l.granted AND l.pid IS NOT NULL
), blocked AS (
  SELECT w.pid, w.locktype, w.mode, w.database, w.relation, w.waitstart, w.b[1:` + fmt.Sprint(MaxBlockersPerWaiter) + `] AS blockers, cardinality(w.b) AS total,
         (SELECT count(*) FROM unnest(w.b[1:` + fmt.Sprint(MaxBlockersPerWaiter) + `]) x(pid)
          WHERE NOT EXISTS (SELECT FROM w q WHERE q.pid = x.pid AND q.tag = w.tag))::int AS hard,
         CASE WHEN 0 = ANY (w.b) THEN
           (SELECT px.gid FROM l h JOIN px USING (virtualtransaction)
            WHERE h.tag = w.tag AND h.pid IS NULL AND h.granted LIMIT 1) END AS gid
  FROM w
)`

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
	if err := json.Unmarshal(raw, &fields); err != nil || len(fields) != 8 {
		return lockEntry{}, fmt.Errorf("reading a waiter's lock %q: %v", raw, err)
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

// lockEntryOf is the entry b's wait was read from.
func lockEntryOf(b *Backend) lockEntry {
	return lockEntry{blockedBy: b.BlockedBy, total: b.BlockersTotal, hard: len(b.BlockedBy) - len(b.QueuedBehind),
		wait: b.Waiting, gid: b.PreparedGID}
}
