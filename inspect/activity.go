package inspect

import (
	"fmt"
	"strings"
)

// lockTag renders the identity of a pg_locks row: two rows with the same
// tag are the same lockable object.
func lockTag(alias string) string {
	return fmt.Sprintf(`concat_ws('/', %[1]s.locktype, %[1]s.database, %[1]s.relation, %[1]s.page, %[1]s.tuple,
                   %[1]s.virtualxid, %[1]s.transactionid, %[1]s.classid, %[1]s.objid, %[1]s.objsubid)`, alias)
}

// activitySQL reads pg_stat_activity and, for the sessions waiting on a
// heavyweight lock only, what blocks them: one statement, one row per
// backend. It is the costly statement of every refresh, and its shape
// comes from measuring alternatives at 600 backends (README, Performance):
//
//   - pg_stat_activity is read in one streaming pass. A MATERIALIZED CTE
//     around it cost as much again as the read itself, so there is none.
//   - pg_blocking_pids() takes every lock-manager partition lock, so it is
//     called only for sessions with wait_event_type = 'Lock', once each
//     (the OFFSET 0 keeps the subquery from being flattened, which would
//     repeat the call for every use). Its result is cut to the first
//     MaxBlockersPerWaiter (holders come first, then the queue ahead) so a
//     hot-row queue does not send n² edges; the true count comes along.
//   - pg_locks, whose cost grows with every lock in the cluster, is read
//     once and only if a row asks for its lock: the CTE wl runs on its
//     first use. It is one jsonb object keyed by pid, so each waiter finds
//     its lock in constant time rather than by scanning the others.
//   - A waiter asks only when the client does not know its lock yet: $1-$4
//     list the waits the client already knows (pid, query_start,
//     wait_event, first blocker). A wait that matches all four is the same
//     wait; while an incident stands still, pg_locks is not read at all.
//   - The prepared-transaction lookup reads pg_locks again, only when a
//     prepared transaction blocks somebody.
//   - A row the client has seen ($5: its pids) comes back without the
//     columns that cannot have changed (query, names, times) when three
//     columns are exactly what the client holds: state_change ($6), which
//     every statement and state transition sets, with query and
//     query_start, in one consistent write; xact_start ($9), which a
//     procedure's COMMIT inside one CALL moves without it; and
//     application_name ($10), which SET moves mid-statement. Equality,
//     not "no later than the last clock": a change stamped before that
//     clock but written after the read would otherwise be missed for good.
//     Wait events are not covered, so every row that is sent carries
//     them; a quiet row ($7, below) is not sent at all.
//   - ORDER BY pid: sorting 600 short rows costs the server a few
//     microseconds, and the client, which keeps backends sorted by pid,
//     then meets each row's previous self by walking both lists once
//     instead of searching and sorting (moving large structs).
//   - No join to pg_roles (the client knows the superuser roles from the
//     slower server statement).
//
// With lockGraph false (the slow lock-graph cadence, at thousands of
// waiters) neither pg_blocking_pids() nor pg_locks is called: the
// collector carries the previous graph over.
//
// Without pg_read_all_stats, other roles' rows show no wait event, but
// pg_locks and pg_blocking_pids() are open to everyone: for such hidden
// rows (only), a session with an ungranted lock is a waiter too. A role
// that sees everything never evaluates that subquery.
//
// Those hidden rows also lack backend_type. A client backend always has a
// database and a role (autovacuum workers and launchers lack one or the
// other), so such rows count as client backends: the pool must not look
// empty to a monitoring role when it is full. Parallel workers of other
// roles are the inference's one blind spot.
//
// Each waiter's lock comes back as [locktype, mode, relation, waitstart,
// tag]. The tag identifies the lockable object: the collector marks a
// blocker as "queued" (a soft block) when it waits for the same tag, i.e.
// it holds nothing we need and is only ahead of us in the queue. A lock
// upgrader is the one case this labels queued although it also holds a
// conflicting weaker lock.
//
// A row the client holds as quiet ($7: idle, or idle in transaction,
// reading from its client) that is still just that, unchanged, is not
// sent at all: most backends of a full pool are such rows, and each row
// costs the client more to receive than anything else in a refresh. An
// extra row with pid 0, that sorts first, tells the client which of them
// still exist: their pids in one array, or NULL when there are as many
// as the client holds ($8), which can only be all of them (a quiet row
// is one the client holds as quiet). While the pool stands still, that
// saves the client from reading and sorting an array of every idle pid.
//
// The window aggregate that collects them runs over the rows the query
// produces anyway; only the one row numbered 1 carries the array.
func activitySQL(caps Capabilities, lockGraph bool) string {
	waitstart := "l.waitstart"
	if !caps.WaitStart {
		waitstart = "NULL::timestamptz" // pg_locks.waitstart is 14+
	}
	blockers := `CASE WHEN s.wait_event_type = 'Lock'
                 OR (s.query = '<insufficient privilege>'
                     AND s.pid IN (SELECT h.pid FROM pg_catalog.pg_locks h WHERE NOT h.granted))
               THEN pg_catalog.pg_blocking_pids(s.pid) END`
	if !lockGraph {
		blockers = "NULL::int[]"
	}
	unchanged := `s.state_change IS NOT DISTINCT FROM seen.state_change AND s.xact_start IS NOT DISTINCT FROM seen.xact_start
                   AND coalesce(s.application_name, '') = seen.app`
	// A waiter's lock is looked up only when the client does not know its
	// wait.
	unknownWait := `cardinality(a.b) > 0 AND (k.pid IS NULL OR k.query_start IS DISTINCT FROM a.query_start
           OR k.wait_event IS DISTINCT FROM a.wait_event OR k.blocker IS DISTINCT FROM a.b[1])`
	waits := fmt.Sprintf(`coalesce(a.wait_event_type, CASE WHEN cardinality(a.b) > 0 THEN 'Lock' END, '') AS wtype,
         coalesce(a.wait_event, '') AS wevent,
         CASE WHEN cardinality(a.b) > 0 THEN a.b[1:%[1]d] END AS blockers, coalesce(cardinality(a.b), 0) AS nblock,
         CASE WHEN %[2]s THEN (SELECT wl.m -> a.pid::text FROM wl) END AS lock,
         CASE WHEN 0 = ANY (a.b) AND %[2]s THEN
           (SELECT p.gid FROM prepared p WHERE p.tag = (SELECT wl.m -> a.pid::text ->> 4 FROM wl) LIMIT 1) END AS gid`,
		MaxBlockersPerWaiter, unknownWait)
	from := fmt.Sprintf(`(SELECT s.pid, s.leader_pid, s.backend_type, s.datname, s.usename, s.usesysid, s.application_name,
               s.client_addr, s.state, s.wait_event_type, s.wait_event,
               s.backend_start, s.xact_start, s.query_start, s.state_change, s.query,
               %s AS b,
               coalesce(seen.pid IS NOT NULL AND %[2]s, false) AS same,
               coalesce(seen.quiet AND %[2]s
                        AND s.wait_event_type = 'Client' AND s.wait_event = 'ClientRead', false) AS quiet
        FROM pg_catalog.pg_stat_activity s
        LEFT JOIN unnest($5::int[], $7::bool[], $6::timestamptz[], $9::timestamptz[], $10::text[])
               AS seen(pid, quiet, state_change, xact_start, app) ON seen.pid = s.pid
        OFFSET 0) a
  LEFT JOIN unnest($1::int[], $2::timestamptz[], $3::text[], $4::int[]) AS k(pid, query_start, wait_event, blocker)
    ON k.pid = a.pid`, blockers, unchanged)
	return fmt.Sprintf(`/* pgmedic:activity */
WITH wl AS MATERIALIZED (
  SELECT pg_catalog.jsonb_object_agg(l.pid, pg_catalog.jsonb_build_array(l.locktype, l.mode,
           CASE WHEN l.relation IS NULL THEN NULL
                WHEN l.database = 0 OR d.datname = pg_catalog.current_database() THEN l.relation::regclass::text
                ELSE coalesce(d.datname, l.database::text) || ':' || l.relation END,
           %[1]s, %[2]s)) AS m
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_database d ON d.oid = l.database
  WHERE NOT l.granted AND l.pid IS NOT NULL
), prepared AS MATERIALIZED (
  -- A prepared transaction's locks keep its old virtualtransaction and no
  -- pid; its own transactionid lock leads to the gid.
  SELECT %[3]s AS tag, px.gid
  FROM pg_catalog.pg_locks h
  JOIN pg_catalog.pg_locks xl
    ON xl.pid IS NULL AND xl.granted AND xl.locktype = 'transactionid'
   AND xl.mode = 'ExclusiveLock' AND xl.virtualtransaction = h.virtualtransaction
  JOIN pg_catalog.pg_prepared_xacts px ON px.transaction = xl.transactionid
  WHERE h.pid IS NULL AND h.granted
)
%[4]s`, waitstart, lockTag("l"), lockTag("h"), backendRows(waits, from, "$8::int"))
}

// backendRows is the activity statement's shape around its source of
// rows (from, an alias a with pid, same, quiet and the backend's columns)
// and its wait columns: the columns that cannot have changed are sent only
// for rows that did (same is false), quiet rows are left out, and their
// pids come on a first row with pid 0, unless there are held of them (the
// number the client holds as quiet). The decoding benchmark uses it with
// a generated source.
func backendRows(waits, from, held string) string {
	var inner, outer strings.Builder
	for i, c := range []string{
		"coalesce(a.leader_pid, 0)",
		`coalesce(a.backend_type,
                  CASE WHEN a.query = '<insufficient privilege>' AND a.datname IS NOT NULL AND a.usename IS NOT NULL
                       THEN 'client backend' END, '')`,
		"coalesce(a.datname, '')", "coalesce(a.usename, '')", "coalesce(a.usesysid, 0)",
		"coalesce(a.application_name, '')", "coalesce(host(a.client_addr), '')", "coalesce(a.state, '')",
		"a.backend_start", "a.xact_start", "a.query_start", "a.state_change", "coalesce(a.query, '')",
	} {
		fmt.Fprintf(&inner, "CASE WHEN NOT a.same THEN %s END AS c%d,\n         ", c, i+1)
		fmt.Fprintf(&outer, "r.c%d, ", i+1)
	}
	return fmt.Sprintf(`SELECT CASE WHEN x.carrier THEN 0 ELSE r.pid END, r.same,
       %sr.wtype, r.wevent, r.blockers, r.nblock, r.lock, r.gid,
       CASE WHEN x.carrier THEN r.quiet_pids END
FROM (
  SELECT a.pid, a.same, a.quiet,
         %s%s,
         CASE WHEN row_number() OVER () = 1 THEN count(*) FILTER (WHERE a.quiet) OVER () END AS nquiet,
         CASE WHEN row_number() OVER () = 1 AND count(*) FILTER (WHERE a.quiet) OVER () <> %s
              THEN array_agg(a.pid) FILTER (WHERE a.quiet) OVER () END AS quiet_pids
  FROM %s
) r
CROSS JOIN LATERAL (VALUES (false), (true)) AS x(carrier)
WHERE CASE WHEN x.carrier THEN r.nquiet > 0 ELSE NOT r.quiet END
ORDER BY 1`, outer.String(), inner.String(), waits, held, from)
}

// serverSQL reads what changes rarely, on the slow cadence: the limits
// that decide who can still connect, what our role may do, and which roles
// are superusers (only a superuser may signal their backends).
// current_setting(..., true) and to_regrole() return NULL where a setting
// or role does not exist yet, so it runs on 13-18.
const serverSQL = `/* pgmedic:server */
SELECT pg_catalog.current_setting('server_version'),
       pg_catalog.current_setting('server_version_num')::int,
       pg_catalog.current_database(), current_user,
       pg_catalog.current_setting('max_connections')::int,
       pg_catalog.current_setting('superuser_reserved_connections')::int,
       coalesce(pg_catalog.current_setting('reserved_connections', true)::int, 0),
       coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false),
       pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
       pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE'),
       coalesce(pg_catalog.pg_has_role(current_user, pg_catalog.to_regrole('pg_use_reserved_connections'), 'USAGE'), false),
       ARRAY(SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper)`

// tickSQL reads, on every refresh, the server's clock (every age is
// measured against it), whether it is a standby (a promotion changes it),
// and the prepared transactions, as arrays in the same row.
//
// It opens every refresh, and sets the refresh's bounds (the values of
// connect.SessionSettings) for the statements after it. They last until
// the batch's implicit transaction ends at its Sync, and nothing of them
// is left after: behind a transaction pooler the server connection is the
// application's again as soon as the batch ends, and a session SET would
// stay on it. pg_backend_pid() is the backend this refresh runs on, which
// behind a pooler is not the one the connection's key names.
const tickSQL = `/* pgmedic:tick */
SELECT pg_catalog.clock_timestamp(), pg_catalog.pg_is_in_recovery(), p.gids, p.owners, p.databases, p.prepared,
       pg_catalog.pg_backend_pid(),
       pg_catalog.set_config('statement_timeout', '5s', true), pg_catalog.set_config('lock_timeout', '200ms', true)
FROM (SELECT array_agg(gid ORDER BY prepared), array_agg(coalesce(owner::text, '') ORDER BY prepared),
             array_agg(coalesce(database::text, '') ORDER BY prepared), array_agg(prepared ORDER BY prepared)
      FROM pg_catalog.pg_prepared_xacts) p(gids, owners, databases, prepared)`
