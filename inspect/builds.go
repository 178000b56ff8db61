package inspect

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// IndexBuild is a CREATE INDEX or REINDEX running anywhere in the cluster,
// from pg_stat_progress_create_index.
type IndexBuild struct {
	PID      int    `json:"pid"`
	Database string `json:"database"`
	// Table and Index are names when the build runs in the connected
	// database; elsewhere the catalog cannot resolve them and they read
	// "oid N". Index is empty for a plain CREATE INDEX, whose index is
	// invisible until it commits.
	Table    string `json:"table"`
	Index    string `json:"index"`
	TableOID uint32 `json:"table_oid"`
	IndexOID uint32 `json:"index_oid"`
	Command  string `json:"command"`
	Phase    string `json:"phase"`
	// Step and Steps place Phase in the command's sequence of phases
	// (e.g. 3 of 8 for a CREATE INDEX CONCURRENTLY building); 0 when the
	// phase is unknown. An overall percentage would lie: the table is
	// scanned twice and the waits are unbounded.
	Step  int `json:"step"`
	Steps int `json:"steps"`

	BlocksDone      int64 `json:"blocks_done"`
	BlocksTotal     int64 `json:"blocks_total"`
	TuplesDone      int64 `json:"tuples_done"`
	TuplesTotal     int64 `json:"tuples_total"`
	PartitionsDone  int64 `json:"partitions_done"`
	PartitionsTotal int64 `json:"partitions_total"`
	// The waiting phases wait for other transactions, one at a time.
	LockersDone      int64 `json:"lockers_done"`
	LockersTotal     int64 `json:"lockers_total"`
	CurrentLockerPID int   `json:"current_locker_pid,omitempty"`

	// Percent of the current phase, from blocks while it counts blocks,
	// else tuples; nil in phases without counters (sorting, waiting).
	Percent *float64 `json:"percent"`
	// ETASeconds is the time left in the current phase at the rate of
	// its last RateWindow; nil until two snapshots saw the phase move.
	ETASeconds *float64 `json:"eta_seconds"`

	Started       *time.Time `json:"started"`
	WaitEventType string     `json:"wait_event_type"`
	WaitEvent     string     `json:"wait_event"`
}

// Phases of each command, in order, as the docs list them; the building
// phase carries an access-method suffix ("building index: scanning table").
var buildPhases = map[string][]string{
	"CREATE INDEX": {"initializing", "building index"},
	"REINDEX":      {"initializing", "building index"},
	"CREATE INDEX CONCURRENTLY": {"initializing", "waiting for writers before build", "building index",
		"waiting for writers before validation", "index validation: scanning index",
		"index validation: sorting tuples", "index validation: scanning table", "waiting for old snapshots"},
	"REINDEX CONCURRENTLY": {"initializing", "waiting for writers before build", "building index",
		"waiting for writers before validation", "index validation: scanning index",
		"index validation: sorting tuples", "index validation: scanning table", "waiting for old snapshots",
		"waiting for readers before marking dead", "waiting for readers before dropping"},
}

// phaseStep places a phase in its command's sequence.
func phaseStep(command, phase string) (step, steps int) {
	seq := buildPhases[command]
	for i, p := range seq {
		if phase == p || strings.HasPrefix(phase, p+":") {
			return i + 1, len(seq)
		}
	}
	return 0, len(seq)
}

// progress returns the counter that measures the current phase.
func (b *IndexBuild) progress() (done, total int64, ok bool) {
	switch {
	case b.BlocksTotal > 0:
		return b.BlocksDone, b.BlocksTotal, true
	case b.TuplesTotal > 0:
		return b.TuplesDone, b.TuplesTotal, true
	}
	return 0, 0, false
}

// estimateBuilds fills Step, Percent and ETASeconds of the builds, the
// ETA at the rate of the last RateWindow of the phase, as for every
// other operation.
func (r *rates) estimateBuilds(builds []IndexBuild, now time.Time) {
	for i := range builds {
		b := &builds[i]
		b.Step, b.Steps = phaseStep(b.Command, b.Phase)
		done, total, ok := b.progress()
		if !ok {
			continue
		}
		pct := float64(done) * 100 / float64(total)
		b.Percent = &pct
		_, b.ETASeconds = r.measure(progressKey{b.PID, b.Command, b.IndexOID, b.Phase, "", total}, done, total, now)
	}
}

// buildsJSON reads every running index build in the cluster, for the
// tick statement: one JSON array, a row of it per build, or NULL. Names
// resolve only for the connected database: regclass looks OIDs up in our
// catalog. When the build started and what it waits for come from its
// row in pg_stat_activity (fillBuilds).
const buildsJSON = `(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
         p.pid, coalesce(p.datname, ''), p.relid::bigint, p.index_relid::bigint,
         CASE WHEN p.datname = pg_catalog.current_database() THEN p.relid::regclass::text END,
         CASE WHEN p.datname = pg_catalog.current_database() AND p.index_relid <> 0
              THEN p.index_relid::regclass::text END,
         coalesce(p.command, ''), coalesce(p.phase, ''),
         coalesce(p.lockers_total, 0), coalesce(p.lockers_done, 0), coalesce(p.current_locker_pid, 0),
         coalesce(p.blocks_total, 0), coalesce(p.blocks_done, 0),
         coalesce(p.tuples_total, 0), coalesce(p.tuples_done, 0),
         coalesce(p.partitions_total, 0), coalesce(p.partitions_done, 0)) ORDER BY p.pid)
       FROM pg_catalog.pg_stat_progress_create_index p)`

// parseBuilds reads buildsJSON's array.
func parseBuilds(raw []byte) ([]IndexBuild, error) {
	if raw == nil {
		return nil, nil
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("reading the index builds: %w", err)
	}
	builds := make([]IndexBuild, len(rows))
	for i, row := range rows {
		b := &builds[i]
		var table, index *string
		fields := []any{&b.PID, &b.Database, &b.TableOID, &b.IndexOID, &table, &index, &b.Command, &b.Phase,
			&b.LockersTotal, &b.LockersDone, &b.CurrentLockerPID, &b.BlocksTotal, &b.BlocksDone,
			&b.TuplesTotal, &b.TuplesDone, &b.PartitionsTotal, &b.PartitionsDone}
		n := len(fields)
		if err := json.Unmarshal(row, &fields); err != nil {
			return nil, fmt.Errorf("reading an index build %s: %w", row, err)
		}
		if len(fields) != n {
			return nil, fmt.Errorf("reading an index build %s: %d fields, want %d", row, len(fields), n)
		}
		b.Table = orOID(table, b.TableOID)
		if b.IndexOID != 0 {
			b.Index = orOID(index, b.IndexOID)
		}
	}
	return builds, nil
}

// fillBuilds gives each build what its session's row says: when its
// statement started, and what it waits for.
func fillBuilds(s *Snapshot) {
	for i := range s.Builds {
		b := &s.Builds[i]
		if a := s.Backend(b.PID); a != nil {
			b.Started, b.WaitEventType, b.WaitEvent = a.QueryStart, a.WaitEventType, a.WaitEvent
		}
	}
}
