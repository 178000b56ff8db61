package inspect

import "fmt"

// lockTag renders the identity of a pg_locks row: two rows with the same
// tag are the same lockable object.
func lockTag(alias string) string {
	return fmt.Sprintf(`concat_ws('/', %[1]s.locktype, %[1]s.database, %[1]s.relation, %[1]s.page, %[1]s.tuple,
                   %[1]s.virtualxid, %[1]s.transactionid, %[1]s.classid, %[1]s.objid, %[1]s.objsubid)`, alias)
}

// activitySQL reads pg_stat_activity and, for the sessions waiting on a
// heavyweight lock only, what blocks them: one statement, one row per
// backend.
//
// pg_blocking_pids() takes every lock-manager partition lock, so it is
// called only for sessions with wait_event_type = 'Lock', and its result is
// cut to the first MaxBlockersPerWaiter (holders come first, then the queue
// ahead) so a hot-row queue does not produce n² edges. pg_locks is not read
// at all when nobody waits.
//
// Without pg_read_all_stats, other roles' rows show no wait event, but
// pg_locks and pg_blocking_pids() are open to everyone: when such hidden
// rows exist, a session with an ungranted lock is a waiter too. A role
// that sees everything never pays for that pg_locks read.
//
// Those hidden rows also lack backend_type. A client backend always has a
// database and a role (autovacuum workers and launchers lack one or the
// other), so such rows count as client backends: the pool must not look
// empty to a monitoring role when it is full. Parallel workers of other
// roles are the inference's one blind spot.
//
// A blocker is "queued" (a soft block) when it is itself waiting for a lock
// with the same tag: it does not hold anything we need, it is only ahead of
// us in the queue. A lock upgrader is the one case this labels queued
// although it also holds a conflicting weaker lock.
func activitySQL(caps Capabilities) string {
	waitstart := "l.waitstart"
	if !caps.WaitStart {
		waitstart = "NULL::timestamptz" // pg_locks.waitstart is 14+
	}
	return fmt.Sprintf(`/* pgmedic:activity */
WITH act AS MATERIALIZED (
  SELECT a.pid, a.leader_pid, a.backend_type, a.datname, a.usename, a.application_name,
         host(a.client_addr) AS client_addr, a.state, a.wait_event_type, a.wait_event,
         a.backend_start, a.xact_start, a.query_start, a.state_change, a.query,
         coalesce(r.rolsuper, false) AS rolsuper
  FROM pg_catalog.pg_stat_activity a
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
), hidden_waiters AS MATERIALIZED (
  SELECT DISTINCT l.pid FROM pg_catalog.pg_locks l
  WHERE NOT l.granted AND l.pid IS NOT NULL
    AND EXISTS (SELECT 1 FROM act WHERE act.query = '<insufficient privilege>')
), waiters AS MATERIALIZED (
  SELECT pid, b[1:%[1]d] AS blocked_by, cardinality(b) AS n_blockers
  FROM (SELECT pid, pg_catalog.pg_blocking_pids(pid) AS b FROM act
        WHERE wait_event_type = 'Lock' OR pid IN (SELECT pid FROM hidden_waiters)) x
  WHERE cardinality(b) > 0
), wlock AS MATERIALIZED (
  SELECT DISTINCT ON (l.pid) l.pid, l.locktype, l.mode, l.database, l.relation,
         %[2]s AS waitstart, %[3]s AS tag
  FROM pg_catalog.pg_locks l
  WHERE NOT l.granted AND EXISTS (SELECT 1 FROM waiters)
  ORDER BY l.pid
), queued AS (
  SELECT w.pid, array_agg(DISTINCT b.pid) AS pids
  FROM waiters w
  CROSS JOIN LATERAL unnest(w.blocked_by) AS b(pid)
  JOIN wlock x ON x.pid = w.pid
  JOIN wlock y ON y.pid = b.pid
  WHERE x.tag = y.tag
  GROUP BY w.pid
), prepared AS (
  -- A prepared transaction's locks keep its old virtualtransaction and no
  -- pid; its own transactionid lock leads to the gid.
  SELECT x.pid,
         (SELECT px.gid
            FROM pg_catalog.pg_locks h
            JOIN pg_catalog.pg_locks xl
              ON xl.pid IS NULL AND xl.granted AND xl.locktype = 'transactionid'
             AND xl.mode = 'ExclusiveLock' AND xl.virtualtransaction = h.virtualtransaction
            JOIN pg_catalog.pg_prepared_xacts px ON px.transaction = xl.transactionid
           WHERE h.pid IS NULL AND h.granted AND %[4]s = x.tag
           LIMIT 1) AS gid
  FROM wlock x JOIN waiters w ON w.pid = x.pid
  WHERE 0 = ANY (w.blocked_by)
)
SELECT a.pid, coalesce(a.leader_pid, 0),
       coalesce(a.backend_type,
                CASE WHEN a.query = '<insufficient privilege>' AND a.datname IS NOT NULL AND a.usename IS NOT NULL
                     THEN 'client backend' END, ''),
       coalesce(a.datname, ''), coalesce(a.usename, ''), coalesce(a.application_name, ''),
       coalesce(a.client_addr, ''), coalesce(a.state, ''),
       coalesce(a.wait_event_type, CASE WHEN w.pid IS NOT NULL THEN 'Lock' END, ''),
       coalesce(a.wait_event, ''),
       a.backend_start, a.xact_start, a.query_start, a.state_change, coalesce(a.query, ''),
       a.pid = pg_catalog.pg_backend_pid(),
       w.blocked_by, coalesce(w.n_blockers, 0), q.pids,
       l.locktype, l.mode,
       CASE WHEN l.relation IS NULL THEN NULL
            WHEN l.database = 0 OR d.datname = pg_catalog.current_database() THEN l.relation::regclass::text
            ELSE coalesce(d.datname, l.database::text) || ':' || l.relation END,
       l.waitstart, p.gid, a.rolsuper
FROM act a
LEFT JOIN waiters w  ON w.pid = a.pid
LEFT JOIN wlock l    ON l.pid = a.pid
LEFT JOIN pg_catalog.pg_database d ON d.oid = l.database
LEFT JOIN queued q   ON q.pid = a.pid
LEFT JOIN prepared p ON p.pid = a.pid
ORDER BY a.pid`, MaxBlockersPerWaiter, waitstart, lockTag("l"), lockTag("h"))
}

// serverSQL reads the limits that decide who can still connect, and what
// our role may do. current_setting(..., true) and to_regrole() return NULL
// where a setting or role does not exist yet, so it runs on 13-18.
const serverSQL = `/* pgmedic:server */
SELECT pg_catalog.current_setting('server_version'),
       pg_catalog.current_setting('server_version_num')::int,
       pg_catalog.current_database(), current_user,
       pg_catalog.current_setting('max_connections')::int,
       pg_catalog.current_setting('superuser_reserved_connections')::int,
       coalesce(pg_catalog.current_setting('reserved_connections', true)::int, 0),
       pg_catalog.pg_is_in_recovery(), pg_catalog.pg_backend_pid(),
       coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false),
       pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
       pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE'),
       coalesce(pg_catalog.pg_has_role(current_user, pg_catalog.to_regrole('pg_use_reserved_connections'), 'USAGE'), false),
       pg_catalog.clock_timestamp()`

const preparedSQL = `/* pgmedic:prepared-xacts */
SELECT gid, coalesce(owner::text, ''), coalesce(database::text, ''), prepared
FROM pg_catalog.pg_prepared_xacts ORDER BY prepared`
