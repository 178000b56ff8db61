package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// actionCommands maps each command to its kind.
var actionCommands = map[string]actions.Kind{
	"cancel": actions.Cancel, "terminate": actions.Terminate,
	"drop-index": actions.DropIndex, "rebuild-index": actions.Rebuild,
	"rollback-prepared": actions.RollbackPrepared,
}

// runAction is `pgmedic cancel|terminate PID`, `pgmedic
// drop-index|rebuild-index [SCHEMA.]NAME` and `pgmedic rollback-prepared
// GID`: print the plan, ask (or require --yes without a terminal), run it
// with the guard rails, and exit 0 only when the effect was verified. A
// signal cancels it; it then exits 128+signal, saying so.
func runAction(ctx context.Context, f *flags, command, target string, stdin io.Reader, stdout, stderr io.Writer) error {
	kind := actionCommands[command]
	ctx, intr := cancelOnSignals(ctx, stderr)
	defer intr.stop()
	// A cancelled DDL cleans up after itself on its connection: it keeps
	// the pgx handler's longer wait before its socket is shut.
	grace := interruptGrace
	if kind == actions.DropIndex || kind == actions.Rebuild {
		grace = 0
	}
	d := newDeadline(ctx, f.limit(command), grace)
	defer d.stop()
	err := d.explain(act(d.ctx, f, kind, target, d, stdin, stdout, stderr))
	if err == nil || ctx.Err() == nil {
		return err // done and verified, even if a signal came after
	}
	sig := intr.received()
	name, code := signalName(sig), 128+int(sig.(syscall.Signal))
	var ee *exitError
	if errors.As(err, &ee) {
		err = ee.err
	}
	return &exitError{code: code, err: fmt.Errorf("interrupted by %s: %w", name, err)}
}

func act(ctx context.Context, f *flags, kind actions.Kind, target string, d *deadline, stdin io.Reader, stdout, stderr io.Writer) error {
	// An action that cannot be recorded is refused before anything is
	// read or planned, rather than found out after it ran; a dry run
	// changes nothing, so it only warns.
	auditPath, auditErr := f.auditLog, error(nil)
	if auditPath == "" {
		auditPath = actions.DefaultAuditPath()
	}
	if !f.noAudit {
		if auditErr = (&actions.Audit{Path: auditPath}).Check(); auditErr != nil && !f.dryRun {
			return &exitError{code: 1, err: fmt.Errorf("%v: %s was refused and nothing was done; pass --no-audit to run without an audit record",
				auditErr, kind)}
		}
	}
	auditLine := "audit: " + auditPath
	switch {
	case f.noAudit:
		auditLine = "audit: off (--no-audit)"
	case auditErr != nil:
		auditLine = fmt.Sprintf("audit: %v: a real run would be refused; pass --no-audit to run without an audit record", auditErr)
	}

	conn, cfg, err := openConn(ctx, f, d)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	d.waitingFor(fmt.Sprintf("the server to answer the statements that plan the %s (it accepted the connection, then stopped answering)", kind))
	coll, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		return err
	}
	snap, err := coll.Snapshot(ctx)
	if err != nil {
		return connect.ExplainRead(err)
	}
	var plan actions.Plan
	switch kind {
	case actions.RollbackPrepared:
		plan = actions.PlanRollbackPrepared(snap, target)
	case actions.Cancel, actions.Terminate:
		pid, _ := strconv.Atoi(target) // parseCommand checked it
		plan = actions.PlanSignal(snap, kind, pid)
	default:
		ix, err := inspect.ReadIndex(ctx, conn, target)
		if err != nil {
			return connect.ExplainRead(err)
		}
		if ix == nil {
			return fmt.Errorf("there is no index %s in database %q (name it as in SQL: schema.name, with double quotes where needed)",
				safetext.Line(target), snap.Server.Database)
		}
		if kind == actions.DropIndex {
			plan = actions.PlanDropIndex(ix, snap.Server.InRecovery)
		} else {
			plan = actions.PlanRebuild(ix, snap.Server.InRecovery)
		}
	}
	actions.RefuseBehindPooler(&plan, snap.Server)
	guard(&plan, f)
	printPlan(stdout, &plan)

	env := actions.Env{
		Monitor: func(ctx context.Context, fn func(*pgx.Conn) error) error { return fn(conn) },
		Dedicated: func(ctx context.Context, db string) (*pgx.Conn, error) {
			other := cfg.Copy()
			other.Database = db
			return connect.Open(ctx, other)
		},
		Snapshot: coll.FullSnapshot,
		Progress: func(msg string) { fmt.Fprintln(stderr, "pgmedic:", safetext.Line(msg)) },
	}
	if !f.noAudit {
		env.Audit = auditFor(f, cfg, snap.Server.SystemIdentifier)
	}
	switch {
	case !plan.Allowed():
		r := actions.Run(ctx, env, plan, snap) // records the refusal
		fmt.Fprintln(stdout, safetext.Line(auditLine))
		return &exitError{code: 1, err: fmt.Errorf("%s", safetext.Line(r.Describe()))}
	case f.dryRun:
		fmt.Fprintln(stdout, "dry run: nothing was done")
		if f.noAudit || auditErr != nil {
			fmt.Fprintln(stdout, safetext.Line(auditLine))
		}
		if id := plan.Identity(); id != "" {
			fmt.Fprintln(stdout, "to run this very plan, and refuse if its target has changed since:")
			fmt.Fprintln(stdout, "  "+safetext.Line(rerunCommand(kind, target, id, f)))
			if hadPassword(f.conn.DBName) {
				fmt.Fprintln(stdout, "  (the password in -d is left out: give it with -W, PGPASSWORD or ~/.pgpass)")
			}
		}
		return nil
	case !f.yes:
		d.pause() // the user's time to read the plan is not the server's
		ok, err := confirm(ctx, stdin, stdout)
		d.resume()
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(stdout, "not confirmed: nothing was done")
			return &exitError{code: 1, err: fmt.Errorf("not confirmed")}
		}
	}
	// A pid the user read some time ago may belong to another session
	// now: say exactly which one is about to be hit.
	fmt.Fprintln(stdout, safetext.Line(describeTarget(&plan, f.expect)))
	d.waitingFor(fmt.Sprintf("the server to carry out the %s and show its effect", kind))
	r := actions.Run(ctx, env, plan, snap)
	fmt.Fprintln(stdout, safetext.Line(r.Describe()))
	fmt.Fprintln(stdout, safetext.Line(auditLine))
	if !r.OK() {
		return &exitError{code: 1, err: fmt.Errorf("%s did not complete", plan.Kind)}
	}
	return nil
}

// guard applies the command line's rails to a plan built from the raw
// snapshot: --read-only refuses it, so does an --expect that names
// another target than the one there now, and --redact then hides
// literals in what is printed and recorded.
func guard(p *actions.Plan, f *flags) {
	if f.readOnly && p.Allowed() {
		p.Refusal, p.Alternative = "pgmedic runs read-only (--read-only): no action changes the server", ""
	}
	if err := p.CheckExpect(f.expect); err != nil && p.Allowed() {
		p.Refusal = err.Error()
		p.Alternative = "look again with --dry-run: it prints the identity of what is there now"
	}
	if f.redact {
		redactPlan(p, redact.New())
	}
}

// redactPlan takes the literals out of what a plan shows and records: the
// target's query text and its index definition. It runs after planning,
// on the plan alone: planned from redacted text, a plan could act on
// something other than what the server has. The statements are pgmedic's
// own text (pids, start times, timeouts, names; a rebuild is REINDEX by
// name, never a definition), so they are shown and recorded as they run.
func redactPlan(p *actions.Plan, r *redact.Redactor) {
	if b := p.Backend; b != nil {
		b.Query = r.Query(b.Query)
	}
	if ix := p.Index; ix != nil && strings.Contains(ix.Definition, " WHERE ") {
		// Only a partial index's predicate brings the server's literals
		// into a definition, as in the snapshot's own redaction.
		ix.Definition = redact.Lex(ix.Definition)
	}
}

// confirm asks on a terminal; without one, there is no one to ask.
func confirm(ctx context.Context, stdin io.Reader, stdout io.Writer) (bool, error) {
	if f, ok := stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return false, usageError("no terminal to confirm on: pass --yes to run it anyway, or --dry-run to only print the plan")
	}
	return ask(ctx, stdin, stdout)
}

// ask reads the answer, or gives up when ctx ends: a read from a
// terminal cannot be interrupted, and a signal must not wait for a key.
func ask(ctx context.Context, stdin io.Reader, stdout io.Writer) (bool, error) {
	fmt.Fprint(stdout, "Run it? Type yes to run, anything else cancels: ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout)
		return false, fmt.Errorf("not confirmed: nothing was done")
	case a := <-answer:
		return a == "yes" || a == "y", nil
	}
}

// interruption cancels an action on SIGINT, SIGTERM or SIGHUP (a dropped
// SSH session), so that the executor stops what runs on the server and
// still writes its record; a second SIGINT or SIGTERM exits at once.
type interruption struct {
	mu   sync.Mutex
	sig  os.Signal
	stop func()
}

func cancelOnSignals(parent context.Context, stderr io.Writer) (context.Context, *interruption) {
	// Detached from main's context, which the same SIGINT or SIGTERM
	// cancels: that would race this handler, and the action could end
	// before it is known which signal ended it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	in := &interruption{}
	// SIGPIPE is caught too, and ignored: with it caught, a write to a
	// standard output whose reader went away (ssh without a terminal)
	// fails instead of killing pgmedic in the middle of an action.
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if sig == syscall.SIGPIPE {
					continue
				}
				in.mu.Lock()
				first := in.sig == nil
				if first {
					in.sig = sig
				}
				in.mu.Unlock()
				switch {
				case first:
					hint := ""
					if sig == os.Interrupt {
						hint = " (Ctrl+C again exits at once)"
					}
					fmt.Fprintf(stderr, "pgmedic: %s: cancelling the action%s\n", signalName(sig), hint)
					cancel()
				case sig != syscall.SIGHUP: // a hangup repeats itself; a second Ctrl+C is a person
					fmt.Fprintf(stderr, "pgmedic: %s again: exiting without waiting for the action to wind down\n", signalName(sig))
					os.Exit(128 + int(sig.(syscall.Signal)))
				}
			}
		}
	}()
	in.stop = func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	return ctx, in
}

func (in *interruption) received() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

func printPlan(w io.Writer, p *actions.Plan) {
	out := func(format string, args ...any) { fmt.Fprintln(w, safetext.Line(fmt.Sprintf(format, args...))) }
	out("%s", p.Title)
	if b := p.Backend; b != nil {
		out("  backend   pid %d, user %s, application %s, client %s, database %s", b.PID, orDash(b.User), orDash(b.Application), orDash(b.Client), orDash(b.Database))
		out("  state     %s; %d session(s) waiting on it", orDash(b.State), b.Blocked)
		out("  query     %s", b.Query)
	}
	if px := p.Prepared; px != nil {
		out("  prepared  gid '%s', owner %s, database %s, prepared %s", px.GID, px.Owner, px.Database, px.Prepared.Format("2006-01-02 15:04:05 MST"))
	}
	if ix := p.Index; ix != nil {
		out("  index     %s.%s on %s (oid %d, database %s, %s)", inspect.QuoteIdent(ix.Schema), inspect.QuoteIdent(ix.Name),
			inspect.QuoteIdent(ix.Table), ix.OID, ix.Database, orDash(string(ix.Status)))
	}
	if id := p.Identity(); id != "" {
		out("  identity  %s", id)
	}
	if len(p.Statements) > 0 {
		fmt.Fprintln(w, "  SQL, each statement on its own, outside any transaction:")
		for _, st := range p.Statements {
			out("    %s;", st.Display)
		}
	}
	for _, pre := range p.Preconditions {
		out("  checks    %s", pre)
	}
	if p.Effect != "" {
		out("  effect    %s", p.Effect)
	}
	for _, step := range p.Steps {
		out("  step      %s", step)
	}
	for _, risk := range p.Risks {
		out("  risk      %s", risk)
	}
	if !p.Allowed() {
		out("  REFUSED   %s", p.Refusal)
		if p.Alternative != "" {
			out("  instead   %s", p.Alternative)
		}
	}
}

// describeTarget is one line naming what is about to be acted on.
func describeTarget(p *actions.Plan, expect string) string {
	var what string
	switch {
	case p.Backend != nil:
		b := p.Backend
		what = fmt.Sprintf("pid %d, started %s, application %s, user %s, client %s", b.PID,
			b.BackendStart.UTC().Format("2006-01-02 15:04:05.000000 MST"), orDash(b.Application), orDash(b.User), orDash(b.Client))
	case p.Index != nil:
		ix := p.Index
		what = fmt.Sprintf("index %s.%s on %s, oid %d, database %s", inspect.QuoteIdent(ix.Schema), inspect.QuoteIdent(ix.Name),
			inspect.QuoteIdent(ix.Table), ix.OID, ix.Database)
	case p.Prepared != nil:
		px := p.Prepared
		what = fmt.Sprintf("prepared transaction '%s', prepared %s, owner %s, database %s", px.GID,
			px.Prepared.UTC().Format("2006-01-02 15:04:05.000000 MST"), orDash(px.Owner), px.Database)
	default:
		return "target: -"
	}
	if expect != "" {
		return "target: " + what + " (as --expect said)"
	}
	return "target: " + what + " (identity " + p.Identity() + ")"
}

// rerunCommand is the command line that runs the plan just printed and
// nothing else: the same target, its identity, and the connection and
// audit options given, so the real run reaches the same server.
func rerunCommand(kind actions.Kind, target, identity string, f *flags) string {
	words := []string{"pgmedic", string(kind), target, "--expect", identity, "--yes"}
	for _, o := range [][2]string{{"-h", f.conn.Host}, {"-p", f.conn.Port}, {"-U", f.conn.User},
		{"-d", withoutPassword(f.conn.DBName)}, {"--audit-log", f.auditLog}} {
		if o[1] != "" {
			words = append(words, o[0], o[1])
		}
	}
	if f.askPassword {
		words = append(words, "-W")
	}
	if f.redact {
		words = append(words, "--redact")
	}
	if f.noAudit {
		words = append(words, "--no-audit")
	}
	if strings.HasPrefix(target, "-") {
		// The target goes last, after "--", so it is not read as a flag.
		words = append(append(words[:2:2], words[3:]...), "--", target)
	}
	for i := range words {
		words[i] = shellQuote(words[i])
	}
	return strings.Join(words, " ")
}

// shellQuote makes s one word for sh, quoting only when it must.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var kvPassword = regexp.MustCompile(`(?i)(?:^|\s+)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)`)

// withoutPassword drops a password (and a client key's sslpassword) from a -d connection string or URI: a
// command line meant to be copied, pasted and kept in incident notes must
// not carry one.
func withoutPassword(dsn string) string {
	if !connect.IsConnString(dsn) {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		_, inUser := u.User.Password()
		q := u.Query()
		if !inUser && !q.Has("password") && !q.Has("sslpassword") {
			return dsn // as typed: url.URL.String would re-escape it
		}
		if inUser {
			u.User = url.User(u.User.Username())
		}
		if q.Has("password") || q.Has("sslpassword") {
			q.Del("password")
			q.Del("sslpassword")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return strings.TrimSpace(kvPassword.ReplaceAllString(dsn, ""))
}

func hadPassword(dsn string) bool { return withoutPassword(dsn) != dsn }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
