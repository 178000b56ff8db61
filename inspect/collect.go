package inspect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Collector reads Snapshots over one connection. It is not safe for
// concurrent use: a pgx.Conn runs one statement at a time, and pgmedic
// never opens a second connection to watch.
//
// Every refresh sends three statements in one batch: the clock and
// prepared transactions, the activity with its lock graph, and the index
// builds. What changes rarely (settings, role privileges, invalid indexes)
// is read every SlowEvery, in the same batch, and carried over in between;
// it is read at once after ReadAllNext, when the running index builds
// change, and on the first snapshot.
type Collector struct {
	conn *pgx.Conn
	caps Capabilities
	// systemID is the server's system_identifier, read once.
	systemID string
	// SlowEvery is the cadence of the slow-changing reads.
	SlowEvery time.Duration
	// LockGraphSlowAt is the number of lock waiters from which the lock
	// graph is read only every LockGraphSlowEvery: pg_blocking_pids()
	// costs grow with every queue's length, so its total grows with the
	// square of one queue.
	LockGraphSlowAt    int
	LockGraphSlowEvery time.Duration

	activity, activityNoGraph string

	// Carried over between snapshots.
	server       Server
	superusers   map[uint32]bool
	indexes      []Index
	indexWarn    []string
	slowAt       time.Time // zero: read the slow data on the next snapshot
	graphAt      time.Time
	graphWaiters int
	prev         *Snapshot
	words        map[string]string // see intern
	scans        struct{ tick, activity, builds scanner }
	args         struct {
		waitPIDs, waitStarts, waitEvents, waitBlockers arrayLiteral
		seen, seenQuiet, seenChange, seenXact, seenApp arrayLiteral
		// next are the next activity statement's parameters, made from
		// prev right after it was built, while its rows are still in the
		// CPU's caches: a second later, the walk over them cost twice
		// as much.
		next []any
		// quiet are the pids $7 marks, sorted.
		quiet []int32
	}

	// The previous snapshot's builds give the rate for an ETA.
	prevBuilds   []IndexBuild
	prevBuildsAt time.Time
}

// Defaults of the Collector's cadences.
const (
	DefaultSlowEvery          = 10 * time.Second
	DefaultLockGraphSlowAt    = 500
	DefaultLockGraphSlowEvery = 5 * time.Second
)

// NewCollector prepares to read snapshots over conn. It fails with an
// *UnsupportedVersionError on servers older than PostgreSQL 13.
func NewCollector(ctx context.Context, conn *pgx.Conn) (*Collector, error) {
	num, err := serverVersionNum(ctx, conn)
	if err != nil {
		return nil, err
	}
	caps, err := CapabilitiesFor(num)
	if err != nil {
		return nil, err
	}
	sysid, err := readSystemIdentifier(ctx, conn)
	if err != nil {
		return nil, err
	}
	return &Collector{conn: conn, caps: caps, systemID: sysid,
		SlowEvery: DefaultSlowEvery, LockGraphSlowAt: DefaultLockGraphSlowAt, LockGraphSlowEvery: DefaultLockGraphSlowEvery,
		activity: activitySQL(caps, true), activityNoGraph: activitySQL(caps, false)}, nil
}

// readSystemIdentifier reads pg_control_system()'s system_identifier, as
// text (it is unsigned on the server), or "" when our role may not call
// it. Everyone may by default, but an administrator can revoke it, and
// the server checks the privilege when it plans a statement, even one
// whose CASE would not call it: so the check is a statement of its own.
// It never changes while the server runs, so it is read once.
func readSystemIdentifier(ctx context.Context, conn *pgx.Conn) (string, error) {
	var may bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')`).Scan(&may); err != nil {
		return "", fmt.Errorf("reading the server's identity: %w", err)
	}
	if !may {
		return "", nil
	}
	var id string
	if err := conn.QueryRow(ctx, `SELECT system_identifier::text FROM pg_catalog.pg_control_system()`).Scan(&id); err != nil {
		return "", fmt.Errorf("reading the server's identity: %w", err)
	}
	return id, nil
}

// ReadAllNext makes the next Snapshot read the slow-changing data too:
// after an action that drops or rebuilds an index, say.
func (c *Collector) ReadAllNext() { c.slowAt = time.Time{} }

// FullSnapshot is Snapshot with the slow-changing data read afresh: for
// the snapshots that verify an action's effect.
func (c *Collector) FullSnapshot(ctx context.Context) (*Snapshot, error) {
	c.ReadAllNext()
	return c.Snapshot(ctx)
}

// Capabilities reports what the server's catalogs offer.
func (c *Collector) Capabilities() Capabilities { return c.caps }

// serverVersionNum reads the version the server reported at startup,
// falling back to asking it.
func serverVersionNum(ctx context.Context, conn *pgx.Conn) (int, error) {
	if n := parseServerVersion(conn.PgConn().ParameterStatus("server_version")); n > 0 {
		return n, nil
	}
	var s string
	if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&s); err != nil {
		return 0, fmt.Errorf("reading the server version: %w", err)
	}
	return strconv.Atoi(s)
}

// parseServerVersion turns "15.18 (Debian 15.18-0+deb12u1)" or "17beta2"
// into a server_version_num; 0 when it cannot.
func parseServerVersion(v string) int {
	major, rest := leadingInt(v)
	if major < 10 {
		return 0 // 9.x and older use three parts; not supported anyway
	}
	minor := 0
	if strings.HasPrefix(rest, ".") {
		minor, _ = leadingInt(rest[1:])
	}
	return major*10000 + minor
}

func leadingInt(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:]
}

// Snapshot reads the server's state: limits, every backend and what blocks
// it, running index builds, prepared transactions, and the connected
// database's invalid indexes. All statements go out as one batch (one
// network round trip), in one implicit transaction so the statistics views
// agree with each other.
//
// A locked table never stalls it: the statements run under the session's
// lock_timeout, and the index listing skips the calls that would wait
// (recording what it skipped in Warnings and Index.Unavailable).
func (c *Collector) Snapshot(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{TakenAt: time.Now()}
	slow := c.slowAt.IsZero() || s.TakenAt.Sub(c.slowAt) >= c.SlowEvery
	graph := c.graphWaiters < c.LockGraphSlowAt || s.TakenAt.Sub(c.graphAt) >= c.LockGraphSlowEvery
	batch := &pgx.Batch{}
	batch.Queue(tickSQL)
	if slow {
		batch.Queue(serverSQL)
	}
	activity := c.activity
	if !graph {
		activity = c.activityNoGraph
	}
	if c.args.next == nil {
		c.args.next = c.activityArgs()
	}
	batch.Queue(activity, c.args.next...)
	batch.Queue(buildsSQL)
	if slow {
		batch.Queue(invalidIndexesSQL)
	}
	br := c.conn.SendBatch(ctx, batch)

	var ownPID int
	server, superusers := c.server, c.superusers
	err := scanTick(br, &c.scans.tick, s, &server, &ownPID)
	if err == nil && slow {
		err = scanServer(br.QueryRow(), &server, &superusers)
	}
	if err == nil {
		err = c.scanBackends(br, s, superusers, ownPID)
	}
	if err == nil {
		err = scanBuilds(br, &c.scans.builds, s)
	}
	var indexes []Index
	var indexErr error
	if err == nil && slow {
		indexErr = scanIndexes(br, &indexes)
	}
	if cerr := br.Close(); err == nil && indexErr == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if indexErr != nil {
		if !isLockOrStatementTimeout(indexErr) {
			return nil, fmt.Errorf("reading invalid indexes: %w", indexErr)
		}
		// A lock arrived between the guard and the call.
		if indexes, err = readIndexesNoLock(ctx, c.conn); err != nil {
			return nil, err
		}
	}
	server.OwnPID = ownPID
	server.Pooler = ownPID != int(c.conn.PgConn().PID())
	server.SystemIdentifier = c.systemID
	s.Server = server
	c.server, c.superusers = server, superusers
	if slow {
		finishIndexes(indexes)
		c.indexes, c.slowAt = indexes, s.TakenAt
	}
	// Each snapshot owns its indexes: the TUI and the actions keep them.
	s.Indexes = slices.Clone(c.indexes)
	s.IndexesReadAt = c.slowAt
	if graph {
		c.graphAt = s.TakenAt
	} else {
		c.carryLockGraph(s)
		s.LockGraphInterval = c.LockGraphSlowEvery.Seconds()
	}
	s.LockGraphReadAt = c.graphAt
	c.finish(s)
	if graph {
		c.graphWaiters = s.LockForest.Waiting
	}
	if buildsChanged(c.prev, s) {
		c.ReadAllNext() // a build that ended changed the indexes' validity
	}
	c.prev = s
	c.args.next = c.activityArgs()
	return s, nil
}

// activityArgs are the activity statement's parameters, from the
// previous snapshot: the waits whose lock it knew ($1-$4), the rows it saw
// ($5) with their state_change ($6), xact_start ($9) and application_name
// ($10), which of those rows were quiet ($7), each as an array literal
// whose buffer is kept between refreshes, and how many were ($8). The quiet rows' pids are kept in
// pid order too: when all of them are still quiet, the server says so
// instead of listing them.
func (c *Collector) activityArgs() []any {
	a := &c.args
	for _, l := range []*arrayLiteral{&a.waitPIDs, &a.waitStarts, &a.waitEvents, &a.waitBlockers,
		&a.seen, &a.seenQuiet, &a.seenChange, &a.seenXact, &a.seenApp} {
		l.reset()
	}
	a.quiet = a.quiet[:0]
	if c.prev != nil {
		for i := range c.prev.Backends {
			b := &c.prev.Backends[i]
			if knownWait(b) {
				a.waitPIDs.int(b.PID)
				a.waitStarts.time(b.QueryStart)
				a.waitEvents.text(b.WaitEvent)
				a.waitBlockers.int(b.BlockedBy[0])
			}
			if b.StateChange != nil {
				q := quiet(b)
				a.seen.int(b.PID)
				a.seenQuiet.bool(q)
				a.seenChange.time(b.StateChange)
				a.seenXact.time(b.XactStart)
				a.seenApp.text(b.ApplicationName)
				if q {
					a.quiet = append(a.quiet, int32(b.PID))
				}
			}
		}
	}
	return []any{a.waitPIDs.String(), a.waitStarts.String(), a.waitEvents.String(), a.waitBlockers.String(),
		a.seen.String(), a.seenChange.String(), a.seenQuiet.String(), len(a.quiet), a.seenXact.String(), a.seenApp.String()}
}

// arrayLiteral builds a PostgreSQL array literal, {1,2,3}, in a buffer
// kept between refreshes. The activity statement's arrays go to the server
// as text: pgx's binary array encoder (by reflection, for timestamps) took
// a tenth of a refresh's CPU, and a string is sent as it is.
type arrayLiteral []byte

func (l *arrayLiteral) reset() { *l = append((*l)[:0], '{') }

func (l *arrayLiteral) sep() {
	if len(*l) > 1 {
		*l = append(*l, ',')
	}
}

func (l *arrayLiteral) int(n int) {
	l.sep()
	*l = strconv.AppendInt(*l, int64(n), 10)
}

func (l *arrayLiteral) bool(v bool) {
	l.sep()
	if v {
		*l = append(*l, 't')
	} else {
		*l = append(*l, 'f')
	}
}

// time appends t to microseconds, as the server keeps it, or NULL.
func (l *arrayLiteral) time(t *time.Time) {
	l.sep()
	if t == nil {
		*l = append(*l, "NULL"...)
		return
	}
	*l = append(*l, '"')
	*l = t.AppendFormat(*l, "2006-01-02 15:04:05.999999Z07:00")
	*l = append(*l, '"')
}

// text appends s quoted, its quotes and backslashes escaped.
func (l *arrayLiteral) text(s string) {
	l.sep()
	*l = append(*l, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			*l = append(*l, '\\')
		}
		*l = append(*l, s[i])
	}
	*l = append(*l, '"')
}

func (l arrayLiteral) String() string { return string(l) + "}" }

// quiet reports whether b is a session waiting for its client to send
// something (idle, or idle in a transaction) and for nothing else. While
// its state_change and wait stay the same, every column of its row does:
// the activity statement leaves such a row out and the client carries it.
func quiet(b *Backend) bool {
	return b.WaitEventType == "Client" && b.WaitEvent == "ClientRead" && len(b.BlockedBy) == 0 &&
		b.Waiting == nil && b.PreparedGID == "" && strings.HasPrefix(b.State, "idle")
}

// knownWait reports whether the snapshot knows what b waits for, and who
// blocks it.
func knownWait(b *Backend) bool { return b.Waiting != nil && len(b.BlockedBy) > 0 }

// sameWait reports whether b waits for what prev waited for: the same
// session, statement, kind of lock and first blocker.
func sameWait(prev, b *Backend) bool {
	return prev != nil && knownWait(prev) && len(b.BlockedBy) > 0 && sameTime(prev.BackendStart, b.BackendStart) &&
		sameTime(prev.QueryStart, b.QueryStart) && prev.WaitEvent == b.WaitEvent && prev.BlockedBy[0] == b.BlockedBy[0]
}

// buildsChanged reports whether an index build started or ended since the
// previous snapshot.
func buildsChanged(prev, s *Snapshot) bool {
	if prev == nil {
		return false
	}
	if len(prev.Builds) != len(s.Builds) {
		return true
	}
	for i := range s.Builds {
		if s.Builds[i].PID != prev.Builds[i].PID || s.Builds[i].IndexOID != prev.Builds[i].IndexOID {
			return true
		}
	}
	return false
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// carryLockGraph gives the backends that still wait, in the same
// session, the edges and lock the previous snapshot read for them. New
// waiters stay without edges until the next lock-graph read.
func (c *Collector) carryLockGraph(s *Snapshot) {
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.WaitEventType != "Lock" {
			continue
		}
		if p := c.prevBackend(b.PID); p != nil && len(p.BlockedBy) > 0 && sameTime(p.BackendStart, b.BackendStart) {
			b.BlockedBy, b.BlockersTotal, b.Waiting, b.PreparedGID = p.BlockedBy, p.BlockersTotal, p.Waiting, p.PreparedGID
		}
	}
}

// finish derives everything that is computed rather than read.
func (c *Collector) finish(s *Snapshot) {
	now := s.ServerTime
	hidden, unsignalled := 0, 0
	mayNotSignal := !s.Server.Role.Superuser && !s.Server.Role.SignalBackend
	markQueued(s.Backends)
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Own {
			continue
		}
		if b.IsClient() {
			s.Server.ClientConnections++
		}
		if b.Query == "<insufficient privilege>" {
			hidden++
		}
		// A superuser's session needs a superuser whatever is granted:
		// only the others are what pg_signal_backend would open.
		if mayNotSignal && b.IsClient() && b.User != s.Server.User && !b.Superuser {
			unsignalled++
		}
	}
	s.Saturation = ComputeSaturation(s.Server, s.Backends, now)
	s.LockForest = BuildForest(s.Backends, now)

	EstimateBuilds(c.prevBuilds, c.prevBuildsAt, s.Builds, now)
	c.prevBuilds, c.prevBuildsAt = s.Builds, now

	if n := countUnavailable(s.Indexes); n > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"%d invalid index(es): size or definition not read because the table or index is locked ACCESS EXCLUSIVE "+
				"(reading them would wait behind that lock)", n))
	}
	if hidden > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"%d backend(s) of other roles show no query or state, and whether they are client backends is inferred: "+
				"role %q lacks pg_read_all_stats (GRANT pg_monitor TO %s, or connect as a superuser)",
			hidden, s.Server.User, QuoteIdent(s.Server.User)))
	}
	// Each missing privilege gets its own warning: granting pg_monitor
	// shows the queries but still does not allow signalling them.
	if unsignalled > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf(
			"%d session(s) of other roles cannot be cancelled or terminated from here: "+
				"role %q lacks pg_signal_backend (GRANT pg_signal_backend TO %s, or connect as a superuser)",
			unsignalled, s.Server.User, QuoteIdent(s.Server.User)))
	}
	if s.Server.Pooler {
		s.Warnings = append(s.Warnings, PoolerWarning)
	}
	s.Databases = append(s.Databases, s.Server.Database)
}

// PoolerWarning says what a pooler between pgmedic and PostgreSQL hides.
const PoolerWarning = "connected through a connection pooler (PgBouncer or similar), not to PostgreSQL itself: " +
	"pgmedic's own backend changes between refreshes and is shared with the application's sessions, " +
	"the pooler's queue of waiting clients is not visible here (a full pool looks like an idle server), " +
	"and index rebuilds, drops and ROLLBACK PREPARED are refused: connect to PostgreSQL directly for those"

func countUnavailable(ixs []Index) int {
	n := 0
	for i := range ixs {
		if len(ixs[i].Unavailable) > 0 {
			n++
		}
	}
	return n
}

func isLockOrStatementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "57014")
}

func scanServer(row pgx.Row, srv *Server, superusers *map[uint32]bool) error {
	r := &srv.Role
	var supers []uint32
	if err := row.Scan(&srv.Version, &srv.VersionNum, &srv.Database, &srv.User,
		&srv.MaxConnections, &srv.SuperuserReserved, &srv.RoleReserved,
		&r.Superuser, &r.ReadAllStats, &r.SignalBackend, &r.UseReserved, &supers); err != nil {
		return fmt.Errorf("reading server settings: %w", err)
	}
	srv.Reserved = srv.SuperuserReserved + srv.RoleReserved
	srv.Usable = max(srv.MaxConnections-srv.Reserved, 0)
	*superusers = make(map[uint32]bool, len(supers))
	for _, oid := range supers {
		(*superusers)[oid] = true
	}
	return nil
}

func scanTick(br pgx.BatchResults, sc *scanner, s *Snapshot, srv *Server, ownPID *int) error {
	var (
		gids, owners, dbs []string
		prepared          []time.Time
		n                 int
	)
	err := readEach(br, sc, "the server clock", []any{&s.ServerTime, &srv.InRecovery, &gids, &owners, &dbs, &prepared, ownPID, nil, nil},
		func() { n++ })
	if err == nil && n != 1 {
		err = fmt.Errorf("reading the server clock: %d rows, want 1", n)
	}
	if err != nil {
		return err
	}
	for i := range gids {
		s.Prepared = append(s.Prepared, PreparedXact{GID: gids[i], Owner: owners[i], Database: dbs[i], Prepared: prepared[i]})
	}
	return nil
}

// scanBackends reads the activity statement. A row marked same has not
// changed since the previous snapshot but for its wait: it starts as a
// copy of the previous row, so nothing of it is decoded or allocated.
func (c *Collector) scanBackends(br pgx.BatchResults, s *Snapshot, superusers map[uint32]bool, ownPID int) error {
	var (
		pid, nBlock                       int32
		same                              bool
		leader                            pgtype.Int4
		btype, db, user, app, addr, state pgtype.Text
		roleOID                           pgtype.Uint32
		start, xact, qstart, change       *time.Time
		query                             pgtype.Text
		wtype, wevent                     pgtype.DriverBytes
		blockedBy                         []int
		lock                              []byte
		gid                               *string
		quietPIDs                         []int32
		badRow                            error
	)
	var prevs []Backend // the previous snapshot's, sorted by pid like the rows
	if c.prev != nil {
		prevs = c.prev.Backends
		s.Backends = make([]Backend, 0, len(prevs)+16)
	}
	// Quiet rows are not sent: each is its previous self, carried in pid
	// order between the rows that are.
	// Rows and quiet pids both come in pid order, so one walk over the
	// previous snapshot finds each one's previous self.
	prevOf := func(pid int) *Backend {
		for len(prevs) > 0 && prevs[0].PID < pid {
			prevs = prevs[1:]
		}
		if len(prevs) > 0 && prevs[0].PID == pid {
			return &prevs[0]
		}
		return nil
	}
	var quiet []int32
	carry := func(below int) {
		for len(quiet) > 0 && int(quiet[0]) < below {
			q := int(quiet[0])
			quiet = quiet[1:]
			prev := prevOf(q)
			if prev == nil {
				badRow = fmt.Errorf("the server sent pid %d as quiet, but the previous snapshot lacks it", q)
				continue
			}
			row := *prev
			row.Superuser = superusers[row.roleOID]
			row.Own = row.PID == ownPID
			s.Backends = append(s.Backends, row)
		}
	}
	all := []any{&pid, &same,
		&leader, &btype, &db, &user, &roleOID, &app, &addr, &state, &start, &xact, &qstart, &change, &query,
		&wtype, &wevent, &blockedBy, &nBlock, &lock, &gid, &quietPIDs}
	// An unchanged row's thirteen backend columns are NULL and it starts
	// as its previous self: they are not scanned at all.
	unchanged := slices.Clone(all)
	clear(unchanged[2:15])
	err := readEachPicked(br, &c.scans.activity, "pg_stat_activity", func(raw [][]byte) []any {
		if len(raw) == len(all) && len(raw[1]) == 1 && (raw[1][0] == 1 || raw[1][0] == 't') { // same, binary or text
			return unchanged
		}
		return all
	}, func() {
		if pid == 0 { // the first row: the quiet pids, in no order
			if quietPIDs == nil { // all that were, still are
				quiet = c.args.quiet
				return
			}
			quiet = quietPIDs
			slices.Sort(quiet)
			return
		}
		carry(int(pid))
		var row Backend
		prev := prevOf(int(pid))
		if same {
			if prev == nil {
				badRow = fmt.Errorf("the server sent pid %d as unchanged, but the previous snapshot lacks it", pid)
				return
			}
			row = *prev
		} else {
			row = Backend{PID: int(pid), LeaderPID: int(leader.Int32), BackendType: btype.String,
				Database: db.String, User: user.String, roleOID: roleOID.Uint32,
				ApplicationName: app.String, ClientAddr: addr.String, State: state.String,
				BackendStart: start, XactStart: xact, QueryStart: qstart, StateChange: change, Query: query.String}
		}
		row.WaitEventType, row.WaitEvent = c.intern(wtype), c.intern(wevent)
		row.BlockersTotal, row.BlockedBy = int(nBlock), blockedBy
		row.Waiting, row.PreparedGID = nil, deref(gid)
		if lock != nil {
			var perr error
			if row.Waiting, perr = parseLockWait(lock); perr != nil && badRow == nil {
				badRow = perr
			}
		} else if sameWait(prev, &row) {
			// Not looked up because the client knows this wait. (A wait
			// looked up finds no lock when it was granted between reading
			// pg_stat_activity and pg_locks.)
			row.Waiting, row.PreparedGID = prev.Waiting, prev.PreparedGID
		}
		row.Superuser = superusers[row.roleOID]
		row.Own = row.PID == ownPID
		s.Backends = append(s.Backends, row)
	})
	carry(math.MaxInt)
	if err == nil {
		err = badRow
	}
	if err != nil {
		return err
	}
	// The server sorts (ORDER BY pid); one pass checks it, so the
	// snapshot's order never rests on the SQL alone.
	byPID := func(a, b Backend) int { return cmp.Compare(a.PID, b.PID) }
	if !slices.IsSortedFunc(s.Backends, byPID) {
		slices.SortFunc(s.Backends, byPID)
	}
	return nil
}

// intern returns b as a string, allocating it only the first time: every
// row carries a wait event, and there are a few hundred kinds of them.
func (c *Collector) intern(b []byte) string {
	if s, ok := c.words[string(b)]; ok {
		return s
	}
	if c.words == nil || len(c.words) > 2000 {
		c.words = map[string]string{}
	}
	s := string(b)
	c.words[s] = s
	return s
}

// prevBackend finds pid in the previous snapshot, whose backends are
// sorted by pid.
func (c *Collector) prevBackend(pid int) *Backend {
	if c.prev == nil {
		return nil
	}
	bs := c.prev.Backends
	i, ok := slices.BinarySearchFunc(bs, pid, func(b Backend, pid int) int { return cmp.Compare(b.PID, pid) })
	if !ok {
		return nil
	}
	return &bs[i]
}

// parseLockWait reads the lock a waiter waits for, sent as the JSON array
// [locktype, mode, relation, waitstart, tag]; null when the lock was
// granted between reading pg_stat_activity and pg_locks.
func parseLockWait(raw []byte) (*LockWait, error) {
	var f [5]*string
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("reading a waiter's lock %q: %w", raw, err)
	}
	if f[0] == nil {
		return nil, nil
	}
	w := &LockWait{LockType: *f[0], Mode: deref(f[1]), Relation: deref(f[2]), tag: deref(f[4])}
	if f[3] != nil {
		t, err := time.Parse(time.RFC3339Nano, *f[3])
		if err != nil {
			return nil, fmt.Errorf("reading a waiter's wait start %q: %w", *f[3], err)
		}
		w.Since = &t
	}
	return w, nil
}

// markQueued sets each waiter's QueuedBehind: the blockers that wait for
// the same lock (same tag) rather than hold it.
func markQueued(bs []Backend) {
	var tags map[int]string // most refreshes have no waiter
	for i := range bs {
		if w := bs[i].Waiting; w != nil && w.tag != "" {
			if tags == nil {
				tags = map[int]string{}
			}
			tags[bs[i].PID] = w.tag
		}
	}
	for i := range bs {
		b := &bs[i]
		b.QueuedBehind = nil
		if b.Waiting == nil || b.Waiting.tag == "" {
			continue
		}
		for _, blocker := range b.BlockedBy {
			if t, ok := tags[blocker]; ok && t == b.Waiting.tag {
				b.QueuedBehind = append(b.QueuedBehind, blocker)
			}
		}
	}
}

func scanBuilds(br pgx.BatchResults, sc *scanner, s *Snapshot) error {
	var (
		b             IndexBuild
		pid, locker   int32
		table, index  *string
		relid, idxoid uint32
	)
	return readEach(br, sc, "pg_stat_progress_create_index", []any{&pid, &b.Database, &relid, &idxoid,
		&table, &index, &b.Command, &b.Phase, &b.LockersTotal, &b.LockersDone, &locker,
		&b.BlocksTotal, &b.BlocksDone, &b.TuplesTotal, &b.TuplesDone,
		&b.PartitionsTotal, &b.PartitionsDone, &b.Started, &b.WaitEventType, &b.WaitEvent,
	}, func() {
		row := b
		row.PID, row.CurrentLockerPID = int(pid), int(locker)
		row.TableOID, row.IndexOID = relid, idxoid
		row.Table = orOID(table, relid)
		if idxoid != 0 {
			row.Index = orOID(index, idxoid)
		}
		s.Builds = append(s.Builds, row)
	})
}

func scanIndexes(br pgx.BatchResults, out *[]Index) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	return scanIndexRows(rows, out)
}

func scanIndexRows(rows pgx.Rows, out *[]Index) error {
	var (
		ix                        Index
		parent, con, conType, def *string
		buildPID                  *int32
	)
	_, err := pgx.ForEachRow(rows, []any{&ix.Database, &ix.Schema, &ix.Table, &ix.Name, &ix.OID, &ix.TableOID,
		&ix.Valid, &ix.Ready, &ix.Live, &ix.Unique, &ix.Primary, &ix.Exclusion, &ix.Partitioned,
		&parent, &con, &conType, &ix.ReferencedBy, &buildPID, &ix.SizeBytes, &def, &ix.TableBytes,
	}, func() error {
		row := ix
		row.ParentIndex, row.Constraint, row.ConstraintType = deref(parent), deref(con), constraintKind(deref(conType))
		row.Definition = deref(def)
		row.BuildPID = 0
		if buildPID != nil {
			row.BuildPID = int(*buildPID)
		}
		if row.ReferencedBy == nil {
			row.ReferencedBy = []string{}
		}
		*out = append(*out, row)
		return nil
	})
	return err
}

// ReadIndexes lists the invalid indexes of the database conn is connected
// to; the snapshot command uses it for other databases, over short-lived
// connections.
func ReadIndexes(ctx context.Context, conn *pgx.Conn) ([]Index, error) {
	out, err := queryIndexes(ctx, conn, invalidIndexesSQL)
	if err != nil && isLockOrStatementTimeout(err) {
		out, err = readIndexesNoLock(ctx, conn)
	}
	if err != nil {
		return nil, err
	}
	finishIndexes(out)
	return out, nil
}

// ReadIndex reads one index, valid or not, named as it would be in SQL
// ("orders_pkey", "sales.orders_pkey", "\"My Index\""): for the actions,
// which also rebuild valid indexes. It returns nil when there is none.
func ReadIndex(ctx context.Context, conn *pgx.Conn, name string) (*Index, error) {
	out, err := queryIndexes(ctx, conn, oneIndexSQL, name)
	if err != nil && isLockOrStatementTimeout(err) {
		out, err = queryIndexes(ctx, conn, oneIndexNoLockSQL, name)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	finishIndexes(out)
	if out[0].Valid {
		out[0].Status = "" // a valid index has no trouble to classify
	}
	return &out[0], nil
}

// readIndexesNoLock is the fallback when a lock slipped in between the
// guard and pg_get_indexdef(): the listing without the calls that wait.
func readIndexesNoLock(ctx context.Context, conn *pgx.Conn) ([]Index, error) {
	return queryIndexes(ctx, conn, invalidIndexesNoLockSQL)
}

func queryIndexes(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]Index, error) {
	var out []Index
	rows, err := conn.Query(ctx, sql, args...)
	if err == nil {
		err = scanIndexRows(rows, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("reading invalid indexes: %w", err)
	}
	return out, nil
}

// finishIndexes classifies each index and records what could not be read.
func finishIndexes(ixs []Index) {
	for i := range ixs {
		ix := &ixs[i]
		ix.Status = ClassifyIndex(ix)
		if ix.SizeBytes == nil || ix.Definition == "" {
			ix.Unavailable = []string{"size", "definition"}
		}
	}
}

func constraintKind(t string) string {
	switch t {
	case "p":
		return "primary key"
	case "u":
		return "unique"
	case "x":
		return "exclusion"
	}
	return t
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func orOID(name *string, oid uint32) string {
	if name != nil {
		return *name
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}
