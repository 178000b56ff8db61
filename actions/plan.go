// Package actions is pgmedic's write side. Every action is first a Plan,
// built purely from snapshot data: the exact statements, the target, what
// must still hold, the effect and the risks, or why it is refused. Only
// then does an executor run it, with guard rails, and write an audit
// record.
package actions

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// Kind names an action.
type Kind string

const (
	Cancel    Kind = "cancel"
	Terminate Kind = "terminate"
	DropIndex Kind = "drop-index"
	Rebuild   Kind = "rebuild-index"
)

// BackendTarget identifies a backend: a pid alone can be reused by a new
// session, so its start time goes with it.
type BackendTarget struct {
	PID          int        `json:"pid"`
	BackendStart time.Time  `json:"backend_start"`
	User         string     `json:"user"`
	Application  string     `json:"application_name"`
	Database     string     `json:"database"`
	Client       string     `json:"client_addr"`
	State        string     `json:"state"`
	Query        string     `json:"query"`
	XactStart    *time.Time `json:"xact_start,omitempty"`
	Blocked      int        `json:"blocked"` // sessions waiting on it, transitively
}

// IndexTarget identifies an index: its OID (a rebuilt index keeps its
// name but not its OID) and its schema-qualified name.
type IndexTarget struct {
	OID        uint32              `json:"oid"`
	TableOID   uint32              `json:"table_oid"`
	Database   string              `json:"database"`
	Schema     string              `json:"schema"`
	Table      string              `json:"table"`
	Name       string              `json:"index"`
	Status     inspect.IndexStatus `json:"status"`
	Unique     bool                `json:"unique"`
	Valid      bool                `json:"valid"`
	Ready      bool                `json:"ready"`
	Definition string              `json:"definition"`
}

// Statement is one statement of a plan, exactly as it will be sent.
type Statement struct {
	SQL  string `json:"sql"`
	Args []any  `json:"args,omitempty"`
	// Display is the statement with its arguments written in, for people:
	// it runs as shown, guards included.
	Display string `json:"display"`
	// MinVersion, when set, is the first server version (server_version_num)
	// the statement exists on; older servers skip it.
	MinVersion int `json:"min_version,omitempty"`
}

// Plan is an action before it runs.
type Plan struct {
	Kind     Kind                  `json:"action"`
	Title    string                `json:"title"`
	Backend  *BackendTarget        `json:"backend,omitempty"`
	Index    *IndexTarget          `json:"index,omitempty"`
	Prepared *inspect.PreparedXact `json:"prepared,omitempty"`
	Pooler   *PoolerTarget         `json:"pgbouncer,omitempty"`
	// Statements run in order, each on its own, never in a transaction.
	Statements []Statement `json:"statements"`
	// Preconditions are re-checked on the server right before running.
	Preconditions []string `json:"preconditions"`
	Effect        string   `json:"effect"`
	Risks         []string `json:"risks"`
	// Steps say, for an action of several steps, what protects the data
	// at each one.
	Steps []string `json:"steps,omitempty"`
	// Refusal, when set, says why this plan must not run, and
	// Alternative what to do instead.
	Refusal     string `json:"refusal,omitempty"`
	Alternative string `json:"alternative,omitempty"`
	// Dedicated: the action runs on a second connection (DDL that can
	// wait), so the monitoring connection keeps refreshing.
	Dedicated bool `json:"dedicated_connection"`
}

// Allowed reports whether the plan may run.
func (p *Plan) Allowed() bool { return p.Refusal == "" }

// Caps is what the server and our role allow.
type Caps struct {
	inspect.Capabilities
	Superuser     bool
	SignalBackend bool
	User          string
	OwnPID        int
}

// CapsOf reads them from a snapshot.
func CapsOf(s *inspect.Snapshot) Caps {
	c, _ := inspect.CapabilitiesFor(s.Server.VersionNum)
	return Caps{Capabilities: c, Superuser: s.Server.Role.Superuser, SignalBackend: s.Server.Role.SignalBackend,
		User: s.Server.User, OwnPID: s.Server.OwnPID}
}

// TerminateWait is how long pg_terminate_backend waits on the server for
// the backend to go (PostgreSQL 14+). It stays well under the monitoring
// session's 5 s statement_timeout, which would otherwise cancel the call
// after the signal was delivered and make a success look like a refusal.
const TerminateWait = 3 * time.Second

// GoneDeadline is how long pgmedic looks, in all, for a terminated backend
// to leave, or for a cancelled statement to stop.
const GoneDeadline = 10 * time.Second

// Signal statements guard against pid reuse and our own session in the
// statement itself: no row, no signal. Cancel also returns the statement's
// start, so that its stopping can be told from a new statement.
const (
	cancelSQL = `SELECT pg_catalog.pg_cancel_backend(pid), query_start FROM pg_catalog.pg_stat_activity
WHERE pid = $1 AND backend_start = $2 AND pid <> pg_catalog.pg_backend_pid()`
	terminateWaitSQL = `SELECT pg_catalog.pg_terminate_backend(pid, $3) FROM pg_catalog.pg_stat_activity
WHERE pid = $1 AND backend_start = $2 AND pid <> pg_catalog.pg_backend_pid()`
	terminateSQL = `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
WHERE pid = $1 AND backend_start = $2 AND pid <> pg_catalog.pg_backend_pid()`
)

// PlanSignal plans a cancel or a terminate of backend pid.
func PlanSignal(s *inspect.Snapshot, kind Kind, pid int) Plan {
	caps := CapsOf(s)
	p := Plan{Kind: kind}
	b := s.Backend(pid)
	if b == nil {
		p.Title = fmt.Sprintf("%s backend %d", kind, pid)
		p.Refusal = fmt.Sprintf("there is no backend with pid %d (it may have ended already)", pid)
		return p
	}
	p.Backend = backendTarget(s, b)
	// A parallel worker runs a piece of its leader's query: signalling the
	// leader instead would end the leader's whole statement or session,
	// which is not what the user pointed at. Say so and name the leader.
	if b.BackendType == "parallel worker" && b.LeaderPID != 0 && b.LeaderPID != pid {
		p.Title = fmt.Sprintf("%s parallel worker %d", kind, pid)
		p.Refusal = fmt.Sprintf("pid %d is a parallel worker of pid %d's query: it cannot be signalled on its own, "+
			"and signalling its leader would %s", pid, b.LeaderPID,
			map[Kind]string{Cancel: "cancel the leader's whole statement", Terminate: "end the leader's whole session"}[kind])
		p.Alternative = fmt.Sprintf("act on the leader if that is what you mean: pgmedic %s %d", kind, b.LeaderPID)
		return p
	}
	if b.BackendStart == nil {
		p.Title = fmt.Sprintf("%s backend %d", kind, b.PID)
		p.Refusal = fmt.Sprintf("its start time is hidden from role %q (no pg_read_all_stats), so a reused pid could not be told apart", caps.User)
		p.Alternative = "GRANT pg_monitor TO " + inspect.QuoteIdent(caps.User) + ", or connect as a superuser"
		return p
	}
	p.Title = fmt.Sprintf("%s backend %d (%s)", map[Kind]string{Cancel: "Cancel the query of", Terminate: "Terminate"}[kind],
		b.PID, orDash(b.ApplicationName))
	p.Preconditions = []string{
		fmt.Sprintf("backend %d still exists and started at %s (not a new session on a reused pid)", b.PID, b.BackendStart.Format(time.RFC3339Nano)),
		"it is not pgmedic's own session",
		"no other pgmedic is acting on it",
	}
	blocked := ""
	if p.Backend.Blocked > 0 {
		blocked = fmt.Sprintf("; the %d session(s) waiting on it can proceed", p.Backend.Blocked)
	}
	switch kind {
	case Cancel:
		p.Statements = []Statement{signalStatement(cancelSQL, b.PID, *b.BackendStart)}
		p.Effect = "the statement it is running stops with an error; the session and its transaction stay" + blocked
		p.Risks = []string{"the application sees its statement fail (SQLSTATE 57014) and may retry it",
			"a statement that catches the cancel, or a backend that is stuck, keeps running: pgmedic checks, and says so"}
	case Terminate:
		if caps.TerminateTimeout {
			p.Statements = []Statement{signalStatement(terminateWaitSQL, b.PID, *b.BackendStart, TerminateWait.Milliseconds())}
		} else {
			p.Statements = []Statement{signalStatement(terminateSQL, b.PID, *b.BackendStart)}
		}
		p.Effect = "the session ends and its connection closes"
		if b.XactStart != nil {
			p.Effect += fmt.Sprintf("; its transaction, open %s (since %s), rolls back",
				human.Duration(s.ServerTime.Sub(*b.XactStart)), b.XactStart.Format("15:04:05"))
		}
		p.Effect += "; its locks are released" + blocked
		p.Risks = []string{"the work of its open transaction is lost", "the application sees its connection drop and must reconnect"}
	}
	if why, alt := refuseSignal(caps, kind, b); why != "" {
		p.Refusal, p.Alternative = why, alt
	}
	return p
}

// signalStatement is a signal statement with its guard: Display is the
// same statement with the values written in (and without the pg_catalog
// qualification, which only guards pgmedic's own session against a
// hostile search_path), so what is shown and copied is runnable and keeps
// the pid-reuse guard in its WHERE clause.
func signalStatement(sql string, pid int, start time.Time, wait ...int64) Statement {
	st := Statement{SQL: sql, Args: []any{pid, start}}
	values := []string{"$1", strconv.Itoa(pid), "$2", timestampLiteral(start), "\n", " ", "pg_catalog.", ""}
	if len(wait) > 0 {
		st.Args = append(st.Args, wait[0])
		values = append(values, "$3", strconv.FormatInt(wait[0], 10))
	}
	st.Display = strings.NewReplacer(values...).Replace(sql)
	return st
}

// timestampLiteral writes a time as a timestamptz literal PostgreSQL reads
// back to the same microsecond.
func timestampLiteral(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.000000") + "+00'"
}

func refuseSignal(caps Caps, kind Kind, b *inspect.Backend) (why, alternative string) {
	switch {
	case b.Own || b.PID == caps.OwnPID:
		return "this is pgmedic's own session", ""
	case b.BackendType == "autovacuum worker" && strings.Contains(b.Query, "(to prevent wraparound)"):
		return "this autovacuum prevents transaction ID wraparound: it must be left alone (terminated, it only starts again from scratch)", ""
	case b.BackendType == "autovacuum worker":
		return "this is an autovacuum worker: a normal autovacuum that blocks someone cancels itself after deadlock_timeout", "wait a second or two and look again"
	case b.BackendType != "client backend" && b.BackendType != "":
		return fmt.Sprintf("this is a %s, not a client session; signalling it is not something to do from an incident tool", b.BackendType), ""
	case b.Superuser && !caps.Superuser:
		return fmt.Sprintf("its role %q is a superuser, and only a superuser may signal it (we are %q)", b.User, caps.User),
			"connect pgmedic as a superuser"
	case !caps.Superuser && !caps.SignalBackend && b.User != caps.User:
		return fmt.Sprintf("role %q may signal only its own sessions: it lacks pg_signal_backend", caps.User),
			"GRANT pg_signal_backend TO " + inspect.QuoteIdent(caps.User) + ", or connect as a superuser"
	case kind == Cancel && b.IdleInTransaction():
		return "it is idle in a transaction: there is no running statement to cancel, so cancel would do nothing while it keeps its locks",
			"terminate it instead (its transaction rolls back)"
	case kind == Cancel && b.State == "idle":
		return "it is idle: there is no running statement to cancel", "terminate it if it holds a session-level lock"
	}
	return "", ""
}

func backendTarget(s *inspect.Snapshot, b *inspect.Backend) *BackendTarget {
	t := &BackendTarget{PID: b.PID, User: b.User, Application: b.ApplicationName, Database: b.Database,
		Client: b.ClientAddr, State: b.State, Query: b.Query, XactStart: b.XactStart}
	if b.BackendStart != nil {
		t.BackendStart = *b.BackendStart
	}
	for i := range s.LockForest.Nodes {
		if n := &s.LockForest.Nodes[i]; n.PID == b.PID && n.Backend >= 0 {
			t.Blocked = n.BlockedTotal
		}
	}
	return t
}

// DropLockTimeout bounds each wait of DROP INDEX CONCURRENTLY: a failed
// attempt on an invalid index is harmless, and is retried.
var DropLockTimeout = 5 * time.Second

// dropStatementTimeout bounds one DROP INDEX CONCURRENTLY attempt: its
// waits are bounded by the lock timeout, and the rest is catalog work.
const dropStatementTimeout = 2 * time.Minute

// RebuildTimeout sizes the statement_timeout of REINDEX INDEX CONCURRENTLY
// to the table: half an hour, plus a minute for every 100 MB (about 1.7
// MB/s, far slower than a build on an idle server reads), at most 48
// hours. It is the backstop that ends a build orphaned by a pgmedic that
// died, where the server cannot notice a closed connection by itself
// (before PostgreSQL 14).
func RebuildTimeout(tableBytes int64) time.Duration {
	d := 30*time.Minute + time.Duration(tableBytes/(100<<20))*time.Minute
	return min(d, 48*time.Hour)
}

// ddlSession is how the DDL connection is set up, on top of the settings
// every pgmedic session has (connect.SessionSettings: keepalives among
// them): every wait and the whole statement are bounded, and on 14+ the
// server polls the client socket every 2 s during the statement, so it
// ends the statement on its own if pgmedic disappears (SIGKILL).
func ddlSession(statementTimeout, lockTimeout time.Duration) []Statement {
	lock := "0"
	if lockTimeout > 0 {
		lock = fmt.Sprintf("'%dms'", lockTimeout.Milliseconds())
	}
	return []Statement{
		plain(fmt.Sprintf("SET statement_timeout = '%dmin'; SET lock_timeout = %s", int(statementTimeout.Minutes()), lock)),
		{SQL: "SET client_connection_check_interval = '2s'", Display: "SET client_connection_check_interval = '2s'", MinVersion: 140000},
	}
}

// PlanDropIndex plans DROP INDEX CONCURRENTLY of an invalid index;
// standby says the server is in recovery (Server.InRecovery).
func PlanDropIndex(ix *inspect.Index, standby bool) Plan {
	p := Plan{Kind: DropIndex, Index: indexTarget(ix), Dedicated: true,
		Title: "Drop invalid index " + ix.QualifiedName()}
	p.Statements = append(ddlSession(dropStatementTimeout, DropLockTimeout),
		plain("DROP INDEX CONCURRENTLY IF EXISTS "+ident(ix.Schema, ix.Name)))
	p.Preconditions = indexPreconditions(ix, DropIndex)
	// In the words the index's status uses (inspect.IndexStatus.Describe):
	// a ready index is maintained by every write, one that is not ready is
	// not maintained (never, or not since a drop began).
	p.Effect = "the invalid index is removed; writes to " + ix.QualifiedTable() + " maintain it today and stop doing so"
	if !ix.Ready {
		p.Effect = "the invalid index is removed; it is not maintained, so writes do not change"
	}
	p.Risks = []string{
		fmt.Sprintf("it waits for every transaction that has the table open, %s at a time; pgmedic names them, and retries", human.Duration(DropLockTimeout)),
		"it never takes a lock that blocks reads or writes of the table",
	}
	if ix.RejectsDuplicates() {
		p.Risks = append(p.Risks, "this UNIQUE index still rejects duplicates today: once dropped, duplicates can be inserted. "+
			"Rebuild it instead (R) to keep that protection")
	}
	p.Refusal, p.Alternative = refuseIndex(ix, DropIndex, standby)
	return p
}

// PlanRebuild plans REINDEX INDEX CONCURRENTLY, for a valid index and an
// invalid one alike. It builds the replacement beside the old index and
// swaps it in, so there is never a moment without the protection the old
// index gave; the swap also carries what pg_get_indexdef() does not
// (constraint, comment, tablespace, statistics targets). Dropping first
// and creating again, as migration tools do, leaves a UNIQUE index's
// table unprotected for the whole build.
func PlanRebuild(ix *inspect.Index, standby bool) Plan {
	p := Plan{Kind: Rebuild, Index: indexTarget(ix), Dedicated: true, Title: "Rebuild index " + ix.QualifiedName()}
	p.Preconditions = indexPreconditions(ix, Rebuild)
	p.Refusal, p.Alternative = refuseIndex(ix, Rebuild, standby)
	if !p.Allowed() {
		return p
	}
	timeout := RebuildTimeout(ix.TableBytes)
	p.Statements = append(ddlSession(timeout, 0), plain("REINDEX INDEX CONCURRENTLY "+ident(ix.Schema, ix.Name)))
	p.Effect = "a new copy of the index is built beside it and swapped in under the same name; the old copy is dropped"
	// Each step starts with what protects the data then: at 80 columns
	// the dialog keeps the start of a line.
	keeps := "the index stays as it is"
	switch {
	case ix.Valid && ix.Unique:
		keeps = "the index keeps serving queries and rejecting duplicates"
	case ix.Valid:
		keeps = "the index keeps serving queries"
	case ix.RejectsDuplicates():
		keeps = "the index keeps rejecting duplicates (no query uses it)"
	case ix.Unique:
		keeps = "nothing rejects duplicates today (the index never became ready): the copy does once it is ready"
	}
	p.Steps = []string{
		"1 " + keeps + ", while a copy is built beside it, concurrently; reads and writes go on",
		"2 a failed or cancelled build leaves the index untouched, and pgmedic drops the unfinished copy",
		"3 the swap, in one catalog transaction: the copy takes the name, constraint, comment, tablespace and statistics targets, and protects the table from then on",
		"4 the old copy is dropped once no query uses it; if that fails, the rebuild has still succeeded and pgmedic drops the leftover",
	}
	p.Risks = []string{
		"the build reads the whole table twice, and waits for writers and for transactions with older snapshots; pgmedic names them while it waits",
		"while it runs, writes maintain both copies",
		fmt.Sprintf("it is bounded by a statement timeout sized to the table (%s); on 14+ the server ends it within seconds if pgmedic dies "+
			"(client_connection_check_interval is skipped on 13)", human.Duration(timeout)),
	}
	if ix.Unique {
		p.Risks = append(p.Risks, "if the table has duplicate keys the build fails: pgmedic looks for one first (bounded) and refuses, naming the key")
	}
	return p
}

// onStandby is the refusal of an action that writes: a hot standby runs
// only read-only transactions, so the server would refuse it only after
// the user had confirmed it. The index is the primary's, replicated.
func onStandby(what string) (why, alternative string) {
	return "this server is a standby (in recovery): it is read-only, and " + what + " can only run on the primary",
		"run it on the primary; the standby replays the change"
}

func refuseIndex(ix *inspect.Index, kind Kind, standby bool) (why, alternative string) {
	switch {
	case standby && kind == DropIndex:
		return onStandby("DROP INDEX")
	case standby:
		return onStandby("REINDEX")
	case ix.Status == inspect.IndexBuilding:
		return fmt.Sprintf("it is being built right now (pid %d)", ix.BuildPID), "wait for the build, or cancel pid " + strconv.Itoa(ix.BuildPID)
	case ix.Partitioned && kind == Rebuild:
		return "it is a partitioned index: rebuild its partitions' indexes one by one, then ALTER INDEX ... ATTACH PARTITION each again", ""
	case ix.Partitioned:
		return "it is a partitioned index: there is no concurrent way to drop one",
			"create the missing index CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION each to the parent"
	case kind == Rebuild && ix.Exclusion:
		return "it backs an exclusion constraint: PostgreSQL cannot rebuild those concurrently", "rebuild it in a maintenance window"
	case kind == Rebuild && ix.Schema == "pg_toast":
		return "it is an index of a TOAST table: PostgreSQL cannot rebuild an invalid one concurrently", "drop it (D)"
	case kind == Rebuild && (ix.Status == inspect.IndexReindexNew || ix.Status == inspect.IndexReindexOld):
		return "it is a leftover of REINDEX CONCURRENTLY: there is nothing to rebuild", "drop it (D)"
	case kind == Rebuild:
		return "", ""
	case ix.Valid:
		return "it is valid: this action is for invalid indexes", "DROP INDEX CONCURRENTLY it by hand if it is really unused"
	case ix.Constraint != "":
		return fmt.Sprintf("it implements the %s constraint %s", ix.ConstraintType, inspect.QuoteIdent(ix.Constraint)),
			"rebuild it (R): the constraint moves to the new copy"
	case len(ix.ReferencedBy) > 0:
		return "foreign keys depend on it (" + strings.Join(ix.ReferencedBy, ", ") + "), and DROP INDEX CONCURRENTLY cannot CASCADE",
			"rebuild it (R) instead"
	}
	return "", ""
}

func indexPreconditions(ix *inspect.Index, kind Kind) []string {
	pre := []string{fmt.Sprintf("oid %d is still %s on %s, re-read before every attempt", ix.OID, ix.QualifiedName(), ix.QualifiedTable()),
		"no build runs on the table", "no other pgmedic is acting on it"}
	if kind == DropIndex {
		pre = append(pre, "it is still invalid")
	}
	return pre
}

func indexTarget(ix *inspect.Index) *IndexTarget {
	return &IndexTarget{OID: ix.OID, TableOID: ix.TableOID, Database: ix.Database, Schema: ix.Schema, Table: ix.Table, Name: ix.Name,
		Status: ix.Status, Unique: ix.Unique, Valid: ix.Valid, Ready: ix.Ready, Definition: ix.Definition}
}

func plain(sql string) Statement { return Statement{SQL: sql, Display: sql} }

// ident quotes a qualified name through pgx: never concatenated raw.
func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RollbackPrepared rolls back a prepared transaction: the only way to
// release locks held with no backend behind them.
const RollbackPrepared Kind = "rollback-prepared"

// PlanRollbackPrepared plans ROLLBACK PREPARED of a transaction by gid.
// It is a separate, explicit action: the transaction belongs to an
// external transaction manager, which may still mean to commit it.
func PlanRollbackPrepared(s *inspect.Snapshot, gid string) Plan {
	p := Plan{Kind: RollbackPrepared, Title: "Roll back prepared transaction '" + gid + "'", Dedicated: true}
	var px *inspect.PreparedXact
	for i := range s.Prepared {
		if s.Prepared[i].GID == gid {
			px = &s.Prepared[i]
		}
	}
	if px == nil {
		p.Refusal = fmt.Sprintf("there is no prepared transaction '%s' (it may have been committed or rolled back)", gid)
		return p
	}
	p.Prepared = px
	p.Statements = []Statement{plain("ROLLBACK PREPARED " + stringLiteral(gid))}
	p.Preconditions = []string{fmt.Sprintf("it is run in its database %q, by its owner %q or a superuser", px.Database, px.Owner),
		fmt.Sprintf("the transaction named '%s' is still the one prepared at %s", gid, px.Prepared.UTC().Format(time.RFC3339Nano))}
	p.Effect = fmt.Sprintf("the transaction prepared %s ago by %s is rolled back and its locks are released",
		human.Duration(s.ServerTime.Sub(px.Prepared)), px.Owner)
	p.Risks = []string{
		"a prepared transaction belongs to an external transaction manager, which may still mean to COMMIT it: its work is lost for good",
		"the transaction manager will see it gone and may report an error",
	}
	if s.Server.InRecovery {
		p.Refusal, p.Alternative = onStandby("ROLLBACK PREPARED")
	} else if !s.Server.Role.Superuser && px.Owner != s.Server.User {
		p.Refusal = fmt.Sprintf("only its owner %q or a superuser may roll it back (we are %q)", px.Owner, s.Server.User)
	}
	return p
}

// stringLiteral quotes a value for a statement that takes no parameters
// (ROLLBACK PREPARED). A backslash makes it an escape-string literal (E prefix), which reads
// the same whatever standard_conforming_strings says; a plain literal
// would mean something else when it is off.
func stringLiteral(v string) string {
	q := strings.ReplaceAll(v, "'", "''")
	if !strings.Contains(v, `\`) {
		return "'" + q + "'"
	}
	return "E'" + strings.ReplaceAll(q, `\`, `\\`) + "'"
}

// refusePreparedSignal explains why a lock held by a prepared transaction
// cannot be cancelled or terminated.
func refusePreparedSignal(kind Kind, gid string) Plan {
	return Plan{Kind: kind, Title: fmt.Sprintf("%s the holder of prepared transaction '%s'", kind, gid),
		Refusal: "a prepared transaction holds this lock with no backend behind it: there is nothing to cancel or terminate",
		Alternative: fmt.Sprintf("roll it back with `pgmedic rollback-prepared '%s'` (ROLLBACK PREPARED in its database), "+
			"if its transaction manager will not finish it", gid)}
}

// PlanSignalPrepared is the plan for C or K on a prepared transaction: a
// refusal that shows the gid and the separate action.
func PlanSignalPrepared(kind Kind, gid string) Plan { return refusePreparedSignal(kind, gid) }
