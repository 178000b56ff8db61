// Package connect opens pgmedic's one connection the way psql would, and
// turns every way that can fail into a paragraph a responder can act on.
package connect

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgservicefile"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Options are the psql-style connection flags. Everything left empty falls
// back to the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE,
// PGPASSWORD, PGSERVICE, PGSSLMODE, ...), the service file and ~/.pgpass.
type Options struct {
	Host string
	Port string
	User string
	// DBName is a database name or, as with psql -d, a whole connection
	// string ("host=db1 sslmode=require") or URI ("postgres://...").
	DBName string
	// Password, when set (psql -W), is used instead of PGPASSWORD and
	// ~/.pgpass.
	Password string
}

// ApplicationName identifies pgmedic's sessions in pg_stat_activity unless
// the user chose another name.
const ApplicationName = "pgmedic"

// SessionSettings bound every statement pgmedic's sessions run, so no
// catalog read can queue behind the incident's locks for long, and a
// session left idle in a transaction by a bug cannot become a blocker.
// The keepalives let the server find out within about 25 s that a pgmedic
// vanished without closing its TCP connection (a dropped network), and end
// what that session was doing; they are no-ops on a Unix socket.
const SessionSettings = `SET statement_timeout = '5s'; SET lock_timeout = '200ms'; ` +
	`SET idle_in_transaction_session_timeout = '10s'; ` +
	`SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3`

// BehindPooler reports whether conn reaches PostgreSQL through a pooler.
// A pooler must answer cancel requests itself, so the backend key it
// hands out is its own; PostgreSQL's names the backend the statement runs
// on. PgBouncer does this in every pool mode.
func BehindPooler(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var pid uint32
	// An unnamed statement: nothing is prepared before we know. (pgx
	// refuses its simple protocol under standard_conforming_strings=off.)
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_backend_pid()`, pgx.QueryExecModeExec).Scan(&pid); err != nil {
		return false, err
	}
	return pid != conn.PgConn().PID(), nil
}

// DefaultConnectTimeout applies when connect_timeout is not set.
const DefaultConnectTimeout = 10 * time.Second

// IsConnString reports whether a -d value is a connection string or URI
// rather than a database name, by psql's rule.
func IsConnString(s string) bool {
	return strings.Contains(s, "=") || isURI(s)
}

// ConnString combines the flags into one libpq connection string. As in
// psql, a connection string given as the database name wins over -h, -p
// and -U; the flags fill in what it leaves out.
func (o Options) ConnString() string {
	var flags [][2]string
	for _, kv := range [][2]string{{"host", o.Host}, {"port", o.Port}, {"user", o.User}} {
		if kv[1] != "" {
			flags = append(flags, kv)
		}
	}
	base := ""
	switch {
	case IsConnString(o.DBName):
		base = o.DBName
	case o.DBName != "":
		flags = append(flags, [2]string{"dbname", o.DBName})
	}
	s := base
	for _, kv := range flags {
		s = withSetting(s, kv[0], kv[1], false)
	}
	return s
}

// withSetting adds key=value to a keyword/value string or URI. With
// override false the setting only fills a gap: in keyword/value form it
// goes first (the last occurrence wins), in a URI it is added only when
// the URI does not say it.
func withSetting(connString, key, value string, override bool) string {
	if isURI(connString) {
		if !override && uriHas(connString, key) {
			return connString
		}
		// Appended, not rebuilt, so the rest of the URI stays as written.
		// QueryEscape writes a space as "+", which libpq and pgx read as a
		// literal plus (they decode only %XX): a user "a b" would log in as
		// "a+b". A literal "+" is already escaped as %2B, so every "+" left
		// is a space.
		param := key + "=" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20")
		switch {
		case !splitURI(connString).hasQuery:
			return connString + "?" + param
		case strings.HasSuffix(connString, "?"), strings.HasSuffix(connString, "&"):
			return connString + param
		default:
			return connString + "&" + param
		}
	}
	pair := key + "=" + quoteValue(value)
	switch {
	case connString == "":
		return pair
	case override:
		return connString + " " + pair
	default:
		return pair + " " + connString
	}
}

func isURI(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// uriParts are the raw (still percent-encoded) pieces of a postgres:// URI.
type uriParts struct {
	userinfo, hosts, query string
	hasQuery               bool
}

// splitURI splits a URI the way libpq does. net/url cannot: it rejects
// URIs libpq accepts, such as a socket directory as the host
// (postgresql://%2Fvar%2Frun%2Fpostgresql/db) or several bracketed IPv6
// hosts, and the flags were then silently dropped.
func splitURI(uri string) uriParts {
	var p uriParts
	rest := uri[strings.Index(uri, "://")+len("://"):]
	// As in libpq, user credentials end at the first "@" before any "/".
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		p.userinfo, rest = rest[:i], rest[i+1:]
	}
	p.hosts = rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		p.hosts = rest[:i]
		_, p.query, p.hasQuery = strings.Cut(rest[i:], "?")
	}
	return p
}

// uriHas reports whether a URI sets key (host, port or user), in its query
// or where the URI syntax puts it.
func uriHas(uri, key string) bool {
	p := splitURI(uri)
	for _, param := range strings.Split(p.query, "&") {
		if k, _, _ := strings.Cut(param, "="); k == key {
			return true
		}
	}
	switch key {
	case "user":
		name, _, _ := strings.Cut(p.userinfo, ":")
		return name != ""
	case "host", "port":
		for _, h := range strings.Split(p.hosts, ",") {
			name, port := h, ""
			if i := strings.IndexByte(h, ']'); strings.HasPrefix(h, "[") && i >= 0 {
				name, port = h[1:i], strings.TrimPrefix(h[i+1:], ":")
			} else {
				name, port, _ = strings.Cut(h, ":")
			}
			if key == "host" && name != "" || key == "port" && port != "" {
				return true
			}
		}
	}
	return false
}

// quoteValue quotes a keyword/value connection string value as libpq
// expects: single quotes, with quotes and backslashes escaped.
func quoteValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// systemServiceFiles are where libpq looks for a service not found in the
// user's ~/.pg_service.conf; pgx reads only the user's file.
func systemServiceFiles() []string {
	var files []string
	if dir := os.Getenv("PGSYSCONFDIR"); dir != "" {
		files = append(files, filepath.Join(dir, "pg_service.conf"))
	}
	return append(files, "/etc/postgresql-common/pg_service.conf")
}

// Config parses the options into a pgx configuration with pgmedic's
// defaults: application_name, a cancel request (not a closed connection)
// when a context ends, and the system-wide service file.
func Config(o Options) (*pgx.ConnConfig, error) {
	connString := o.ConnString()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil && isServiceError(err) && os.Getenv("PGSERVICEFILE") == "" {
		for _, f := range systemServiceFiles() {
			if _, statErr := os.Stat(f); statErr != nil {
				continue
			}
			if c, e := pgx.ParseConfig(withSetting(connString, "servicefile", f, true)); e == nil {
				cfg, err = c, nil
				break
			}
		}
	}
	if err != nil {
		return nil, explainParse(err)
	}
	if o.Password != "" {
		cfg.Password = o.Password
	}
	// Without a database, libpq and the server use the one named after
	// the user; pgx leaves Database empty and lets the server choose.
	// Named here, it is the one every error, the header and the audit log
	// give, and never "".
	if cfg.Database == "" {
		cfg.Database = cfg.User
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = ApplicationName
	}
	// The default handler closes the connection when a context is
	// cancelled; ours is the only one, so ask the server to cancel the
	// statement instead and keep the session.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{
			Conn:               pc,
			CancelRequestDelay: 0,
			DeadlineDelay:      5 * time.Second,
		}
	}
	return cfg, nil
}

func isServiceError(err error) bool {
	var pe *pgconn.ParseConfigError
	return errors.As(err, &pe) && strings.Contains(pe.Error(), "failed to read service")
}

// Open connects and prepares the monitoring session. Behind a pooler the
// server connection is not pgmedic's, so SessionSettings are not set on
// it: the monitoring reads carry them in their own transaction instead.
func Open(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	if cfg.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultConnectTimeout)
		defer cancel()
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, Explain(err, cfg)
	}
	pooled, err := BehindPooler(ctx, conn)
	switch {
	case err == nil && pooled:
		// Named prepared statements (pgx's default) outlive the
		// transaction that made them: behind a transaction pooler they stay
		// on a server connection pgmedic no longer holds, and the next
		// pgmedic there fails with 42P05. Connect again, the first
		// connection closed first, sending every statement unnamed with
		// only its description cached. A direct connection keeps named
		// statements: unnamed ones are planned again on every refresh.
		conn.Close(context.WithoutCancel(ctx))
		unnamed := cfg.Copy()
		unnamed.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		if conn, err = pgx.ConnectConfig(ctx, unnamed); err != nil {
			return nil, Explain(err, cfg)
		}
	case err == nil:
		_, err = conn.Exec(ctx, SessionSettings)
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, Explain(err, cfg)
	}
	return conn, nil
}

// PoolerDatabase is the PgBouncer admin console's database name.
const PoolerDatabase = "pgbouncer"

// PoolerConfig parses --pgbouncer: a connection string, a URI or a
// service name (of the service file, as -d would not take it). The
// database is always the admin console's, whatever the string names, so
// the DSN the application uses for its pool works as it is. The console
// speaks only the simple protocol and takes no session settings beyond
// application_name.
func PoolerConfig(dsn string) (*pgx.ConnConfig, error) {
	if !IsConnString(dsn) {
		dsn = "service=" + quoteValue(dsn)
	}
	cfg, err := Config(Options{DBName: dsn})
	if err != nil {
		return nil, err
	}
	cfg.Database = PoolerDatabase
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	// The console cannot cancel a command; when a read times out the
	// connection is closed and opened again on the next refresh.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	for k := range cfg.RuntimeParams {
		if k != "application_name" {
			delete(cfg.RuntimeParams, k)
		}
	}
	return cfg, nil
}

// OpenPooler connects to a PgBouncer admin console.
func OpenPooler(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	if cfg.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultConnectTimeout)
		defer cancel()
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, explainPooler(Explain(err, cfg))
	}
	return conn, nil
}

// explainPooler turns the advice for a server into the advice for a
// PgBouncer admin console.
func explainPooler(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case strings.Contains(e.Problem, "not allowed"):
		e.Advice = "The admin console admits only the users in PgBouncer's admin_users (stats_users may read, not act): " +
			"add the user there, or connect as one of them."
	case strings.Contains(e.Advice, "PostgreSQL"):
		e.Advice = "Is PgBouncer running there and listening on that address and port (listen_addr, listen_port)?"
	}
	return e
}

// userServiceFile is the service file libpq reads first: PGSERVICEFILE,
// else ~/.pg_service.conf.
func userServiceFile() string {
	if f := os.Getenv("PGSERVICEFILE"); f != "" {
		return f
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".pg_service.conf")
}

// ServiceNames lists the services of the user's service file and then
// the system's, each once, in the files' order: the servers the server
// list offers. A file that is missing or unreadable adds none.
func ServiceNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, path := range append([]string{userServiceFile()}, systemServiceFiles()...) {
		if path == "" {
			continue
		}
		sf, err := pgservicefile.ReadServicefile(path)
		if err != nil {
			continue
		}
		for _, s := range sf.Services {
			if !seen[s.Name] {
				seen[s.Name] = true
				names = append(names, s.Name)
			}
		}
	}
	return names
}
