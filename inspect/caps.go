package inspect

import "fmt"

// MinVersionNum is the oldest server pgmedic reads: 13 brought
// pg_stat_activity.leader_pid, and everything older is out of community
// support.
const MinVersionNum = 130000

// Capabilities is what the connected server's catalogs offer. It is
// detected once at connect time so that version differences live here and
// nowhere else.
type Capabilities struct {
	VersionNum int
	// WaitStart: pg_locks.waitstart (14+); before it a lock wait is only
	// known to be no older than the current statement.
	WaitStart bool
	// HashRecord: hash_record_extended() (14+).
	HashRecord bool
	// TerminateTimeout: pg_terminate_backend(pid, timeout) (14+).
	TerminateTimeout bool
	// ReservedConnections: reserved_connections and the
	// pg_use_reserved_connections role (16+).
	ReservedConnections bool
	// PartitionedReindexConcurrently: REINDEX CONCURRENTLY on partitioned
	// indexes and tables (14+).
	PartitionedReindexConcurrently bool
	// SignalAutovacuum: pg_signal_autovacuum_worker role (18+).
	SignalAutovacuum bool
	// BackendWAL: pg_stat_get_backend_wal(pid), each backend's own WAL
	// counters (18+).
	BackendWAL bool
}

// UnsupportedVersionError says which server was found and why it cannot be
// read.
type UnsupportedVersionError struct{ VersionNum int }

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("PostgreSQL %s is not supported: pgmedic needs PostgreSQL 13 or newer "+
		"(its catalogs lack pg_stat_activity.leader_pid and the progress views pgmedic reads, "+
		"and the release no longer receives fixes)", VersionString(e.VersionNum))
}

// CapabilitiesFor derives the capabilities of a server from its
// server_version_num.
func CapabilitiesFor(versionNum int) (Capabilities, error) {
	if versionNum < MinVersionNum {
		return Capabilities{}, &UnsupportedVersionError{VersionNum: versionNum}
	}
	return Capabilities{
		VersionNum:                     versionNum,
		WaitStart:                      versionNum >= 140000,
		HashRecord:                     versionNum >= 140000,
		TerminateTimeout:               versionNum >= 140000,
		ReservedConnections:            versionNum >= 160000,
		PartitionedReindexConcurrently: versionNum >= 140000,
		SignalAutovacuum:               versionNum >= 180000,
		BackendWAL:                     versionNum >= 180000,
	}, nil
}

// VersionString renders a server_version_num as "15.18".
func VersionString(num int) string {
	if num >= 100000 {
		return fmt.Sprintf("%d.%d", num/10000, num%10000)
	}
	return fmt.Sprintf("%d.%d.%d", num/10000, num/100%100, num%100)
}
