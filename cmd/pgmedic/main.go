// Command pgmedic is a terminal tool for the worst hour of a PostgreSQL
// on-call shift: who holds the connection slots, which session blocks the
// rest, which index a killed migration left invalid.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/safetext"
	"github.com/pgmedic/pgmedic/tui"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usageText = `pgmedic: see what is wrong with a PostgreSQL server in trouble, right now.

Usage:
  pgmedic demo [--print-dsn] [--pg-bin=DIR]          a throwaway cluster with a staged incident
  pgmedic [OPTION]... [DBNAME [USERNAME]]            the full-screen view
  pgmedic snapshot [OPTION]... [DBNAME [USERNAME]]   print one snapshot and exit
  pgmedic record [OPTION]... [DBNAME [USERNAME]]     record without a screen
  pgmedic explain PID [OPTION]...                    the plan of a backend's statement, never run
  pgmedic overview [--server DSN]... [--json]        a line per server: pool, blockers, indexes, lag
  pgmedic replay [FILE]                              the full-screen views on a recording
  pgmedic timeline [FILE] [--from T] [--to T]        the post-mortem timeline of a recording
  pgmedic cancel PID | terminate PID                 cancel a backend's query / end it
  pgmedic drop-index [SCHEMA.]INDEX                  DROP INDEX CONCURRENTLY an invalid index
  pgmedic rebuild-index [SCHEMA.]INDEX               rebuild an index concurrently
  pgmedic rollback-prepared GID                      ROLLBACK PREPARED a two-phase transaction
  pgmedic version

Each action takes its target first, then the same [OPTION]... [DBNAME
[USERNAME]] as the full-screen view, in any order:
  pgmedic terminate 4101 -h db1 -U postgres shop
(a target that starts with "-" goes after "--").

Connection options (as in psql; anything not given comes from the libpq
environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGSERVICE,
PGSSLMODE, ..., the service file and ~/.pgpass):
  -h, --host=HOST          server host or socket directory
  -p, --port=PORT          server port
  -U, --username=USER      database user name
  -d, --dbname=DBNAME      database name, or a whole connection string or URI
                           (its settings win over -h, -p and -U, as in psql)
  -W, --password           prompt for the password

Options:
      --all-databases      also check invalid indexes in every other database,
                           one short-lived connection at a time (every 30s in
                           the full-screen view)
      --pgbouncer=DSN      also read this PgBouncer's admin console (a
                           connection string, URI or service name; the
                           database is always "pgbouncer"): pools, clients,
                           servers, and in the full-screen view its actions
      --server=DSN         another server for the list the c key opens (repeat;
                           a connection string, URI or service name): the
                           overview of all of them, and switching between them
                           without restarting; the service file's services are
                           listed too
      --interval=1s        full-screen refresh interval (+ and - change it)
      --warn-at=75         pool saturation (%) at which the gauge warns
      --color=auto         auto, always or never (NO_COLOR is honoured)
      --theme=THEME        dark, light or high-contrast (default: from the
                           terminal's background; PGMEDIC_THEME sets it too)
      --json               snapshot: print one JSON object (the contract)
      --format=FORMAT      snapshot: text (default), json, or markdown (the
                           incident summary, with the actions from the audit log)
      --dry-run            actions: print the plan and the SQL, do nothing
      --yes                actions: run without asking (required without a terminal)
      --expect=IDENTITY    actions: act only if the target is still the one a
                           --dry-run named (PID@BACKEND_START, oid:OID or
                           prepared:TIME); a reused pid is refused
      --read-only          no action may change the server
      --redact             replace the literals in query text by placeholders,
                           everywhere they are shown, copied or written;
                           with --read-only: presenter mode for screen-shares
      --audit-log=PATH     where actions are recorded (default
                           $XDG_STATE_HOME/pgmedic/audit.jsonl); an action
                           whose log cannot be written is refused
      --record=FILE        the full-screen view records every session, by
                           default to a new file in
                           $XDG_STATE_HOME/pgmedic/recordings; this file instead
      --no-record          do not record this session
      --events=FILE        also write each event found as a JSON line
      --recordings-max-age=14d, --recordings-max-size=1GB
                           what the recordings directory keeps (0: no limit)
      --no-audit           actions: run without an audit record
      --timeout=30s        snapshot and actions: give up after this long, saying
                           what pgmedic was waiting for, even when the server
                           or the network stopped answering altogether;
                           drop-index and rebuild-index default to 12h, as a
                           concurrent build of a big index can take hours;
                           0 waits for ever
  -V, --version            print pgmedic's version
  -?, --help               show this help (pgmedic COMMAND --help: that command's)

Examples:
  pgmedic -h db1.internal -U postgres shop
  pgmedic snapshot -h db1.internal -U postgres shop
  pgmedic snapshot -d "host=db1 sslmode=require user=monitor"
  pgmedic snapshot -d postgres://monitor@db1:5432/shop?sslmode=verify-full --json
  PGSERVICE=prod-primary pgmedic snapshot --all-databases

pgmedic opens exactly one connection (application_name=pgmedic) and bounds
its own statements with statement_timeout=5s and lock_timeout=200ms.

When the pool is exhausted, ordinary roles are refused (SQLSTATE 53300):
connect as a superuser, which may use the superuser_reserved_connections
slots, or on PostgreSQL 16+ as a role granted pg_use_reserved_connections
(with reserved_connections > 0). Better still, start pgmedic before the pool
fills: it holds on to its one connection.
`

// exitError carries an exit code; usage mistakes exit 2, failures 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format+" (see pgmedic --help)", args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiling, err := startProfiling()
	if err == nil {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stopProfiling()
	}
	stop()
	if err != nil {
		// Errors can carry the server's words: sanitize them like any other
		// server string.
		fmt.Fprintln(os.Stderr, "pgmedic:", safetext.Line(err.Error()))
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		os.Exit(code)
	}
}

// flags holds every command-line option.
type flags struct {
	conn         connect.Options
	askPassword  bool
	ask          askFunc // asks for a password the server wants; nil: no terminal
	json         bool
	allDatabases bool
	pgbouncer    string   // --pgbouncer: the admin console's DSN or service
	servers      []string // --server: more servers for the server list
	help         bool
	version      bool
	interval     time.Duration
	warnAt       float64
	color        string
	yes          bool
	dryRun       bool
	readOnly     bool
	auditLog     string
	auditGone    string // why the audit log will not be there after the run, if it will not
	pgBin        string
	printDSN     bool
	banner       string
	format       string
	theme        string
	redact       bool
	expect       string
	noAudit      bool
	timeout      time.Duration
	timeoutSet   bool

	// Recording and its uses.
	noRecord  bool
	record    string // --record FILE (the full-screen view)
	out       string // --out FILE (pgmedic record)
	duration  time.Duration
	events    string // --events FILE or -
	maxAge    string // --recordings-max-age
	maxSize   string // --recordings-max-size
	from, to  string
	at        string
	retention retention
}

// limit is the --timeout of command, or its default.
func (f *flags) limit(command string) time.Duration {
	switch {
	case f.timeoutSet:
		return f.timeout
	case command == "drop-index" || command == "rebuild-index":
		return defaultDDLTimeout
	}
	return defaultTimeout
}

func parseFlags(args []string) (*flags, []string, error) {
	f := &flags{}
	fs := newFlagSet(f)
	if err := fs.Parse(args); err != nil {
		return nil, nil, usageError("%v", err)
	}
	f.timeoutSet = fs.Changed("timeout")
	return f, fs.Args(), nil
}

// newFlagSet defines every option, each stored in f.
func newFlagSet(f *flags) *pflag.FlagSet {
	fs := pflag.NewFlagSet("pgmedic", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVarP(&f.conn.Host, "host", "h", "", "")
	fs.StringVarP(&f.conn.Port, "port", "p", "", "")
	fs.StringVarP(&f.conn.User, "username", "U", "", "")
	fs.StringVarP(&f.conn.DBName, "dbname", "d", "", "")
	fs.BoolVarP(&f.askPassword, "password", "W", false, "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.BoolVar(&f.allDatabases, "all-databases", false, "")
	fs.StringVar(&f.pgbouncer, "pgbouncer", "", "")
	fs.StringArrayVar(&f.servers, "server", nil, "")
	// As in psql: -h is the host, so help is -?; -V is the version.
	fs.BoolVarP(&f.help, "help", "?", false, "")
	fs.BoolVarP(&f.version, "version", "V", false, "")
	fs.DurationVar(&f.interval, "interval", time.Second, "")
	fs.Float64Var(&f.warnAt, "warn-at", 75, "")
	fs.StringVar(&f.color, "color", "auto", "")
	fs.BoolVar(&f.yes, "yes", false, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.readOnly, "read-only", false, "")
	fs.StringVar(&f.auditLog, "audit-log", "", "")
	fs.StringVar(&f.pgBin, "pg-bin", "", "")
	fs.BoolVar(&f.printDSN, "print-dsn", false, "")
	fs.StringVar(&f.format, "format", "", "")
	fs.StringVar(&f.theme, "theme", "", "")
	fs.BoolVar(&f.redact, "redact", false, "")
	fs.StringVar(&f.expect, "expect", "", "")
	fs.BoolVar(&f.noAudit, "no-audit", false, "")
	fs.DurationVar(&f.timeout, "timeout", 0, "")
	fs.BoolVar(&f.noRecord, "no-record", false, "")
	fs.StringVar(&f.record, "record", "", "")
	fs.StringVar(&f.out, "out", "", "")
	fs.DurationVar(&f.duration, "duration", 0, "")
	fs.StringVar(&f.events, "events", "", "")
	fs.StringVar(&f.maxAge, "recordings-max-age", "14d", "")
	fs.StringVar(&f.maxSize, "recordings-max-size", "1GB", "")
	fs.StringVar(&f.from, "from", "", "")
	fs.StringVar(&f.to, "to", "", "")
	fs.StringVar(&f.at, "at", "", "")
	return fs
}

// checkValues refuses an option value that cannot work before anything
// is opened: found after connecting, the mistake would cost a connection
// slot and a wait, or pass silently as a default.
func checkValues(f *flags) error {
	switch {
	case f.format != "" && f.format != "text" && f.format != "json" && f.format != "markdown":
		return usageError("--format must be text, json or markdown, not %q", f.format)
	case f.json && f.format != "" && f.format != "json":
		return usageError("--json and --format=%s contradict each other: choose one", f.format)
	case f.interval < tui.MinInterval || f.interval > tui.MaxInterval:
		// The bounds of the + and - keys.
		return usageError("--interval must be from %s to %s, not %s", tui.MinInterval, tui.MaxInterval, f.interval)
	case !(f.warnAt > 0 && f.warnAt <= 100): // NaN too
		return usageError("--warn-at is a percentage of the usable connection slots: more than 0 and at most 100, not %v", f.warnAt)
	case f.timeout < 0:
		return usageError("--timeout cannot be negative (0 waits for ever)")
	case f.duration < 0:
		return usageError("--duration cannot be negative (0 records until stopped)")
	case f.noRecord && f.record != "":
		return usageError("--no-record and --record contradict each other: choose one")
	}
	r, err := parseRetention(f.maxAge, f.maxSize)
	if err != nil {
		return err
	}
	f.retention = r
	if _, err := colorProfile(f.color, nil); err != nil {
		return err
	}
	if _, err := tui.StylesFor(f.theme); err != nil {
		return usageError("--theme: %v", err)
	}
	// libpq takes a list of ports, one for each host; an empty one is the
	// default.
	for _, p := range strings.Split(f.conn.Port, ",") {
		if n, err := strconv.Atoi(p); p != "" && (err != nil || n < 1 || n > 65535) {
			return usageError("--port must be a port number (1 to 65535), or a comma-separated list of them, not %q", f.conn.Port)
		}
	}
	return nil
}

// command is a parsed command line: what to do, to which target, and the
// options, with psql's trailing [DBNAME [USERNAME]] already applied.
type command struct {
	name   string // "" is the full-screen view
	target string // an action's PID, [SCHEMA.]INDEX or GID
	f      *flags
}

// parseCommand reads a command line without connecting anywhere. Flags
// may come before or after the positional arguments, as with psql; for an
// action the first positional argument is its target and the rest are
// DBNAME and USERNAME.
func parseCommand(args []string) (*command, error) {
	f, rest, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	c := &command{f: f}
	if len(rest) > 0 && isCommand(rest[0]) {
		c.name, rest = rest[0], rest[1:]
	}
	switch {
	case f.help:
		return c, nil
	case f.version:
		c.name = "version"
		return c, nil
	case c.name == "help":
		// pgmedic help COMMAND is pgmedic COMMAND --help; pgmedic help
		// alone is pgmedic --help.
		switch {
		case len(rest) > 1:
			return nil, usageError("pgmedic help takes one command, not %q", rest)
		case len(rest) == 1 && !isCommand(rest[0]):
			return nil, usageError("unknown command %q", rest[0])
		}
		c.name = ""
		if len(rest) == 1 {
			c.name = rest[0]
		}
		f.help = true
		return c, nil
	}
	if err := checkValues(f); err != nil {
		return nil, err
	}
	kind, action := actionCommands[c.name]
	switch {
	case action:
		if len(rest) == 0 {
			return nil, usageError("pgmedic %s takes one %s", c.name, targetWord(kind))
		}
		c.target, rest = rest[0], rest[1:]
		if pid, err := strconv.Atoi(c.target); (kind == actions.Cancel || kind == actions.Terminate) && (err != nil || pid <= 0) {
			return nil, usageError("%q is not a process id", c.target)
		}
		// One PID per run: a second number is far more likely a second
		// session than a database called "4102".
		if (kind == actions.Cancel || kind == actions.Terminate) && len(rest) > 0 && isNumber(rest[0]) {
			return nil, usageError("pgmedic %s takes one PID; run it once for each session (%q would be read as the database name)",
				c.name, rest[0])
		}
		if err := positionalConn(&f.conn, rest); err != nil {
			return nil, err
		}
	case c.name == "" || c.name == "snapshot" || c.name == "record":
		if err := positionalConn(&f.conn, rest); err != nil {
			return nil, err
		}
	case c.name == "explain":
		if len(rest) == 0 {
			return nil, usageError("pgmedic explain takes one PID")
		}
		if pid, err := strconv.Atoi(rest[0]); err != nil || pid <= 0 {
			return nil, usageError("%q is not a process id", rest[0])
		}
		c.target = rest[0]
		if err := positionalConn(&f.conn, rest[1:]); err != nil {
			return nil, err
		}
	case c.name == "overview":
		if len(rest) > 0 {
			return nil, usageError("pgmedic overview takes its servers as --server DSN, not %q", rest)
		}
	case c.name == "replay" || c.name == "timeline":
		// One recording, or none: the newest is picked.
		if len(rest) > 1 {
			return nil, usageError("pgmedic %s takes one recording, not %q", c.name, rest)
		}
		if len(rest) == 1 {
			c.target = rest[0]
		}
	}
	if err := checkRecordingFlags(c); err != nil {
		return nil, err
	}
	if !action {
		// Silently ignored, they would promise a check or a record that
		// does not happen.
		switch {
		case f.expect != "":
			return nil, usageError("--expect is for the action commands (cancel, terminate, drop-index, rebuild-index, rollback-prepared)")
		case f.noAudit:
			return nil, usageError("--no-audit is for the action commands; the full-screen view always records its actions")
		}
	}
	if f.expect != "" {
		if err := actions.CheckIdentity(f.expect); err != nil {
			return nil, usageError("%v", err)
		}
	}
	if f.noAudit && f.auditLog != "" {
		return nil, usageError("--no-audit and --audit-log contradict each other: choose one")
	}
	return c, nil
}

// targetWord names what an action takes, for usage errors.
func targetWord(kind actions.Kind) string {
	switch kind {
	case actions.DropIndex, actions.Rebuild:
		return "[SCHEMA.]INDEX"
	case actions.RollbackPrepared:
		return "GID"
	}
	return "PID"
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseCommand(args)
	if err != nil {
		return err
	}
	f := c.f
	if f.help {
		help, ok := commandHelp[c.name]
		if !ok {
			help = usageText
		}
		_, err := io.WriteString(stdout, help)
		return err
	}
	switch c.name {
	case "", "snapshot", "record", "explain", "cancel", "terminate", "drop-index", "rebuild-index", "rollback-prepared":
		if f.askPassword && f.from == "" {
			if f.conn.Password, err = promptPassword(stderr, "Password: "); err != nil {
				return fmt.Errorf("-W: %w", err)
			}
		}
		f.ask = terminalAsker(stderr)
	}
	switch c.name {
	case "":
		return runTUI(ctx, f, stdout)
	case "snapshot":
		if f.from != "" {
			return runSnapshotFrom(f, stdout)
		}
		return runSnapshot(ctx, f, stdout)
	case "record":
		return runRecord(ctx, f, stdout, stderr)
	case "overview":
		return runOverview(ctx, f, stdout)
	case "explain":
		return runExplain(ctx, f, c.target, stdout)
	case "replay":
		return runReplay(ctx, f, c.target, stdout)
	case "timeline":
		return runTimeline(f, c.target, stdout)
	case "cancel", "terminate", "drop-index", "rebuild-index", "rollback-prepared":
		return runAction(ctx, f, c.name, c.target, os.Stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, f, stdout, stderr)
	case "version":
		_, err := fmt.Fprintf(stdout, "pgmedic %s\n", version)
		return err
	}
	return usageError("unknown command %q", c.name)
}

func isCommand(s string) bool {
	switch s {
	case "snapshot", "version", "help", "demo", "record", "replay", "timeline", "explain", "overview":
		return true
	}
	_, ok := actionCommands[s]
	return ok
}

// positionalConn applies psql's trailing [DBNAME [USERNAME]].
func positionalConn(o *connect.Options, args []string) error {
	switch {
	case len(args) > 2:
		return usageError("too many arguments: %q", args[2:])
	case len(args) == 2:
		if o.User != "" {
			return usageError("user name given twice (-U and %q)", args[1])
		}
		o.User = args[1]
		fallthrough
	case len(args) == 1:
		if o.DBName != "" {
			return usageError("database given twice (-d and %q)", args[0])
		}
		o.DBName = args[0]
	}
	return nil
}
