package inspect

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Operation is a long command with a progress view of its own, other than
// an index build (IndexBuild has those): VACUUM, VACUUM FULL and CLUSTER,
// ANALYZE, COPY and a base backup, from pg_stat_progress_*.
type Operation struct {
	PID int `json:"pid"`
	// Kind is the command: "VACUUM", "autovacuum", "VACUUM FULL",
	// "CLUSTER", "ANALYZE", "COPY FROM", "COPY TO" or "BASE BACKUP".
	Kind     string `json:"kind"`
	Database string `json:"database"`
	// Table is the table's name when the command runs in the connected
	// database, "oid N" in another, "" when it has none (a base backup,
	// COPY of a query).
	Table    string `json:"table"`
	TableOID uint32 `json:"table_oid"`
	Phase    string `json:"phase"`
	// Step and Steps place Phase in the command's phases, in order; 0
	// when the command has no phases or the phase is unknown.
	Step  int `json:"step"`
	Steps int `json:"steps"`

	// Done of Total Unit measure the current phase ("blocks", "tuples",
	// "bytes", "indexes", "child tables", "extended statistics"); Total
	// is 0 when the server does not know it (COPY from a pipe), and Unit
	// is "" in phases that count nothing (sorting, waiting).
	Unit  string `json:"unit,omitempty"`
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
	// Percent is Done of Total; nil without a Total.
	Percent *float64 `json:"percent"`
	// PerSecond is the rate over the last RateWindow of this phase, and
	// ETASeconds the time left in the phase at that rate: nil until two
	// refreshes saw the phase move. Recent, not since the start: a rate
	// that changed shows within the window.
	PerSecond  *float64 `json:"per_second"`
	ETASeconds *float64 `json:"eta_seconds"`
	// Detail is what else the view says, in words ("2 index passes").
	Detail string `json:"detail,omitempty"`

	Started       *time.Time `json:"started"`
	WaitEventType string     `json:"wait_event_type"`
	WaitEvent     string     `json:"wait_event"`
	// Blocking counts the sessions waiting behind this one's locks, all
	// levels of its tree in the lock forest.
	Blocking int `json:"blocking"`
}

// RateWindow is how far back an operation's rate looks.
const RateWindow = 30 * time.Second

// operationPhases lists each command's phases in order, as the docs do.
var operationPhases = map[string][]string{
	"VACUUM": {"initializing", "scanning heap", "vacuuming indexes", "vacuuming heap", "cleaning up indexes",
		"truncating heap", "performing final cleanup"},
	"CLUSTER": {"initializing", "seq scanning heap", "index scanning heap", "sorting tuples", "writing new heap",
		"swapping relation files", "rebuilding index", "performing final cleanup"},
	"ANALYZE": {"initializing", "acquiring sample rows", "acquiring inherited sample rows", "computing statistics",
		"computing extended statistics", "finalizing analyze"},
	"BASE BACKUP": {"initializing", "waiting for checkpoint to finish", "estimating backup size",
		"streaming database files", "waiting for wal archiving to finish", "transferring wal files"},
}

func init() {
	operationPhases["autovacuum"] = operationPhases["VACUUM"]
	operationPhases["VACUUM FULL"] = operationPhases["CLUSTER"]
}

// progressJSON reads every progress view but CREATE INDEX's (buildsJSON)
// for the tick statement: one JSON array of [view, row, table name], or
// NULL. to_jsonb of the whole row carries whatever columns the version
// has (PostgreSQL 17 renamed vacuum's dead-tuple counters and added
// index counts). Names resolve only in the connected database.
func progressJSON(versionNum int) string {
	rel := `CASE WHEN p.datname = pg_catalog.current_database() AND p.relid <> 0 THEN p.relid::regclass::text END`
	views := []string{
		`SELECT 'vacuum', pg_catalog.to_jsonb(p), ` + rel + ` FROM pg_catalog.pg_stat_progress_vacuum p`,
		`SELECT 'cluster', pg_catalog.to_jsonb(p), ` + rel + ` FROM pg_catalog.pg_stat_progress_cluster p`,
		`SELECT 'analyze', pg_catalog.to_jsonb(p), ` + rel + ` FROM pg_catalog.pg_stat_progress_analyze p`,
		`SELECT 'basebackup', pg_catalog.to_jsonb(p), NULL FROM pg_catalog.pg_stat_progress_basebackup p`,
	}
	if versionNum >= 140000 {
		views = append(views, `SELECT 'copy', pg_catalog.to_jsonb(p), `+rel+` FROM pg_catalog.pg_stat_progress_copy p`)
	}
	return `(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(v, r, t)) FROM (` +
		strings.Join(views, "\n UNION ALL ") + `) o(v, r, t))`
}

// progressRow is one row of any progress view; a column the view or the
// version lacks stays zero.
type progressRow struct {
	PID     int    `json:"pid"`
	Datname string `json:"datname"`
	RelID   uint32 `json:"relid,string"` // oid: to_jsonb writes it as a string
	Phase   string `json:"phase"`
	Command string `json:"command"`
	Type    string `json:"type"`

	HeapBlksTotal    int64 `json:"heap_blks_total"`
	HeapBlksScanned  int64 `json:"heap_blks_scanned"`
	HeapBlksVacuumed int64 `json:"heap_blks_vacuumed"`
	IndexVacuumCount int64 `json:"index_vacuum_count"`
	IndexesTotal     int64 `json:"indexes_total"`
	IndexesProcessed int64 `json:"indexes_processed"`

	HeapTuplesScanned int64 `json:"heap_tuples_scanned"`
	HeapTuplesWritten int64 `json:"heap_tuples_written"`
	IndexRebuildCount int64 `json:"index_rebuild_count"`

	SampleBlksTotal   int64 `json:"sample_blks_total"`
	SampleBlksScanned int64 `json:"sample_blks_scanned"`
	ExtStatsTotal     int64 `json:"ext_stats_total"`
	ExtStatsComputed  int64 `json:"ext_stats_computed"`
	ChildTablesTotal  int64 `json:"child_tables_total"`
	ChildTablesDone   int64 `json:"child_tables_done"`

	BytesProcessed  int64 `json:"bytes_processed"`
	BytesTotal      int64 `json:"bytes_total"`
	TuplesProcessed int64 `json:"tuples_processed"`
	TuplesExcluded  int64 `json:"tuples_excluded"`

	BackupTotal         int64 `json:"backup_total"`
	BackupStreamed      int64 `json:"backup_streamed"`
	TablespacesTotal    int64 `json:"tablespaces_total"`
	TablespacesStreamed int64 `json:"tablespaces_streamed"`
}

// parseProgress reads progressJSON's array into operations, each with
// its phase's measure; rates come later (estimateOperations).
func parseProgress(raw []byte) ([]Operation, error) {
	if raw == nil {
		return nil, nil
	}
	type row struct {
		view  string
		row   progressRow
		table *string
	}
	var arrays [][3]json.RawMessage
	if err := json.Unmarshal(raw, &arrays); err != nil {
		return nil, fmt.Errorf("reading the progress views: %w", err)
	}
	rows := make([]row, len(arrays))
	for i, a := range arrays {
		r := &rows[i]
		if err := errors.Join(json.Unmarshal(a[0], &r.view), json.Unmarshal(a[1], &r.row),
			json.Unmarshal(a[2], &r.table)); err != nil {
			return nil, fmt.Errorf("reading the progress views: %w", err)
		}
	}
	ops := make([]Operation, 0, len(rows))
	for _, r := range rows {
		p := &r.row
		op := Operation{PID: p.PID, Database: p.Datname, TableOID: p.RelID, Phase: p.Phase}
		switch {
		case r.table != nil:
			op.Table = *r.table
		case p.RelID != 0:
			op.Table = fmt.Sprintf("oid %d", p.RelID)
		}
		measure := func(unit string, done, total int64) { op.Unit, op.Done, op.Total = unit, done, total }
		switch r.view {
		case "vacuum":
			op.Kind = "VACUUM"
			switch p.Phase {
			case "scanning heap":
				measure("blocks", p.HeapBlksScanned, p.HeapBlksTotal)
			case "vacuuming heap":
				measure("blocks", p.HeapBlksVacuumed, p.HeapBlksTotal)
			case "vacuuming indexes", "cleaning up indexes":
				if p.IndexesTotal > 0 { // PostgreSQL 17+
					measure("indexes", p.IndexesProcessed, p.IndexesTotal)
				}
			}
			if p.IndexVacuumCount > 0 {
				op.Detail = plural(p.IndexVacuumCount, "index pass", "index passes") + " so far"
			}
		case "cluster":
			op.Kind = p.Command // CLUSTER or VACUUM FULL
			switch p.Phase {
			case "seq scanning heap":
				measure("blocks", p.HeapBlksScanned, p.HeapBlksTotal)
			case "index scanning heap":
				measure("tuples", p.HeapTuplesScanned, 0)
			case "writing new heap":
				measure("tuples", p.HeapTuplesWritten, p.HeapTuplesScanned)
			case "rebuilding index":
				measure("indexes", p.IndexRebuildCount, 0)
			}
			if p.Phase != "seq scanning heap" && p.HeapTuplesScanned > 0 {
				op.Detail = fmt.Sprintf("%d tuples read", p.HeapTuplesScanned)
			}
		case "analyze":
			op.Kind = "ANALYZE"
			switch p.Phase {
			case "acquiring sample rows":
				measure("blocks", p.SampleBlksScanned, p.SampleBlksTotal)
			case "acquiring inherited sample rows":
				measure("child tables", p.ChildTablesDone, p.ChildTablesTotal)
			case "computing extended statistics":
				measure("extended statistics", p.ExtStatsComputed, p.ExtStatsTotal)
			}
		case "copy":
			op.Kind = p.Command // COPY FROM or COPY TO
			// Bytes, not rows: PostgreSQL 17 counts the rows of COPY FROM
			// only as its buffers fill, the bytes as they arrive. The
			// total is known only for a file read.
			measure("bytes", p.BytesProcessed, p.BytesTotal)
			parts := []string{plural(p.TuplesProcessed, "row", "rows")}
			if p.Type != "" {
				dir := "from"
				if p.Command == "COPY TO" {
					dir = "to"
				}
				parts = append(parts, dir+" "+strings.ToLower(p.Type)) // "from pipe": the client's
			}
			if p.TuplesExcluded > 0 {
				parts = append(parts, fmt.Sprintf("%d rows left out by WHERE", p.TuplesExcluded))
			}
			op.Detail = strings.Join(parts, ", ")
		case "basebackup":
			op.Kind = "BASE BACKUP"
			if p.Phase == "streaming database files" {
				measure("bytes", p.BackupStreamed, p.BackupTotal)
			}
			if p.TablespacesTotal > 1 {
				op.Detail = fmt.Sprintf("tablespace %d of %d", min(p.TablespacesStreamed+1, p.TablespacesTotal), p.TablespacesTotal)
			}
		default:
			continue
		}
		if op.Total > 0 {
			pct := min(float64(op.Done)*100/float64(op.Total), 100)
			op.Percent = &pct
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fillOperations gives each operation what its session's row and the lock
// forest say: when it started, what it waits for, how many wait behind it,
// and whether VACUUM is autovacuum's.
func fillOperations(s *Snapshot) {
	for i := range s.Operations {
		op := &s.Operations[i]
		op.Step, op.Steps = 0, 0
		if a := s.Backend(op.PID); a != nil {
			op.Started, op.WaitEventType, op.WaitEvent = a.QueryStart, a.WaitEventType, a.WaitEvent
			if op.Kind == "VACUUM" && a.BackendType == "autovacuum worker" {
				op.Kind = "autovacuum"
				op.Started = a.XactStart
			}
		}
		op.Blocking = s.LockForest.BlockedBehind(op.PID)
		if seq := operationPhases[op.Kind]; seq != nil {
			op.Steps = len(seq)
			for j, ph := range seq {
				if ph == op.Phase {
					op.Step = j + 1
				}
			}
		}
	}
}

// progressPoint is one refresh's measure of an operation.
type progressPoint struct {
	at   time.Time
	done int64
}

// progressKey names one phase of one operation: a new phase, table or
// unit starts a new rate.
type progressKey struct {
	pid   int
	kind  string
	table uint32
	phase string
	unit  string
	total int64
}

// rates remembers each running operation's recent measures, for its rate.
// Points older than RateWindow and operations no longer seen are dropped.
type rates struct {
	points map[progressKey][]progressPoint
	seen   map[progressKey]bool
}

func newRates() *rates {
	return &rates{points: map[progressKey][]progressPoint{}, seen: map[progressKey]bool{}}
}

// measure records one refresh's measure of k and returns the rate over
// the last RateWindow and the time left at it: nil until two refreshes
// saw it, and when its counter went back (a new pass of a scan).
func (r *rates) measure(k progressKey, done, total int64, now time.Time) (rate, eta *float64) {
	r.seen[k] = true
	pts := r.points[k]
	for len(pts) > 0 && now.Sub(pts[0].at) > RateWindow {
		pts = pts[1:]
	}
	if len(pts) > 0 && done < pts[len(pts)-1].done {
		pts = nil
	}
	if len(pts) > 0 {
		first := pts[0]
		if dt := now.Sub(first.at).Seconds(); dt > 0 {
			v := float64(done-first.done) / dt
			rate = &v
			if total > 0 && v > 0 {
				left := float64(max(total-done, 0)) / v
				eta = &left
			}
		}
	}
	r.points[k] = append(pts, progressPoint{now, done})
	return rate, eta
}

// sweep forgets what the last refreshes did not measure.
func (r *rates) sweep() {
	for k := range r.points {
		if !r.seen[k] {
			delete(r.points, k)
		}
	}
	clear(r.seen)
}

// estimate fills the operations' PerSecond and ETASeconds.
func (r *rates) estimate(ops []Operation, now time.Time) {
	for i := range ops {
		op := &ops[i]
		if op.Unit != "" {
			op.PerSecond, op.ETASeconds = r.measure(progressKey{op.PID, op.Kind, op.TableOID, op.Phase, op.Unit, op.Total},
				op.Done, op.Total, now)
		}
	}
}
