package inspect

import (
	"fmt"
	"strings"
)

// activitySQL reads pg_stat_activity, in one streaming pass, one row per
// backend. Who blocks whom comes from the statement after it
// (lockGraphSQL).
//
//   - A row the client has seen ($1: its pids) comes back without the
//     columns that cannot have changed (query, names, times) when three
//     columns are exactly what the client holds: state_change ($2), which
//     every statement and state transition sets, with query and
//     query_start, in one consistent write; xact_start ($3), which a
//     procedure's COMMIT inside one CALL moves without it; and
//     application_name ($4), which SET moves mid-statement. Equality, not
//     "no later than the last refresh": a change stamped before that
//     refresh but written after it would otherwise be missed for good.
//   - A row the client holds as still ($5) is not sent at all while it is
//     still just that: a session waiting for its client (idle, or idle in
//     transaction, reading from its client), or for the same heavyweight
//     lock ($6, the wait event the client holds; the lock-graph statement
//     says whether its blockers changed). Most backends of a full pool,
//     and of a queue standing still, are such rows. An extra row with pid
//     0, that sorts first, tells the client which of them still exist:
//     their pids in one array, or NULL when there are as many as the
//     client holds ($7), which can only be all of them.
//   - OFFSET 0 keeps the rows' same and quiet flags computed once per row:
//     flattened into the query around it, each of their uses (the thirteen
//     columns, the window filters) would compute them again.
//   - ORDER BY pid: the client, which keeps backends sorted by pid, meets
//     each row's previous self by walking both lists once.
//   - No join to pg_roles (the client knows the superuser roles from the
//     slower server statement).
//
// Without pg_read_all_stats, other roles' rows show no wait event, state
// or backend_type; the lock graph still sees their waits. A client
// backend always has a database and a role (autovacuum workers and
// launchers lack one or the other), so such rows count as client
// backends: the pool must not look empty to a monitoring role when it is
// full. Parallel workers of other roles are the inference's one blind
// spot.
var activitySQL = `/* pgmedic:activity */
` + activityRows

var activityRows = backendRows(`coalesce(a.wait_event_type, '') AS wtype, coalesce(a.wait_event, '') AS wevent`,
	`(SELECT s.pid, s.leader_pid, s.backend_type, s.datname, s.usename, s.usesysid, s.application_name,
               s.client_addr, s.state, s.wait_event_type, s.wait_event,
               s.backend_start, s.xact_start, s.query_start, s.state_change, s.query,
               coalesce(seen.pid IS NOT NULL AND u.unchanged, false) AS same,
               coalesce(seen.still AND u.unchanged AND
                        CASE WHEN s.wait_event_type = 'Lock' THEN s.wait_event = seen.wevent
                             ELSE s.wait_event_type = 'Client' AND s.wait_event = 'ClientRead' END, false) AS quiet
        FROM pg_catalog.pg_stat_activity s
        LEFT JOIN unnest($1::int[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bool[], $6::text[])
               AS seen(pid, state_change, xact_start, app, still, wevent) ON seen.pid = s.pid
        CROSS JOIN LATERAL (SELECT s.state_change IS NOT DISTINCT FROM seen.state_change
                                   AND s.xact_start IS NOT DISTINCT FROM seen.xact_start
                                   AND coalesce(s.application_name, '') = seen.app AS unchanged) u
        OFFSET 0) a`,
	"$7::int")

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
       %[1]sr.wtype, r.wevent,
       CASE WHEN x.carrier THEN r.quiet_pids END
FROM (
  SELECT b.*,
         CASE WHEN row_number() OVER () = 1 THEN count(*) FILTER (WHERE b.quiet) OVER () END AS nquiet,
         CASE WHEN row_number() OVER () = 1 AND count(*) FILTER (WHERE b.quiet) OVER () <> %[4]s
              THEN array_agg(b.pid) FILTER (WHERE b.quiet) OVER () END AS quiet_pids
  FROM (
    SELECT a.pid, a.same, a.quiet,
           %[2]s%[3]s
    FROM %[5]s
    OFFSET 0) b
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
// the prepared transactions, as arrays in the same row, the running
// index builds (buildsJSON) and the other commands with a progress view
// (progressJSON).
//
// It opens every refresh, and sets the refresh's bounds (the values of
// connect.SessionSettings) for the statements after it. They last until
// the batch's implicit transaction ends at its Sync, and nothing of them
// is left after: behind a transaction pooler the server connection is the
// application's again as soon as the batch ends, and a session SET would
// stay on it. pg_backend_pid() is the backend this refresh runs on, which
// behind a pooler is not the one the connection's key names.
func tickSQL(versionNum int) string {
	return `/* pgmedic:tick */
SELECT pg_catalog.clock_timestamp(), pg_catalog.pg_is_in_recovery(), p.gids, p.owners, p.databases, p.prepared,
       pg_catalog.pg_backend_pid(), ` + buildsJSON + `, ` + progressJSON(versionNum) + `,
       ` + replicationJSON + `,
       pg_catalog.set_config('statement_timeout', '5s', true), pg_catalog.set_config('lock_timeout', '200ms', true)
FROM (SELECT array_agg(gid ORDER BY prepared), array_agg(coalesce(owner::text, '') ORDER BY prepared),
             array_agg(coalesce(database::text, '') ORDER BY prepared), array_agg(prepared ORDER BY prepared)
      FROM pg_catalog.pg_prepared_xacts) p(gids, owners, databases, prepared)`
}
