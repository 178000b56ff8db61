package inspect

import (
	"fmt"
	"regexp"
)

// IndexStatus classifies an index with indisvalid = false.
type IndexStatus string

const (
	// IndexBuilding: a CREATE INDEX / REINDEX is still running on it.
	IndexBuilding IndexStatus = "building"
	// IndexFailedDuringBuild: the build died before the index was ready
	// (indisready = false); it is dead weight, not maintained.
	IndexFailedDuringBuild IndexStatus = "failed_during_build"
	// IndexFailedAfterBuild: the build died after the index became ready
	// (or a DROP INDEX CONCURRENTLY was interrupted): every write still
	// maintains it, and a UNIQUE one still rejects duplicates, while the
	// planner ignores it.
	IndexFailedAfterBuild IndexStatus = "failed_after_build"
	// IndexReindexNew: the "_ccnew" copy left by a REINDEX CONCURRENTLY
	// that failed before the swap; the original index is intact.
	IndexReindexNew IndexStatus = "reindex_leftover_new"
	// IndexReindexOld: the "_ccold" original left by a REINDEX
	// CONCURRENTLY that failed after the swap; the rebuild succeeded.
	IndexReindexOld IndexStatus = "reindex_leftover_old"
	// IndexPartitionedIncomplete: a partitioned index some partition of
	// which has no valid attached index yet.
	IndexPartitionedIncomplete IndexStatus = "partitioned_incomplete"
	// IndexDropInterrupted: indislive = false, a DROP INDEX CONCURRENTLY
	// or REINDEX CONCURRENTLY stopped after marking it dead.
	IndexDropInterrupted IndexStatus = "drop_interrupted"
)

// Describe says in a few words what the status means for the responder.
func (s IndexStatus) Describe() string {
	switch s {
	case IndexBuilding:
		return "still being built"
	case IndexFailedDuringBuild:
		return "build failed before the index was ready; not maintained, safe to drop"
	case IndexFailedAfterBuild:
		return "build failed after the index was ready; every write still maintains it"
	case IndexReindexNew:
		return "leftover _ccnew copy of a failed REINDEX CONCURRENTLY; the original is intact"
	case IndexReindexOld:
		return "leftover _ccold original of a REINDEX CONCURRENTLY that did swap; drop it"
	case IndexPartitionedIncomplete:
		return "partitioned index missing a valid index on some partition"
	case IndexDropInterrupted:
		return "interrupted drop: marked dead, only dropping remains"
	}
	return string(s)
}

// Index is an index with indisvalid = false.
type Index struct {
	Database string `json:"database"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	Name     string `json:"index"`
	// OID and TableOID identify the index for actions: a rebuilt index
	// keeps its name but gets a new OID.
	OID      uint32 `json:"oid"`
	TableOID uint32 `json:"table_oid"`

	Status IndexStatus `json:"status"`
	Valid  bool        `json:"valid"`
	Ready  bool        `json:"ready"`
	Live   bool        `json:"live"`

	Unique      bool `json:"unique"`
	Primary     bool `json:"primary"`
	Exclusion   bool `json:"exclusion"`
	Partitioned bool `json:"partitioned"`
	// ParentIndex is the partitioned index this one is a partition of.
	ParentIndex string `json:"parent_index,omitempty"`
	// Constraint names the PRIMARY KEY, UNIQUE or EXCLUDE constraint this
	// index implements; ReferencedBy the foreign keys that depend on it.
	Constraint     string   `json:"constraint"`
	ConstraintType string   `json:"constraint_type,omitempty"`
	ReferencedBy   []string `json:"referenced_by_fks"`

	// SizeBytes is nil when the size could not be read without waiting for
	// a lock (see Unavailable).
	SizeBytes *int64 `json:"size_bytes"`
	// TableBytes is the table's size as of its last VACUUM or ANALYZE
	// (relpages): an estimate that takes no lock, to size an action's
	// statement_timeout.
	TableBytes int64 `json:"table_bytes"`
	// Definition is pg_get_indexdef(); empty when it could not be read
	// without waiting for a lock on the table.
	Definition string `json:"definition"`

	// BuildPID is the backend building it, for IndexBuilding.
	BuildPID int `json:"build_pid,omitempty"`

	// Unavailable names the fields that could not be read ("definition",
	// "size") because the table or index is locked ACCESS EXCLUSIVE.
	Unavailable []string `json:"unavailable,omitempty"`
}

// RejectsDuplicates reports the trap of an invalid UNIQUE index: once
// ready it is maintained and enforced on every write, though no query
// uses it, so a killed migration still turns inserts into errors.
func (ix *Index) RejectsDuplicates() bool { return ix.Unique && ix.Ready && ix.Live }

// QualifiedName is schema.name, quoted where PostgreSQL would quote it.
func (ix *Index) QualifiedName() string {
	return QuoteIdent(ix.Schema) + "." + QuoteIdent(ix.Name)
}

// QualifiedTable is schema.table, quoted where PostgreSQL would quote it.
func (ix *Index) QualifiedTable() string {
	return QuoteIdent(ix.Schema) + "." + QuoteIdent(ix.Table)
}

// REINDEX CONCURRENTLY names its copies <name>_ccnew and <name>_ccold and
// appends a digit when such a name is taken (_ccold1, _ccnew2, ...).
var (
	ccnewRE = regexp.MustCompile(`_ccnew[0-9]*$`)
	ccoldRE = regexp.MustCompile(`_ccold[0-9]*$`)
)

// ClassifyIndex decides the status of an invalid index from its catalog
// flags, its name, and whether a build is running on it. The order
// matters: a running REINDEX CONCURRENTLY's _ccnew is "building", not a
// leftover.
func ClassifyIndex(ix *Index) IndexStatus {
	switch {
	case ix.BuildPID != 0:
		return IndexBuilding
	case ccnewRE.MatchString(ix.Name):
		return IndexReindexNew
	case ccoldRE.MatchString(ix.Name):
		return IndexReindexOld
	case ix.Partitioned:
		return IndexPartitionedIncomplete
	case !ix.Live:
		return IndexDropInterrupted
	case ix.Ready:
		return IndexFailedAfterBuild
	default:
		return IndexFailedDuringBuild
	}
}

// invalidIndexesSQL lists every invalid index of the connected database.
//
// pg_get_indexdef() waits for a lock when the table is locked ACCESS
// EXCLUSIVE, and pg_relation_size() when the index is: exactly the
// migration incident. Both are therefore only called for indexes where no
// such lock is held or requested (a requested one would queue us behind
// it), and the statement runs under the session's short lock_timeout; if a
// lock still slips in between, the collector falls back to
// invalidIndexesNoLockSQL.
//
// A build is matched to its index by OID (CREATE INDEX CONCURRENTLY, and
// the _ccnew of REINDEX CONCURRENTLY), or, for the _ccold of a running
// REINDEX CONCURRENTLY, by the session lock that backend still holds on
// it: matching by name would mark an older stale _ccold as building.
var (
	invalidIndexesSQL = fmt.Sprintf(invalidIndexesTemplate, guardedSize, guardedDefinition, onlyInvalid)
	// invalidIndexesNoLockSQL leaves out the two calls that can wait for a
	// lock: it always answers, with size and definition unknown.
	invalidIndexesNoLockSQL = fmt.Sprintf(invalidIndexesTemplate, "NULL::bigint", "NULL::text", onlyInvalid)
	// oneIndexSQL reads one index, valid or not, named as in SQL ($1).
	oneIndexSQL       = fmt.Sprintf(invalidIndexesTemplate, guardedSize, guardedDefinition, byName)
	oneIndexNoLockSQL = fmt.Sprintf(invalidIndexesTemplate, "NULL::bigint", "NULL::text", byName)
)

const (
	onlyInvalid = "NOT i.indisvalid"
	byName      = "i.indexrelid = pg_catalog.to_regclass($1)"
	guardedSize = `CASE WHEN EXISTS (SELECT 1 FROM ael WHERE ael.relation IN (i.indexrelid, i.indrelid))
            THEN NULL ELSE pg_catalog.pg_relation_size(i.indexrelid) END`
	guardedDefinition = `CASE WHEN EXISTS (SELECT 1 FROM ael WHERE ael.relation IN (i.indexrelid, i.indrelid))
            THEN NULL ELSE pg_catalog.pg_get_indexdef(i.indexrelid) END`
)

const invalidIndexesTemplate = `/* pgmedic:invalid-indexes */
WITH db AS (
  SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()
), ael AS MATERIALIZED (
  SELECT DISTINCT l.relation FROM pg_catalog.pg_locks l
  WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
    AND l.database = (SELECT oid FROM db)
)
SELECT pg_catalog.current_database(), n.nspname, ct.relname, ci.relname,
       ci.oid, ct.oid,
       i.indisvalid, i.indisready, i.indislive,
       i.indisunique, i.indisprimary, i.indisexclusion, ci.relkind = 'I',
       (SELECT pc.relname FROM pg_catalog.pg_inherits inh
          JOIN pg_catalog.pg_class pc ON pc.oid = inh.inhparent
         WHERE inh.inhrelid = i.indexrelid LIMIT 1),
       con.conname, con.contype::text,
       ARRAY(SELECT fk.conname::text FROM pg_catalog.pg_constraint fk
              WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid ORDER BY fk.conname),
       p.pid,
       %s,
       %s,
       ct.relpages::bigint * pg_catalog.current_setting('block_size')::bigint
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ci    ON ci.oid = i.indexrelid
JOIN pg_catalog.pg_class ct    ON ct.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = ci.relnamespace
LEFT JOIN pg_catalog.pg_constraint con
       ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
LEFT JOIN LATERAL (
  SELECT pr.pid FROM pg_catalog.pg_stat_progress_create_index pr
  WHERE pr.datid = (SELECT oid FROM db)
    AND (pr.index_relid = i.indexrelid
         OR (pr.relid = i.indrelid AND pr.command = 'REINDEX CONCURRENTLY'
             AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                         WHERE l.pid = pr.pid AND l.locktype = 'relation'
                           AND l.relation = i.indexrelid)))
  LIMIT 1
) p ON true
WHERE %s
  AND n.nspname NOT LIKE 'pg\_temp\_%%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%%'
ORDER BY n.nspname, ci.relname`
