package main

import "fmt"

// The help of each command, written by hand: `pgmedic COMMAND --help` and
// `pgmedic help COMMAND`. `pgmedic --help` is usageText, the whole tool.

const connectionHelp = `
Connection options (as in psql; anything not given comes from the libpq
environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGSERVICE, ...):
  -h, --host=HOST          server host or socket directory
  -p, --port=PORT          server port
  -U, --username=USER      database user name (default: your OS user name)
  -d, --dbname=DBNAME      database name (default: the user name), or a whole
                           connection string or URI
  -W, --password           prompt for the password (without -W, pgmedic asks
                           when the server wants one and there is a terminal)
`

const actionHelp = `
Options:
      --dry-run            print the plan and the SQL, do nothing
      --yes                run without asking (required without a terminal)
      --expect=IDENTITY    act only if the target is still the one a --dry-run
                           named; a reused pid or index name is refused
      --read-only          refuse to change anything (the plan is still printed)
      --redact             replace the literals in query text by placeholders
      --audit-log=PATH     where the action is recorded (default
                           $XDG_STATE_HOME/pgmedic/audit.jsonl); an action
                           whose record cannot be written is refused
      --no-audit           run without an audit record
      --timeout=%s       give up after this long, saying what pgmedic was
                           waiting for; 0 waits for ever
  -?, --help               show this help
`

// screenOptions are the full-screen view's options, the demo's too.
const screenOptions = `      --interval=1s        refresh interval, at least 250ms (+ and - change it)
      --warn-at=75         pool saturation (%%) at which the gauge warns (up to 100)
      --color=auto         auto, always or never (NO_COLOR is honoured)
      --theme=THEME        dark, light or high-contrast (default: from the
                           terminal's background; PGMEDIC_THEME sets it too)
      --read-only          no action may change the server
      --redact             replace the literals in query text by placeholders
      --audit-log=PATH     where actions are recorded (%s)
      --record=FILE        record the session to FILE (default: a new file in
                           $XDG_STATE_HOME/pgmedic/recordings; pgmedic replay)
      --no-record          do not record the session
      --events=FILE        also write each event found as a JSON line
  -?, --help               show this help
`

// commandHelp is the help of each command, by name.
var commandHelp = map[string]string{
	"demo": `pgmedic demo starts a throwaway PostgreSQL cluster, stages an incident on
it (an application's busy pool, forgotten transactions, failed and running
index builds) and opens the full-screen view on it. Quitting removes the
cluster.

Usage:
  pgmedic demo [OPTION]...

Options:
      --print-dsn          do not open the view: print how to connect to the
                           cluster and keep it running until Ctrl+C (needs no
                           terminal)
      --pg-bin=DIR         where initdb, pg_ctl and postgres are (default:
                           PGMEDIC_PG_BIN, then the usual install places)
` + fmt.Sprintf(screenOptions, "default: in the demo's\n                           cluster, removed with it") + `
Examples:
  pgmedic demo
  pgmedic demo --print-dsn
`,

	"snapshot": `pgmedic snapshot reads the server's state once, prints it and exits: the
connection slots, the lock forest with its root blockers, invalid indexes,
index builds and the other long operations in progress (VACUUM, CLUSTER,
ANALYZE, COPY, base backups, table rewrites).

Usage:
  pgmedic snapshot [OPTION]... [DBNAME [USERNAME]]
` + connectionHelp + `
Options:
      --format=FORMAT      text (default), json, or markdown (the incident
                           summary, with the actions from the audit log)
      --json               the same as --format=json
      --all-databases      also check invalid indexes in every other database
      --pgbouncer=DSN      also read this PgBouncer's admin console: pools,
                           clients and servers, tied to the server's backends
      --redact             replace the literals in query text by placeholders
      --audit-log=PATH     the audit log --format=markdown reads (default
                           $XDG_STATE_HOME/pgmedic/audit.jsonl)
      --timeout=30s        give up after this long, saying what pgmedic was
                           waiting for; 0 waits for ever
      --from=RECORDING     read a recording instead of a server
      --at=TIME            with --from: the refresh recorded nearest before
                           TIME (default: the last); see pgmedic timeline
                           --help for the ways to write a time
  -?, --help               show this help

Examples:
  pgmedic snapshot -h db1.internal -U postgres shop
  pgmedic snapshot --from incident.pgmedic --at 02:07:13 --json
  pgmedic snapshot -d postgres://monitor@db1/shop?sslmode=verify-full --json
`,

	"overview": `pgmedic overview reads several servers at once and prints a line for
each: its role, slot use, root blockers with the sessions waiting and the
longest wait, invalid indexes, replication lag and its PgBouncer queue; or
why it could not be read. One connection per server, closed at the end,
with the same timeouts as every read. The full-screen view's c key shows
the same list, refreshed, and switches between the servers.

Usage:
  pgmedic overview [--server DSN]... [OPTION]...
` + connectionHelp + `
Options:
      --server=DSN         a server (repeat it): a connection string, URI or
                           service name; without any, and without connection
                           options, every service of the service files
      --json               one JSON array, a line's object per server
      --timeout=30s        give up after this long; 0 waits for ever
  -?, --help               show this help

Exit status 1 when a server could not be read: its line says why.

Examples:
  pgmedic overview --server prod-primary --server prod-replica --server billing
  pgmedic overview --json
`,

	"record": `pgmedic record records the server's state without a screen, a refresh at
a time, to a file that pgmedic replay, pgmedic timeline and pgmedic
snapshot --from read: for a bastion host, a cron job, or a night shift.
It holds one connection and reads what the full-screen view reads. The
file survives pgmedic being killed: every refresh before the last is read.

Usage:
  pgmedic record [OPTION]... [DBNAME [USERNAME]]
` + connectionHelp + `
Options:
      --out=FILE           the recording (default: a new file in
                           $XDG_STATE_HOME/pgmedic/recordings); an existing
                           file is never written over
      --duration=D         stop after D (default: until Ctrl+C or SIGTERM)
      --events=FILE|-      also write each event as a JSON line, as it is
                           found; - is standard output
      --interval=1s        refresh interval, at least 250ms
      --warn-at=75         pool saturation (%%) at which slot use is an event
      --all-databases      also check invalid indexes in every other database
      --pgbouncer=DSN      also record this PgBouncer's pools
      --redact             take the literals out of query text before anything
                           is written
      --audit-log=PATH     the audit log whose new actions are recorded as
                           events (default $XDG_STATE_HOME/pgmedic/audit.jsonl)
      --recordings-max-age=14d, --recordings-max-size=1GB
                           what the default directory keeps: older recordings,
                           then the oldest over the size, are removed at start
  -?, --help               show this help

Examples:
  pgmedic record -h db1 -U monitor shop --duration 8h
  pgmedic record -h db1 -U monitor shop --events - | alert-hook
`,

	"replay": `pgmedic replay opens the full-screen views on a recording: the same
Triage, connections, lock forest and indexes as they were, with a time
cursor. Actions are disabled: a replay shows the past.

Usage:
  pgmedic replay [FILE]

Without FILE it opens the newest recording in
$XDG_STATE_HOME/pgmedic/recordings.

Keys: left/right a refresh, [ ] a minute, n p the next and previous event,
< > the start and the end, space plays and pauses, + - the speed (1x to
16x), e the list of events (enter goes to one).

Options:
      --color=auto         auto, always or never (NO_COLOR is honoured)
      --theme=THEME        dark, light or high-contrast
  -?, --help               show this help

Example:
  pgmedic replay ~/.local/state/pgmedic/recordings/20261202T020113Z-*.pgmedic
`,

	"timeline": `pgmedic timeline writes the post-mortem timeline of a recording: the
root blockers, the queues, the pool's levels, the indexes, the builds and
every pgmedic action on one time axis, with how long each lasted, the
peaks, and what changed between the first and the last moment. Markdown
to paste into the post-mortem document, or JSON.

Usage:
  pgmedic timeline [FILE] [OPTION]...

Without FILE it reads the newest recording.

Options:
      --format=FORMAT      markdown (default) or json
      --from=TIME          start there (default: the recording's start)
      --to=TIME            end there (default: the recording's end)
  -?, --help               show this help

A TIME is 2026-12-02T02:07:13Z, "2026-12-02 02:07", 02:07 (local time, on
the recording's day), +5m (after the start) or -5m (before the end).

Example:
  pgmedic timeline --from 02:00 --to 02:45 > incident-timeline.md
`,

	"cancel": `pgmedic cancel cancels the query a backend is running
(pg_cancel_backend); the session stays. It prints the plan and asks first.

Usage:
  pgmedic cancel PID [OPTION]... [DBNAME [USERNAME]]
` + connectionHelp + fmt.Sprintf(actionHelp, "30s ") + `
Example:
  pgmedic cancel 4102 -h db1 -U postgres shop
`,

	"terminate": `pgmedic terminate ends a backend (pg_terminate_backend): its transaction
rolls back and the locks it holds are released. It prints the plan and
asks first.

Usage:
  pgmedic terminate PID [OPTION]... [DBNAME [USERNAME]]
` + connectionHelp + fmt.Sprintf(actionHelp, "30s ") + `
Examples:
  pgmedic terminate 4101 --dry-run -h db1 -U postgres shop
  pgmedic terminate 4101 --expect 4101@2026-12-02T02:07:00.512331Z --yes -h db1 shop
`,

	"drop-index": `pgmedic drop-index drops an invalid index with DROP INDEX CONCURRENTLY,
sent alone, outside any transaction. A valid index is refused.

Usage:
  pgmedic drop-index [SCHEMA.]INDEX [OPTION]... [DBNAME [USERNAME]]

Name the index as in SQL: schema.name, with double quotes where needed.
` + connectionHelp + fmt.Sprintf(actionHelp, "12h ") + `
Example:
  pgmedic drop-index public.orders_code_uq --dry-run -h db1 shop
`,

	"rebuild-index": `pgmedic rebuild-index rebuilds an index concurrently (REINDEX INDEX
CONCURRENTLY), sent alone, outside any transaction, and checks that the
new index is valid.

Usage:
  pgmedic rebuild-index [SCHEMA.]INDEX [OPTION]... [DBNAME [USERNAME]]

Name the index as in SQL: schema.name, with double quotes where needed.
` + connectionHelp + fmt.Sprintf(actionHelp, "12h ") + `
Example:
  pgmedic rebuild-index '"Sales"."orders by day"' -h db1 shop
`,

	"rollback-prepared": `pgmedic rollback-prepared rolls back a prepared (two-phase) transaction
with ROLLBACK PREPARED, releasing the locks it holds.

Usage:
  pgmedic rollback-prepared GID [OPTION]... [DBNAME [USERNAME]]

A GID that starts with "-" goes after "--".
` + connectionHelp + fmt.Sprintf(actionHelp, "30s ") + `
Example:
  pgmedic rollback-prepared pay-batch-17 -h db1 -U postgres shop
`,

	"explain": `pgmedic explain prints the plan of the statement a backend runs (or ran
last), for a runbook: EXPLAIN, never EXPLAIN ANALYZE, so the statement is
not run; in a READ ONLY transaction with lock_timeout 100ms and
statement_timeout 2s. Only a single SELECT, INSERT, UPDATE, DELETE, MERGE,
VALUES, TABLE or WITH is planned; with $n parameters, PostgreSQL 16+ makes
a generic plan. A statement it cannot plan safely (DDL, several
statements, another database, text cut short, a table locked ACCESS
EXCLUSIVE, where planning would wait) is refused at once, with the reason
on stderr and exit status 1. Sequential scans of large tables are marked.
Where the extension pg_show_plans is installed, its running plan is shown.

Usage:
  pgmedic explain PID [OPTION]... [DBNAME [USERNAME]]
` + connectionHelp + `
Options:
      --json               print the plan (or the refusal) as one JSON object
      --redact             replace the literals in the statement and the plan
                           by placeholders
      --timeout=30s        give up after this long, saying what pgmedic was
                           waiting for; 0 waits for ever
  -?, --help               show this help

Examples:
  pgmedic explain 4101 -h db1.internal -U postgres shop
  pgmedic explain 4101 --json
`,

	"version": `pgmedic version prints pgmedic's version.

Usage:
  pgmedic version
  pgmedic -V, --version

Example:
  pgmedic version
`,

	"help": `pgmedic help shows the help of pgmedic, or of one of its commands.

Usage:
  pgmedic help [COMMAND]
  pgmedic [COMMAND] -?, --help

Without a command it shows pgmedic's help.

Commands: demo, snapshot, record, replay, timeline, explain, cancel,
terminate, drop-index, rebuild-index, rollback-prepared, version, help.

Example:
  pgmedic help terminate
`,
}
