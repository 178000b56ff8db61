// Package actions is pgmedic's write side. Every action is first a Plan,
// built purely from snapshot data: the exact statements, the target, what
// must still hold, the effect and the risks, or why it is refused. Only
// then does an executor run it, with guard rails, and write an audit
// record.
package actions

import (
	"fmt"
	"regexp"
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
	Database   string              `json:"database"`
	Schema     string              `json:"schema"`
	Table      string              `json:"table"`
	Name       string              `json:"index"`
	Status     inspect.IndexStatus `json:"status"`
	Unique     bool                `json:"unique"`
	Valid      bool                `json:"valid"`
	Definition string              `json:"definition"`
}

// Statement is one statement of a plan, exactly as it will be sent.
type Statement struct {
	SQL  string `json:"sql"`
	Args []any  `json:"args,omitempty"`
	// Display is the statement with its arguments written in, for people.
	Display string `json:"display"`
}

// Plan is an action before it runs.
type Plan struct {
	Kind     Kind                  `json:"action"`
	Title    string                `json:"title"`
	Backend  *BackendTarget        `json:"backend,omitempty"`
	Index    *IndexTarget          `json:"index,omitempty"`
	Prepared *inspect.PreparedXact `json:"prepared,omitempty"`
	// Statements run in order, each on its own, never in a transaction.
	Statements []Statement `json:"statements"`
	// Preconditions are re-checked on the server right before running.
	Preconditions []string `json:"preconditions"`
	Effect        string   `json:"effect"`
	Risks         []string `json:"risks"`
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

// TerminateWait is how long pg_terminate_backend waits for the backend to
// go (PostgreSQL 14+), and how long pgmedic polls before that.
const TerminateWait = 5 * time.Second

// Signal statements guard against pid reuse and our own session in the
// statement itself: no row, no signal.
const (
	cancelSQL = `SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity
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
	// A parallel worker belongs to its leader's query: signal the leader.
	if b.BackendType == "parallel worker" && b.LeaderPID != 0 && b.LeaderPID != pid {
		if l := s.Backend(b.LeaderPID); l != nil {
			b = l
		}
	}
	p.Backend = backendTarget(s, b)
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
	}
	blocked := ""
	if p.Backend.Blocked > 0 {
		blocked = fmt.Sprintf("; the %d session(s) waiting on it can proceed", p.Backend.Blocked)
	}
	switch kind {
	case Cancel:
		p.Statements = []Statement{{SQL: cancelSQL, Args: []any{b.PID, *b.BackendStart},
			Display: fmt.Sprintf("SELECT pg_cancel_backend(%d)  -- only if backend_start = '%s'", b.PID, b.BackendStart.Format(time.RFC3339Nano))}}
		p.Effect = "the statement it is running stops with an error; the session and its transaction stay" + blocked
		p.Risks = []string{"the application sees its statement fail (SQLSTATE 57014) and may retry it"}
	case Terminate:
		if caps.TerminateTimeout {
			p.Statements = []Statement{{SQL: terminateWaitSQL, Args: []any{b.PID, *b.BackendStart, TerminateWait.Milliseconds()},
				Display: fmt.Sprintf("SELECT pg_terminate_backend(%d, %d)  -- only if backend_start = '%s'", b.PID, TerminateWait.Milliseconds(), b.BackendStart.Format(time.RFC3339Nano))}}
		} else {
			p.Statements = []Statement{{SQL: terminateSQL, Args: []any{b.PID, *b.BackendStart},
				Display: fmt.Sprintf("SELECT pg_terminate_backend(%d)  -- only if backend_start = '%s'; then wait for it to go", b.PID, b.BackendStart.Format(time.RFC3339Nano))}}
		}
		p.Effect = "the session ends and its connection closes"
		if b.XactStart != nil {
			p.Effect += fmt.Sprintf("; its transaction, open since %s (%s), rolls back", b.XactStart.Format("15:04:05"),
				human.Duration(s.ServerTime.Sub(*b.XactStart)))
		}
		p.Effect += "; its locks are released" + blocked
		p.Risks = []string{"the work of its open transaction is lost", "the application sees its connection drop and must reconnect"}
	}
	if why, alt := refuseSignal(s, caps, kind, b); why != "" {
		p.Refusal, p.Alternative = why, alt
	}
	return p
}

func refuseSignal(s *inspect.Snapshot, caps Caps, kind Kind, b *inspect.Backend) (why, alternative string) {
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
	_ = s
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

// PlanDropIndex plans DROP INDEX CONCURRENTLY of an invalid index.
func PlanDropIndex(ix *inspect.Index) Plan {
	p := Plan{Kind: DropIndex, Index: indexTarget(ix), Dedicated: true,
		Title: "Drop invalid index " + ix.QualifiedName()}
	p.Statements = dropStatements(ix)
	p.Preconditions = indexPreconditions(ix)
	p.Effect = "the invalid index is removed; writes to " + ix.QualifiedTable() + " stop maintaining it"
	p.Risks = []string{
		"it waits for every transaction that has the table open; while it waits, pgmedic shows who it waits for and retries after each lock timeout",
		"it never takes a lock that blocks reads or writes of the table",
	}
	if ix.RejectsDuplicates() {
		p.Risks = append(p.Risks, "this UNIQUE index still rejects duplicates today: once dropped, duplicates can be inserted until it is rebuilt")
	}
	p.Refusal, p.Alternative = refuseIndex(ix, DropIndex)
	return p
}

// PlanRebuild plans a concurrent rebuild. A failed build is dropped and
// created again from its definition (a failed REINDEX CONCURRENTLY would
// leave a second invalid index behind); a valid index is reindexed
// concurrently; a REINDEX leftover is only dropped.
func PlanRebuild(ix *inspect.Index) Plan {
	p := Plan{Kind: Rebuild, Index: indexTarget(ix), Dedicated: true, Title: "Rebuild index " + ix.QualifiedName()}
	p.Preconditions = indexPreconditions(ix)
	p.Refusal, p.Alternative = refuseIndex(ix, Rebuild)
	if !p.Allowed() {
		return p
	}
	if ix.Valid {
		p.Statements = []Statement{plain("SET statement_timeout = 0"), plain("SET lock_timeout = 0"),
			plain("REINDEX INDEX CONCURRENTLY " + ident(ix.Schema, ix.Name))}
		p.Effect = "the index is built again beside the old one and swapped in; it keeps its name"
		p.Risks = []string{"while it runs, writes maintain two copies of the index", "if it fails it leaves an invalid <name>_ccnew to drop"}
		return p
	}
	create, ok := concurrentCreate(ix.Definition)
	if !ok {
		p.Refusal = "its definition could not be read or is not a plain CREATE INDEX (the table may be locked)"
		p.Alternative = "try again once the lock on the table is gone"
		return p
	}
	// CREATE INDEX CONCURRENTLY only queues a SHARE UPDATE EXCLUSIVE
	// request, which stalls no reader or writer; a lock timeout on it would
	// mostly manufacture invalid indexes.
	p.Statements = append(dropStatements(ix), plain("SET lock_timeout = 0"), plain(create))
	p.Effect = "the invalid index is dropped and built again, concurrently, under the same name"
	if ix.Unique {
		p.Effect += "; it stays UNIQUE"
	}
	p.Risks = []string{
		"the build reads the whole table twice and waits for transactions that hold older snapshots; reads and writes go on",
		"cancelled or failed, it leaves an invalid index again, to be dropped (drop-index, or D)",
	}
	if ix.Unique {
		p.Risks = append(p.Risks, "if the table still has duplicate keys the build would fail again: pgmedic looks for one first "+
			"(bounded by a statement timeout) and refuses, naming the key")
	}
	return p
}

func refuseIndex(ix *inspect.Index, kind Kind) (why, alternative string) {
	if kind == Rebuild && ix.Valid {
		// REINDEX CONCURRENTLY keeps constraints and foreign keys
		// pointing at the index: only what it cannot do is refused.
		switch {
		case ix.Exclusion:
			return "it backs an exclusion constraint: PostgreSQL cannot rebuild those concurrently", "rebuild it in a maintenance window"
		case ix.Partitioned:
			return "it is a partitioned index: rebuild its partitions' indexes one by one", ""
		}
		return "", ""
	}
	switch {
	case ix.Status == inspect.IndexBuilding:
		return fmt.Sprintf("it is being built right now (pid %d)", ix.BuildPID), "wait for the build, or cancel pid " + strconv.Itoa(ix.BuildPID)
	case ix.Partitioned:
		return "it is a partitioned index: there is no concurrent way to drop or rebuild one",
			"create the missing index CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION each to the parent"
	case ix.Constraint != "":
		return fmt.Sprintf("it implements the %s constraint %s", ix.ConstraintType, inspect.QuoteIdent(ix.Constraint)),
			"ALTER TABLE ... DROP CONSTRAINT, or REINDEX INDEX CONCURRENTLY if it is only bloated"
	case len(ix.ReferencedBy) > 0:
		return "foreign keys depend on it (" + strings.Join(ix.ReferencedBy, ", ") + "), and DROP INDEX CONCURRENTLY cannot CASCADE", ""
	case ix.Exclusion && kind == Rebuild:
		return "it backs an exclusion constraint: PostgreSQL cannot build those concurrently, and recreating it from its definition would drop the constraint's meaning",
			"rebuild it in a maintenance window"
	case kind == DropIndex && ix.Valid:
		return "it is valid: this action is for invalid indexes", "DROP INDEX CONCURRENTLY it by hand if it is really unused"
	case kind == Rebuild && (ix.Status == inspect.IndexReindexNew || ix.Status == inspect.IndexReindexOld):
		return "it is a leftover of REINDEX CONCURRENTLY: there is nothing to rebuild", "drop it (D)"
	}
	return "", ""
}

// dropStatements lift the monitoring session's statement_timeout (the DDL
// connection is opened with it) and bound each lock wait instead.
func dropStatements(ix *inspect.Index) []Statement {
	return []Statement{plain("SET statement_timeout = 0"),
		plain(fmt.Sprintf("SET lock_timeout = '%dms'", DropLockTimeout.Milliseconds())),
		plain("DROP INDEX CONCURRENTLY IF EXISTS " + ident(ix.Schema, ix.Name))}
}

func indexPreconditions(ix *inspect.Index) []string {
	pre := []string{fmt.Sprintf("index oid %d is still %s", ix.OID, ix.QualifiedName())}
	if !ix.Valid {
		pre = append(pre, "it is still invalid", "no build is running on it")
	}
	return pre
}

func indexTarget(ix *inspect.Index) *IndexTarget {
	return &IndexTarget{OID: ix.OID, Database: ix.Database, Schema: ix.Schema, Table: ix.Table, Name: ix.Name,
		Status: ix.Status, Unique: ix.Unique, Valid: ix.Valid, Definition: ix.Definition}
}

func plain(sql string) Statement { return Statement{SQL: sql, Display: sql} }

// ident quotes a qualified name through pgx: never concatenated raw.
func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

var createIndexRE = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX `)

// concurrentCreate turns pg_get_indexdef() output into its CONCURRENTLY
// form. A plain replace of "CREATE INDEX" would miss CREATE UNIQUE INDEX
// and build it without CONCURRENTLY; ON ONLY (a partitioned parent) cannot
// be built concurrently at all.
func concurrentCreate(def string) (string, bool) {
	if def == "" || !createIndexRE.MatchString(def) || strings.Contains(def, " ON ONLY ") {
		return "", false
	}
	return createIndexRE.ReplaceAllString(def, "CREATE ${1}INDEX CONCURRENTLY "), true
}

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
	lit := "'" + strings.ReplaceAll(gid, "'", "''") + "'"
	p.Statements = []Statement{plain("ROLLBACK PREPARED " + lit)}
	p.Preconditions = []string{fmt.Sprintf("it is run in its database %q, by its owner %q or a superuser", px.Database, px.Owner)}
	p.Effect = fmt.Sprintf("the transaction prepared %s ago by %s is rolled back and its locks are released",
		human.Duration(s.ServerTime.Sub(px.Prepared)), px.Owner)
	p.Risks = []string{
		"a prepared transaction belongs to an external transaction manager, which may still mean to COMMIT it: its work is lost for good",
		"the transaction manager will see it gone and may report an error",
	}
	if !s.Server.Role.Superuser && px.Owner != s.Server.User {
		p.Refusal = fmt.Sprintf("only its owner %q or a superuser may roll it back (we are %q)", px.Owner, s.Server.User)
	}
	return p
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
