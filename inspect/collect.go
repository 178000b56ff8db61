package inspect

import (
	"cmp"
	"context"
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
// Every refresh sends three statements in one batch: the clock with the
// prepared transactions and the index builds, the activity, and the lock
// graph. What changes rarely (settings, role privileges, invalid indexes)
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
	lockGraph string
	// onePassAt is the number of waiters in the previous snapshot from
	// which the lock graph takes one pass over pg_locks.
	onePassAt int

	// Carried over between snapshots.
	server     Server
	superusers map[uint32]bool
	indexes    []Index
	slowAt     time.Time // zero: read the slow data on the next snapshot
	prev       *Snapshot
	// quiet are the pids the previous snapshot's parameters mark as
	// still, sorted: when all of them are still so, the server says so
	// instead of listing them.
	quiet []int32

	// Each operation's recent measures, for its rate.
	rates *rates
	tick  string
	// What each rewrite seen holds, read once in the refresh after it
	// was first seen (pendingRewrites).
	rewrites        map[rewriteKey]*rewriteTarget
	pendingRewrites []rewriteKey
	// The WAL rate's recent history, the rule that calls a rate a spike,
	// when the current spike was first seen, and, while it lasts on
	// PostgreSQL 18+, the backends' WAL counters (nil: not read).
	walHistory    walHistory
	walRule       walSpikeRule
	walSpikeSince time.Time
	backendWAL    *backendWAL
	backendWALOff bool // the server refused to give them
	// replayHolders hold the lock a standby's replay waits for, as this
	// refresh read them (replayHoldersSQL).
	replayHolders []int
}

// DefaultSlowEvery is the default cadence of the slow-changing reads.
const DefaultSlowEvery = 10 * time.Second

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
		SlowEvery: DefaultSlowEvery, lockGraph: lockGraphSQL(caps), onePassAt: LockGraphOnePassAt,
		rates: newRates(), tick: tickSQL(caps.VersionNum), rewrites: map[rewriteKey]*rewriteTarget{},
		walRule: defaultWALSpikeRule}, nil
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
	batch := &pgx.Batch{}
	batch.Queue(c.tick)
	if slow {
		batch.Queue(serverSQL)
	}
	batch.Queue(activitySQL, c.activityArgs()...)
	batch.Queue(c.lockGraph, c.graphArgs()...)
	if slow {
		batch.Queue(invalidIndexesSQL)
	}
	asked := make(map[int]rewriteKey, len(c.pendingRewrites))
	if len(c.pendingRewrites) > 0 {
		pids := make([]int32, 0, len(c.pendingRewrites))
		for _, k := range c.pendingRewrites {
			asked[k.pid] = k
			pids = append(pids, int32(k.pid))
		}
		batch.Queue(rewriteTargetsSQL, pids)
	}
	// Only while a standby's replay waits on a lock.
	startup := startupWaitsOnLock(c.prev)
	if startup != 0 {
		batch.Queue(replayHoldersSQL, startup)
	}
	// Only during a spike, and only where the server keeps the counters.
	readWAL := c.backendWAL != nil && c.prev != nil
	if readWAL {
		batch.Queue(backendWALSQL, backendWALPIDs(c.prev.Backends, c.backendWAL))
	}
	br := c.conn.SendBatch(ctx, batch)

	var ownPID int
	server, superusers := c.server, c.superusers
	err := scanTick(br, s, &server, &ownPID)
	if err == nil && slow {
		err = scanServer(br.QueryRow(), &server, &superusers)
	}
	if err == nil {
		err = c.scanBackends(br, s, superusers, ownPID)
	}
	if err == nil {
		err = scanLockGraph(br, s)
	}
	var indexes []Index
	var indexErr error
	if err == nil && slow {
		indexErr = scanIndexes(br, &indexes)
	}
	if err == nil && len(asked) > 0 {
		rows, qerr := br.Query()
		if err = qerr; err == nil {
			err = scanRewriteTargets(rows, c.rewrites, asked)
			rows.Close()
		}
	}
	c.replayHolders = nil
	if err == nil && indexErr == nil && startup != 0 {
		if err = br.QueryRow().Scan(&c.replayHolders); err != nil {
			err = fmt.Errorf("reading who holds the lock replay waits for: %w", err)
		}
	}
	var walErr error
	if err == nil && indexErr == nil && readWAL {
		walErr = scanBackendWAL(br.QueryRow(), s, c.backendWAL)
	}
	if cerr := br.Close(); err == nil && indexErr == nil && walErr == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if walErr != nil {
		var pgErr *pgconn.PgError
		if !errors.As(walErr, &pgErr) {
			return nil, walErr
		}
		// The server refused (EXECUTE on the function revoked, say): the
		// spikes go on being named by what runs, and the refreshes
		// stop asking.
		c.backendWAL, c.backendWALOff = nil, true
		s.Warnings = append(s.Warnings, "the backends' own WAL counters cannot be read, so a WAL spike's writers are "+
			"named by what they run, not measured: "+walErr.Error())
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
	c.finish(s)
	if buildsChanged(c.prev, s) {
		c.ReadAllNext() // a build that ended changed the indexes' validity
	}
	c.prev = s
	return s, nil
}

// activityArgs are the activity statement's parameters, from the
// previous snapshot: the rows it saw ($1) with their state_change ($2),
// xact_start ($3) and application_name ($4), which of them it holds as
// still ($5) and their wait events ($6), and how many rows are still ($7).
func (c *Collector) activityArgs() []any {
	c.quiet = c.quiet[:0]
	var bs []Backend
	if c.prev != nil {
		bs = c.prev.Backends
	}
	pids, changes, xacts := make([]int32, 0, len(bs)), make([]*time.Time, 0, len(bs)), make([]*time.Time, 0, len(bs))
	apps, still, events := make([]string, 0, len(bs)), make([]bool, 0, len(bs)), make([]string, 0, len(bs))
	for i := range bs {
		b := &bs[i]
		if b.StateChange == nil {
			continue // a background process, or hidden from our role: always sent
		}
		q := isStill(b)
		pids, changes, xacts = append(pids, int32(b.PID)), append(changes, b.StateChange), append(xacts, b.XactStart)
		apps, still, events = append(apps, b.ApplicationName), append(still, q), append(events, b.WaitEvent)
		if q {
			c.quiet = append(c.quiet, int32(b.PID))
		}
	}
	return []any{pids, changes, xacts, apps, still, events, len(c.quiet)}
}

// graphArgs are the lock-graph statement's parameters: the waiters the
// previous snapshot holds ($1) with their entries' sigs ($2), whether our
// role may not see every session's wait ($3; until the first snapshot
// says, it may not), and whether to take one pass over pg_locks ($4):
// when the role may not see, or the previous snapshot counted onePassAt
// waiters or more (PostgreSQL 14+).
func (c *Collector) graphArgs() []any {
	blind := c.prev == nil || !c.server.Role.Superuser && !c.server.Role.ReadAllStats
	pids, sigs := []int32{}, []int64{}
	if c.prev != nil {
		for i := range c.prev.Backends {
			if b := &c.prev.Backends[i]; b.Waiting != nil {
				pids, sigs = append(pids, int32(b.PID)), append(sigs, b.graphSig)
			}
		}
	}
	many := c.caps.WaitStart && (blind || len(pids) >= c.onePassAt)
	return []any{pids, sigs, blind, many}
}

// isStill reports whether the server may leave b's row out while it stays
// just what it is: a session waiting for its client to send something
// (idle, or idle in a transaction) and for nothing else, or a session
// waiting for a heavyweight lock whose entry in the graph the client
// holds. While its state_change and wait event stay the same, every
// column of its row does.
func isStill(b *Backend) bool {
	if b.WaitEventType == "Lock" {
		return b.Waiting != nil
	}
	return b.WaitEventType == "Client" && b.WaitEvent == "ClientRead" && b.Waiting == nil &&
		strings.HasPrefix(b.State, "idle")
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

// finish derives everything that is computed rather than read.
func (c *Collector) finish(s *Snapshot) {
	now := s.ServerTime
	hidden, unsignalled := 0, 0
	mayNotSignal := !s.Server.Role.Superuser && !s.Server.Role.SignalBackend
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

	fillBuilds(s)
	c.rates.estimateBuilds(s.Builds, now)
	fillOperations(s)
	c.rates.estimate(s.Operations, now)
	fillReplication(s, c.replayHolders)
	c.rates.estimateWAL(s.Replication, now)
	c.rates.sweep()
	c.pendingRewrites = findRewrites(s, c.rewrites)
	c.noteWAL(s)

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

func scanTick(br pgx.BatchResults, s *Snapshot, srv *Server, ownPID *int) error {
	var (
		gids, owners, dbs []string
		prepared          []time.Time
		builds, progress  []byte
		replication       []byte
	)
	if err := br.QueryRow().Scan(&s.ServerTime, &srv.InRecovery, &gids, &owners, &dbs, &prepared, ownPID, &builds,
		&progress, &replication, nil, nil); err != nil {
		return fmt.Errorf("reading the server clock: %w", err)
	}
	var err error
	if s.Builds, err = parseBuilds(builds); err != nil {
		return err
	}
	if s.Operations, err = parseProgress(progress); err != nil {
		return err
	}
	if s.Replication, err = parseReplication(replication); err != nil {
		return err
	}
	for i := range gids {
		s.Prepared = append(s.Prepared, PreparedXact{GID: gids[i], Owner: owners[i], Database: dbs[i], Prepared: prepared[i]})
	}
	return nil
}

// scanBackends reads the activity statement. A row marked same has not
// changed since the previous snapshot but for its wait: it starts as a
// copy of the previous row. Rows left out as still are their previous
// selves, carried in pid order between the rows that are sent.
func (c *Collector) scanBackends(br pgx.BatchResults, s *Snapshot, superusers map[uint32]bool, ownPID int) error {
	var (
		pid                               int32
		same                              bool
		leader                            pgtype.Int4
		btype, db, user, app, addr, state pgtype.Text
		roleOID                           pgtype.Uint32
		start, xact, qstart, change       *time.Time
		query                             pgtype.Text
		wtype, wevent                     string
		stillPIDs                         []int32
		badRow                            error
	)
	var prevs []Backend // the previous snapshot's, sorted by pid like the rows
	if c.prev != nil {
		prevs = c.prev.Backends
		s.Backends = make([]Backend, 0, len(prevs)+16)
	}
	// Rows and still pids both come in pid order, so one walk over the
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
	add := func(row Backend) {
		row.Superuser = superusers[row.roleOID]
		row.Own = row.PID == ownPID
		s.Backends = append(s.Backends, row)
	}
	var still []int32
	carry := func(below int) {
		for len(still) > 0 && int(still[0]) < below {
			q := int(still[0])
			still = still[1:]
			if prev := prevOf(q); prev != nil {
				add(*prev)
			} else if badRow == nil {
				badRow = fmt.Errorf("the server sent pid %d as still, but the previous snapshot lacks it", q)
			}
		}
	}
	rows, _ := br.Query()
	_, err := pgx.ForEachRow(rows, []any{&pid, &same,
		&leader, &btype, &db, &user, &roleOID, &app, &addr, &state, &start, &xact, &qstart, &change, &query,
		&wtype, &wevent, &stillPIDs}, func() error {
		if pid == 0 { // the first row: the still pids, in no order
			if stillPIDs == nil { // all that were, still are
				still = c.quiet
			} else {
				still = stillPIDs
				slices.Sort(still)
			}
			return nil
		}
		carry(int(pid))
		var row Backend
		prev := prevOf(int(pid))
		if same {
			if prev == nil {
				return fmt.Errorf("the server sent pid %d as unchanged, but the previous snapshot lacks it", pid)
			}
			row = *prev
		} else {
			row = Backend{PID: int(pid), LeaderPID: int(leader.Int32), BackendType: btype.String,
				Database: db.String, User: user.String, roleOID: roleOID.Uint32,
				ApplicationName: app.String, ClientAddr: addr.String, State: state.String,
				BackendStart: start, XactStart: xact, QueryStart: qstart, StateChange: change, Query: query.String}
			if prev != nil {
				// What it waits for is the graph's to say; until it does,
				// the wait the client holds stands (see scanLockGraph).
				row.takeWait(prev)
			}
		}
		row.WaitEventType, row.WaitEvent = wtype, wevent
		add(row)
		return nil
	})
	carry(math.MaxInt)
	if err == nil {
		err = badRow
	}
	if err != nil {
		return fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	// The server sorts (ORDER BY pid); one pass checks it, so the
	// snapshot's order never rests on the SQL alone.
	byPID := func(a, b Backend) int { return cmp.Compare(a.PID, b.PID) }
	if !slices.IsSortedFunc(s.Backends, byPID) {
		slices.SortFunc(s.Backends, byPID)
	}
	return nil
}

// scanLockGraph reads the lock-graph statement: the waits that changed
// since the previous snapshot. Each backend still holds its previous
// wait; a wait that is not a heavyweight lock's any more is dropped. A
// row our role may not see has no wait event: an entry in the graph is
// what says it waits.
func scanLockGraph(br pgx.BatchResults, s *Snapshot) error {
	rows, _ := br.Query()
	for rows.Next() {
		pid, e, ok, err := scanLockEntry(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("reading the lock graph: %w", err)
		}
		if b := backendOf(s.Backends, pid); b != nil { // nil: began to wait after pg_stat_activity was read
			if !ok {
				e = lockEntry{}
			}
			b.setWait(e)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the lock graph: %w", err)
	}
	for i := range s.Backends {
		b := &s.Backends[i]
		switch {
		case b.Waiting == nil:
		case b.WaitEventType == "Lock":
		case b.WaitEventType == "" && b.Query == "<insufficient privilege>":
			b.WaitEventType = "Lock"
		default:
			b.setWait(lockEntry{})
		}
	}
	foldWorkers(s.Backends)
	return nil
}

// backendOf finds pid in bs, which is sorted by pid, as a snapshot's
// backends are.
func backendOf(bs []Backend, pid int) *Backend {
	i, ok := slices.BinarySearchFunc(bs, pid, func(b Backend, pid int) int { return cmp.Compare(b.PID, pid) })
	if !ok {
		return nil
	}
	return &bs[i]
}

// foldWorkers names a parallel worker's leader wherever the worker blocks
// somebody, as pg_blocking_pids() does: the leader is the session to act
// on. pg_locks lists each process of a lock group, and a group's members
// never block each other. bs is sorted by pid.
func foldWorkers(bs []Backend) {
	leaderOf := func(pid int) int {
		if b := backendOf(bs, pid); b != nil && b.BackendType == "parallel worker" && b.LeaderPID != 0 {
			return b.LeaderPID
		}
		return pid
	}
	// fold returns pids with each worker replaced by its leader, once, and
	// the waiter's own group left out; pids itself when nothing changes.
	fold := func(pids []int, self int) []int {
		if !slices.ContainsFunc(pids, func(p int) bool { l := leaderOf(p); return l != p || l == self }) {
			return pids
		}
		out := make([]int, 0, len(pids))
		for _, p := range pids {
			if l := leaderOf(p); l != self && !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
		return out
	}
	for i := range bs {
		if b := &bs[i]; len(b.BlockedBy) > 0 {
			self := leaderOf(b.PID)
			b.BlockedBy, b.QueuedBehind = fold(b.BlockedBy, self), fold(b.QueuedBehind, self)
		}
	}
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

// deref is what p points to, or T's zero value when p is nil (NULL).
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func orOID(name *string, oid uint32) string {
	if name != nil {
		return *name
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}
