package inspect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Collector reads Snapshots over one connection. It is not safe for
// concurrent use: a pgx.Conn runs one statement at a time, and pgmedic
// never opens a second connection to watch.
type Collector struct {
	conn     *pgx.Conn
	caps     Capabilities
	activity string

	// The previous snapshot's builds give the rate for an ETA.
	prevBuilds   []IndexBuild
	prevBuildsAt time.Time
}

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
	return &Collector{conn: conn, caps: caps, activity: activitySQL(caps)}, nil
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
	batch := &pgx.Batch{}
	batch.Queue(serverSQL)
	batch.Queue(c.activity)
	batch.Queue(buildsSQL)
	batch.Queue(preparedSQL)
	batch.Queue(invalidIndexesSQL)
	br := c.conn.SendBatch(ctx, batch)

	err := scanServer(br.QueryRow(), s)
	if err == nil {
		err = c.scanBackends(br, s)
	}
	if err == nil {
		err = scanBuilds(br, s)
	}
	if err == nil {
		err = scanPrepared(br, s)
	}
	var indexErr error
	if err == nil {
		indexErr = scanIndexes(br, &s.Indexes)
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
		if s.Indexes, err = readIndexesNoLock(ctx, c.conn); err != nil {
			return nil, err
		}
	}
	c.finish(s)
	return s, nil
}

// finish derives everything that is computed rather than read.
func (c *Collector) finish(s *Snapshot) {
	now := s.ServerTime
	hidden := 0
	for i := range s.Backends {
		b := &s.Backends[i]
		if b.Own {
			s.Server.OwnPID = b.PID
			continue
		}
		if b.IsClient() {
			s.Server.ClientConnections++
		}
		if b.Query == "<insufficient privilege>" {
			hidden++
		}
	}
	s.Saturation = ComputeSaturation(s.Server, s.Backends, now)
	s.LockForest = BuildForest(s.Backends, now)

	EstimateBuilds(c.prevBuilds, c.prevBuildsAt, s.Builds, now)
	c.prevBuilds, c.prevBuildsAt = s.Builds, now

	finishIndexes(s.Indexes)
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
	s.Databases = append(s.Databases, s.Server.Database)
}

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

func scanServer(row pgx.Row, s *Snapshot) error {
	srv := &s.Server
	r := &srv.Role
	if err := row.Scan(&srv.Version, &srv.VersionNum, &srv.Database, &srv.User,
		&srv.MaxConnections, &srv.SuperuserReserved, &srv.RoleReserved,
		&srv.InRecovery, &srv.OwnPID,
		&r.Superuser, &r.ReadAllStats, &r.SignalBackend, &r.UseReserved,
		&s.ServerTime); err != nil {
		return fmt.Errorf("reading server settings: %w", err)
	}
	srv.Reserved = srv.SuperuserReserved + srv.RoleReserved
	srv.Usable = max(srv.MaxConnections-srv.Reserved, 0)
	return nil
}

// readEach runs the batch's next statement and calls row after scanning
// each of its rows into targets.
func readEach(br pgx.BatchResults, what string, targets []any, row func()) error {
	rows, err := br.Query()
	if err == nil {
		_, err = pgx.ForEachRow(rows, targets, func() error { row(); return nil })
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}

func (c *Collector) scanBackends(br pgx.BatchResults, s *Snapshot) error {
	var (
		b                   Backend
		blockedBy, queued   []int32
		lockType, mode, rel *string
		waitStart           *time.Time
		gid                 *string
		pid, leader, nBlock int32
	)
	return readEach(br, "pg_stat_activity", []any{&pid, &leader, &b.BackendType, &b.Database, &b.User,
		&b.ApplicationName, &b.ClientAddr, &b.State, &b.WaitEventType, &b.WaitEvent,
		&b.BackendStart, &b.XactStart, &b.QueryStart, &b.StateChange, &b.Query,
		&b.Own, &blockedBy, &nBlock, &queued, &lockType, &mode, &rel, &waitStart, &gid, &b.Superuser,
	}, func() {
		row := b
		row.PID, row.LeaderPID, row.BlockersTotal = int(pid), int(leader), int(nBlock)
		row.BlockedBy, row.QueuedBehind = ints(blockedBy), ints(queued)
		row.Waiting = nil
		if lockType != nil {
			row.Waiting = &LockWait{LockType: *lockType, Mode: deref(mode), Relation: deref(rel), Since: waitStart}
		}
		row.PreparedGID = deref(gid)
		s.Backends = append(s.Backends, row)
	})
}

func scanBuilds(br pgx.BatchResults, s *Snapshot) error {
	var (
		b             IndexBuild
		pid, locker   int32
		table, index  *string
		relid, idxoid uint32
	)
	return readEach(br, "pg_stat_progress_create_index", []any{&pid, &b.Database, &relid, &idxoid,
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

func scanPrepared(br pgx.BatchResults, s *Snapshot) error {
	var p PreparedXact
	return readEach(br, "pg_prepared_xacts", []any{&p.GID, &p.Owner, &p.Database, &p.Prepared},
		func() { s.Prepared = append(s.Prepared, p) })
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
		&parent, &con, &conType, &ix.ReferencedBy, &buildPID, &ix.SizeBytes, &def,
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

func ints(a []int32) []int {
	if a == nil {
		return nil
	}
	out := make([]int, len(a))
	for i, v := range a {
		out[i] = int(v)
	}
	return out
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
