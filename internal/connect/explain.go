package connect

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/internal/safetext"
)

// Error is a connection failure explained: what was tried, what went
// wrong, and what to do. It never contains the password.
type Error struct {
	Target   string // where we tried to connect, e.g. `db1:5432 as user "app", database "shop"`
	Problem  string // what went wrong, one sentence
	Advice   string // what to do about it; may be empty
	SQLState string // the server's error code, when the server answered
	Err      error
}

func (e *Error) Error() string {
	msg := "cannot connect to " + e.Target + ": " + e.Problem
	if e.Advice != "" {
		msg += " " + e.Advice
	}
	return safetext.Line(msg)
}

func (e *Error) Unwrap() error { return e.Err }

// TooManyClients reports whether the server refused us for lack of
// connection slots (SQLSTATE 53300).
func (e *Error) TooManyClients() bool { return e.SQLState == "53300" }

func target(cfg *pgx.ConnConfig) string {
	where := cfg.Host + ":" + strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		where = "the socket in " + cfg.Host + " (port " + strconv.Itoa(int(cfg.Port)) + ")"
	}
	return fmt.Sprintf("%s as user %q, database %q", where, cfg.User, cfg.Database)
}

// Explain turns a connection error into an *Error.
func Explain(err error, cfg *pgx.ConnConfig) error {
	e := &Error{Target: target(cfg), Err: err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.SQLState = pgErr.Code
		explainServer(e, pgErr, cfg)
		return e
	}
	explainClient(e, err, cfg)
	return e
}

func explainServer(e *Error, pgErr *pgconn.PgError, cfg *pgx.ConnConfig) {
	said := fmt.Sprintf("the server said: %s (SQLSTATE %s).", pgErr.Message, pgErr.Code)
	msg := pgErr.Message
	switch pgErr.Code {
	case "53300":
		e.Problem = "no connection slot is left for this role: " + said
		if strings.Contains(msg, "too many clients") {
			e.Problem = "no connection slot is left on the server: " + said
		}
		switch {
		case strings.Contains(msg, "too many connections for role"):
			e.Advice = fmt.Sprintf("Role %q has reached its CONNECTION LIMIT (pg_roles.rolconnlimit). "+
				"Connect as another role, or raise it with ALTER ROLE ... CONNECTION LIMIT.", cfg.User)
		case strings.Contains(msg, "too many connections for database"):
			e.Advice = fmt.Sprintf("Database %q has reached its CONNECTION LIMIT (pg_database.datconnlimit); "+
				"a superuser can still connect, or connect to another database of the same server "+
				"(pgmedic sees every backend from any database).", cfg.Database)
		case strings.Contains(msg, "reserved"):
			e.Advice = "Every slot an ordinary role may use is taken; the last superuser_reserved_connections " +
				"slots are kept for superusers (and on PostgreSQL 16+ the reserved_connections slots for roles " +
				"granted pg_use_reserved_connections). Connect as a superuser, or on 16+ as a role with " +
				"pg_use_reserved_connections (GRANT pg_use_reserved_connections TO your_role; reserved_connections " +
				"must be > 0, which takes a restart). pgmedic holds a single connection: start it before the pool fills."
		default:
			e.Advice = "All max_connections slots are in use, the superuser-reserved ones included. " +
				"Only a backend ending frees one: if you have a session open already (psql, pgmedic), use it; " +
				"otherwise ask whoever can reach the application to stop its workers or restart its pool."
		}
	case "28P01":
		e.Problem = "the password was rejected: " + said
		if cfg.Password == "" {
			e.Advice = "No password was given: pass one with -W (prompt), PGPASSWORD, the connection string, " +
				"or ~/.pgpass (host:port:database:user:password, mode 0600)."
		} else {
			e.Advice = "Check the password (from -W, PGPASSWORD, the connection string or ~/.pgpass) and the user name."
		}
	case "28000":
		e.Problem = "the server refused this client: " + said
		switch {
		case strings.Contains(msg, "no pg_hba.conf entry") && strings.Contains(msg, "no encryption"),
			strings.Contains(msg, "no pg_hba.conf entry") && strings.Contains(msg, "SSL off"):
			e.Advice = "Its pg_hba.conf allows this user and address only over TLS: connect with sslmode=require " +
				"(or verify-full with sslrootcert)."
		case strings.Contains(msg, "no pg_hba.conf entry"):
			e.Advice = "Its pg_hba.conf has no line for this user, database and address; ask for one, or connect from an allowed host."
		case strings.Contains(msg, "does not exist"):
			e.Advice = "Check the user name (-U, PGUSER, or the connection string)."
		}
	case "3D000":
		e.Problem = "the database does not exist: " + said
		e.Advice = "Name an existing database with -d (any database will do: pgmedic sees every backend of the server)."
	case "42501":
		e.Problem = "permission denied: " + said
		e.Advice = fmt.Sprintf("Role %q needs the CONNECT privilege on database %q, or connect to another database.", cfg.User, cfg.Database)
	case "57P03":
		e.Problem = "the server is not accepting connections yet: " + said
		e.Advice = "It is starting up, shutting down or in crash recovery; try again in a moment."
	case "57014":
		e.Problem = "the connection was cancelled: " + said
	default:
		e.Problem = said
	}
}

func explainClient(e *Error, err error, cfg *pgx.ConnConfig) {
	var (
		dnsErr  *net.DNSError
		certErr *x509.UnknownAuthorityError
		hostErr x509.HostnameError
		opErr   *net.OpError
	)
	text := err.Error()
	switch {
	// By type, not by text: pgx's text repeats the user and database
	// names, and a database called "timeouts" turned a refusal into a
	// timeout.
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || isNetTimeout(err):
		e.Problem = "no answer before the connect timeout."
		e.Advice = "The host may be down, firewalled, or overloaded; check the address, or set connect_timeout."
	case errors.As(err, &dnsErr):
		e.Problem = fmt.Sprintf("the host name %q does not resolve.", dnsErr.Name)
		e.Advice = "Check -h / PGHOST."
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Problem = "the connection was refused."
		e.Advice = "Is PostgreSQL running there and listening on that address and port (listen_addresses, port)?"
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		e.Problem = "there is no server socket there."
		e.Advice = "Is PostgreSQL running on this machine? -h must name the socket directory " +
			"(often /var/run/postgresql or /tmp), and -p the port it listens on."
	case errors.Is(err, syscall.EACCES):
		e.Problem = "permission denied opening the socket."
		e.Advice = "Your OS user may not reach that socket directory; connect over TCP with -h HOST."
	case strings.Contains(text, "server refused TLS connection"):
		e.Problem = "the server does not accept TLS, but sslmode requires it."
		e.Advice = "Use sslmode=prefer or disable only if the network is trusted; otherwise enable ssl on the server."
	case errors.As(err, &certErr), errors.As(err, &hostErr), strings.Contains(text, "x509:"), strings.Contains(text, "tls:"):
		e.Problem = "the TLS handshake failed: " + lastLine(text) + "."
		e.Advice = "Check sslmode, sslrootcert and the host name the certificate was issued for."
	case errors.As(err, &opErr):
		e.Problem = lastLine(text) + "."
	default:
		e.Problem = lastLine(text) + "."
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lastLine keeps the innermost reason of pgx's nested error text, which
// repeats user and database names the Target already gives.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "): "); i >= 0 {
		s = s[i+3:]
	}
	return strings.TrimSuffix(s, ".")
}

var quotedInput = regexp.MustCompile(`"[^"]*"`)

// explainParse reports a malformed connection string without repeating
// it: it may hold a password.
func explainParse(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// pgx prefixes the (best-effort redacted) string: drop it all.
		msg := pe.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
		// What is left can still quote the input: `missing "=" after
		// "horse"` for password=correct horse battery=staple, or
		// `invalid percent-encoded token: "..."` for a URI's ?password=.
		msg = quotedInput.ReplaceAllStringFunc(msg, func(q string) string {
			if q == `"="` {
				return q
			}
			return `"..."`
		})
		if strings.Contains(msg, `missing "="`) {
			msg += "; a value containing spaces must be in single quotes"
		}
		return fmt.Errorf("invalid connection settings: %s", safetext.Line(msg))
	}
	return fmt.Errorf("invalid connection settings: %s", safetext.Line(err.Error()))
}

// ExplainRead turns a failure while reading the server's state, on a
// connection that was working, into a sentence a responder can act on.
// Other errors are returned as they are.
func ExplainRead(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("interrupted")
	case errors.As(err, &pgErr) && pgErr.Code == "57014":
		return fmt.Errorf("the server did not answer within pgmedic's statement_timeout (5s): it may be overloaded "+
			"or stuck on I/O; nothing was changed (%w)", err)
	case errors.As(err, &pgErr) && pgErr.Code == "55P03":
		return fmt.Errorf("reading the catalog had to wait for a lock held by the incident, and pgmedic does not wait "+
			"(lock_timeout 200ms); try again (%w)", err)
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		return fmt.Errorf("permission denied reading the server's state; connect with a role that has pg_monitor "+
			"(%w)", err)
	case errors.As(err, &pgErr) && (pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"):
		return fmt.Errorf("the server is shutting down or restarting, or our session was terminated (%w)", err)
	case errors.As(err, &pgErr):
		return err
	case pgconn.Timeout(err) || isNetTimeout(err):
		return fmt.Errorf("the server stopped answering: no reply before the deadline (%w)", err)
	case pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("lost the connection to the server while reading (%w)", err)
	}
	return err
}

// PasswordRefused reports whether err (or what it wraps) is the server
// refusing the connection for its password (SQLSTATE 28P01): the server
// is up, and a password, or another one, would let pgmedic in.
func PasswordRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "28P01"
}
