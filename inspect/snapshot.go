// Package inspect is pgmedic's read side: the catalog SQL that describes a
// PostgreSQL server in trouble, and pure functions that turn its rows into a
// Snapshot (connections, saturation, lock forest, index validity, builds).
//
// Nothing here writes to the server, and nothing here draws anything.
package inspect

import (
	"time"
)

// Snapshot is everything pgmedic knows about the server at one instant.
// Its JSON form is the documented `pgmedic snapshot --json` contract: keys
// may be added, but existing keys keep their name and meaning.
type Snapshot struct {
	TakenAt time.Time `json:"taken_at"`
	// ServerTime is clock_timestamp() on the server when the activity was
	// read; every age in the snapshot is measured against it, so a skewed
	// client clock cannot make a transaction look younger than it is.
	ServerTime time.Time `json:"server_time"`

	Server     Server       `json:"server"`
	Saturation Saturation   `json:"saturation"`
	Backends   []Backend    `json:"connections"`
	LockForest LockForest   `json:"-"` // nested in MarshalJSON
	Indexes    []Index      `json:"indexes"`
	Builds     []IndexBuild `json:"builds"`
	// Operations are the other commands with a progress view: VACUUM,
	// VACUUM FULL and CLUSTER, ANALYZE, COPY, base backups.
	Operations []Operation `json:"operations"`
	// Rewrites are running statements that rewrite or scan a whole table
	// and have no progress view (ALTER TABLE ... ALTER COLUMN TYPE).
	Rewrites []Rewrite      `json:"rewrites"`
	Prepared []PreparedXact `json:"prepared_xacts"`
	// Replication is the primary's standbys, slots and WAL rate, or the
	// standby's replay.
	Replication *Replication `json:"replication"`
	// Pooler is the PgBouncer in front of the server, when pgmedic was
	// given its admin console (--pgbouncer).
	Pooler *Pooler `json:"pgbouncer,omitempty"`

	// IndexesReadAt is when the invalid indexes and the server's settings
	// were read: they change rarely and are read on a slower cadence than
	// the activity (Collector.SlowEvery).
	IndexesReadAt time.Time `json:"indexes_read_at"`
	// Databases lists the databases whose indexes were checked.
	Databases []string `json:"databases_checked"`
	// Warnings say what could not be read and why (missing privileges, a
	// locked table, a database skipped to spare connection slots). A
	// snapshot with warnings is still a valid snapshot.
	Warnings []string `json:"warnings"`
}

// Server describes the server and our own session on it.
type Server struct {
	Version    string `json:"version"`
	VersionNum int    `json:"version_num"`
	Database   string `json:"database"`
	User       string `json:"user"`

	MaxConnections int `json:"max_connections"`
	// SuperuserReserved is superuser_reserved_connections.
	SuperuserReserved int `json:"superuser_reserved_connections"`
	// RoleReserved is reserved_connections (PostgreSQL 16+, 0 before),
	// usable by roles with pg_use_reserved_connections.
	RoleReserved int `json:"role_reserved_connections"`
	// Reserved is every slot an ordinary role cannot use.
	Reserved int `json:"reserved_connections"`
	// Usable is max_connections minus all reserved slots: what the
	// application's ordinary roles can actually fill.
	Usable int `json:"usable_connections"`
	// ClientConnections counts client backends other than our own.
	ClientConnections int  `json:"client_connections"`
	InRecovery        bool `json:"in_recovery"`
	// OwnPID is the backend that ran this snapshot's reads. Behind a
	// pooler it is one of the pool's server connections, and may change
	// from one refresh to the next.
	OwnPID int `json:"own_pid"`
	// Pooler is set when pgmedic reaches PostgreSQL through a connection
	// pooler (PgBouncer, ...): the backend key the server side sent is not
	// the backend pgmedic's statements run on.
	Pooler bool `json:"pooler"`
	// SystemIdentifier is pg_control_system()'s system_identifier, as
	// text (it is unsigned on the server): the same server whichever
	// address, socket or database pgmedic reached it through. A standby
	// has its primary's. "" when our role may not read it.
	SystemIdentifier string `json:"system_identifier,omitempty"`

	Role RolePrivileges `json:"role"`
}

// RoleWord names what our role is, in the terms that decide what it sees
// and may do.
func (s *Server) RoleWord() string {
	switch {
	case s.Role.Superuser:
		return "superuser"
	case s.Role.ReadAllStats:
		return "pg_read_all_stats"
	}
	return "ordinary role"
}

// ModeWord is "primary" or "standby".
func (s *Server) ModeWord() string {
	if s.InRecovery {
		return "standby"
	}
	return "primary"
}

// RolePrivileges is what the connected role may see and do.
type RolePrivileges struct {
	Superuser bool `json:"superuser"`
	// ReadAllStats: without it, other roles' query text reads
	// "<insufficient privilege>" and their progress rows are empty.
	ReadAllStats bool `json:"pg_read_all_stats"`
	// SignalBackend: may cancel/terminate other non-superuser backends.
	SignalBackend bool `json:"pg_signal_backend"`
	// UseReserved: PostgreSQL 16+ pg_use_reserved_connections.
	UseReserved bool `json:"pg_use_reserved_connections"`
}

// Backend is one row of pg_stat_activity, plus what it waits for.
type Backend struct {
	PID             int    `json:"pid"`
	LeaderPID       int    `json:"leader_pid,omitempty"`
	BackendType     string `json:"backend_type"`
	Database        string `json:"database"`
	User            string `json:"user"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	WaitEventType   string `json:"wait_event_type"`
	WaitEvent       string `json:"wait_event"`

	BackendStart *time.Time `json:"backend_start"`
	XactStart    *time.Time `json:"xact_start"`
	QueryStart   *time.Time `json:"query_start"`
	StateChange  *time.Time `json:"state_change"`

	// Query is the current or, when idle, the last statement (truncated
	// by the server to track_activity_query_size).
	Query string `json:"query"`

	// BlockedBy lists the sessions this one waits for, as
	// pg_blocking_pids() reports them: lock holders first, then sessions
	// queued ahead of it for the same lock. Only the first
	// MaxBlockersPerWaiter are kept; BlockersTotal is the true count.
	// Pid 0 is a prepared transaction.
	BlockedBy     []int `json:"blocked_by"`
	BlockersTotal int   `json:"blockers_total"`
	// QueuedBehind is the subset of BlockedBy that does not hold a
	// conflicting lock but is itself waiting for the same lock, ahead of
	// us in the queue (a "soft" block: an ALTER TABLE waiting for its
	// AccessExclusiveLock blocks every reader that arrives after it).
	QueuedBehind []int `json:"blocked_by_queue"`
	// Waiting describes the heavyweight lock this backend waits for.
	Waiting *LockWait `json:"waiting_for"`
	// PreparedGID names the prepared transaction holding the lock we wait
	// for, when BlockedBy contains 0.
	PreparedGID string `json:"prepared_gid,omitempty"`

	// Superuser: the backend's role is a superuser; only a superuser may
	// cancel or terminate it.
	Superuser bool   `json:"superuser"`
	roleOID   uint32 // pg_stat_activity.usesysid

	// Own marks pgmedic's own session; it is left out of counts and trees.
	Own bool `json:"own,omitempty"`

	// graphSig is the server's hash of this waiter's entry in the
	// wait-for graph (lockGraphSQL), when Waiting is set: the next refresh
	// leaves the entry out while it is the same.
	graphSig int64
}

// LockWait is the lock a backend is queued for.
type LockWait struct {
	LockType string `json:"lock_type"`
	Mode     string `json:"mode"`
	// Relation is the relation's name in the connected database, or
	// "db:oid" for a relation in another database; empty for locks that
	// are not on a relation (transactionid, virtualxid, advisory...).
	Relation string `json:"relation"`
	// Since is when the wait began (pg_locks.waitstart, PostgreSQL 14+);
	// nil before 14, where the wait is only known to be at most as old as
	// the current statement.
	Since *time.Time `json:"since"`
}

// PreparedXact is a transaction prepared for two-phase commit. It can hold
// locks with no backend behind it: nothing to cancel or terminate, only
// COMMIT PREPARED or ROLLBACK PREPARED in its database.
type PreparedXact struct {
	GID      string    `json:"gid"`
	Owner    string    `json:"owner"`
	Database string    `json:"database"`
	Prepared time.Time `json:"prepared"`
}

// IsClient reports whether the backend occupies one of the max_connections
// slots (parallel workers, autovacuum and WAL senders have their own pools).
func (b *Backend) IsClient() bool { return b.BackendType == "client backend" }

// WaitsOnLock reports whether the backend is waiting for a heavyweight lock,
// the only kind of wait pg_blocking_pids() and pg_locks describe.
func (b *Backend) WaitsOnLock() bool { return b.WaitEventType == "Lock" }

// IdleInTransaction covers both "idle in transaction" and its aborted form.
func (b *Backend) IdleInTransaction() bool {
	return b.State == "idle in transaction" || b.State == "idle in transaction (aborted)"
}

// age returns now - t, or 0 when t is unknown.
func age(now time.Time, t *time.Time) time.Duration {
	if t == nil || t.IsZero() {
		return 0
	}
	if d := now.Sub(*t); d > 0 {
		return d
	}
	return 0
}

// XactAge is how long the backend's transaction has been open.
func (b *Backend) XactAge(now time.Time) time.Duration { return age(now, b.XactStart) }

// StateAge is how long the backend has been in its current state; for an
// idle-in-transaction session, how long it has been idle.
func (b *Backend) StateAge(now time.Time) time.Duration { return age(now, b.StateChange) }

// QueryAge is how long the current (or last) statement has been running.
func (b *Backend) QueryAge(now time.Time) time.Duration { return age(now, b.QueryStart) }

// WaitAge is how long the backend has waited for its lock. Before
// PostgreSQL 14 there is no waitstart, and the statement's age is the best
// upper bound.
func (b *Backend) WaitAge(now time.Time) time.Duration {
	if b.Waiting == nil {
		return 0
	}
	if b.Waiting.Since != nil {
		return age(now, b.Waiting.Since)
	}
	return age(now, b.QueryStart)
}

// Backend returns the backend with the given pid, or nil.
func (s *Snapshot) Backend(pid int) *Backend {
	for i := range s.Backends {
		if s.Backends[i].PID == pid {
			return &s.Backends[i]
		}
	}
	return nil
}
