package inspect

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Replication is the server's replication as one refresh saw it: on a
// primary its standbys, its slots and the WAL rate; on a standby, its
// replay.
type Replication struct {
	// LSN is the primary's current WAL position, or the standby's last
	// replayed one.
	LSN string `json:"lsn,omitempty"`
	// WALBytesPerSecond is the primary's WAL rate over the last
	// RateWindow; nil until two refreshes saw it.
	WALBytesPerSecond *float64 `json:"wal_bytes_per_second"`
	// WALSpike is set while that rate is well above the previous
	// minutes' (see WALSpike).
	WALSpike *WALSpike `json:"wal_spike,omitempty"`
	Standbys []Standby `json:"standbys"`
	Slots    []Slot    `json:"slots"`
	// Standby is set when the server is one.
	Standby *StandbyState `json:"standby,omitempty"`
}

// Standby is one walsender's standby, from pg_stat_replication. The lags
// in bytes are how far behind the primary's current position each stage
// is; the ones in seconds are the server's own (null when the standby is
// idle and caught up). Both are null when pgmedic's role may not see them.
type Standby struct {
	PID             int        `json:"pid"`
	ApplicationName string     `json:"application_name"`
	ClientAddr      string     `json:"client_addr"`
	State           string     `json:"state"`
	SyncState       string     `json:"sync_state"`
	SentLagBytes    *int64     `json:"sent_lag_bytes"`
	WriteLagBytes   *int64     `json:"write_lag_bytes"`
	FlushLagBytes   *int64     `json:"flush_lag_bytes"`
	ReplayLagBytes  *int64     `json:"replay_lag_bytes"`
	WriteLag        *float64   `json:"write_lag_seconds"`
	FlushLag        *float64   `json:"flush_lag_seconds"`
	ReplayLag       *float64   `json:"replay_lag_seconds"`
	ReplyTime       *time.Time `json:"reply_time"`
}

// Slot is a replication slot and the WAL it holds back.
type Slot struct {
	Name      string `json:"slot_name"`
	Type      string `json:"slot_type"`
	Database  string `json:"database,omitempty"`
	Temporary bool   `json:"temporary"`
	Active    bool   `json:"active"`
	ActivePID int    `json:"active_pid,omitempty"`
	// RetainedBytes is the WAL kept for it: from its restart_lsn to the
	// current position.
	RetainedBytes *int64 `json:"retained_bytes"`
	// WALStatus is reserved, extended, unreserved or lost.
	WALStatus        string `json:"wal_status"`
	SafeWALSizeBytes *int64 `json:"safe_wal_size_bytes"`
}

// StandbyState is a standby's replay.
type StandbyState struct {
	ReceiveLSN string `json:"receive_lsn"`
	ReplayLSN  string `json:"replay_lsn"`
	// ReplayLagBytes is WAL received and not yet replayed.
	ReplayLagBytes *int64 `json:"replay_lag_bytes"`
	// LastReplayed is the commit time of the last transaction replayed;
	// ReplayDelaySeconds how long ago that was, set only while replay is
	// behind what was received (a caught-up idle standby has no delay).
	LastReplayed       *time.Time `json:"last_replayed"`
	ReplayDelaySeconds *float64   `json:"replay_delay_seconds"`
	ReplayPaused       bool       `json:"replay_paused"`
	// Conflicts counts the queries cancelled for recovery, by cause,
	// summed over the databases.
	Conflicts          Conflicts `json:"conflicts"`
	HotStandbyFeedback bool      `json:"hot_standby_feedback"`
	// Receiver is the WAL receiver's status ("streaming"), "" when none
	// runs; SenderHost where it streams from.
	Receiver   string `json:"receiver"`
	SenderHost string `json:"sender_host,omitempty"`
	// ReplayWaits is the recovery conflict replay waits on now, from the
	// startup process's wait event: "snapshot", "lock", "buffer pin" or
	// "tablespace"; "" when it does not wait on one. It waits until the
	// sessions in the way end or max_standby_streaming_delay cancels them
	// (never, at -1): the standby falls behind meanwhile.
	ReplayWaits string `json:"replay_waits,omitempty"`
	// ReplayHeldBy are the sessions in the way, at most three: for a lock
	// the holders the server names (pg_blocking_pids), otherwise the
	// oldest transactions here, oldest first. The server does not say
	// which snapshot or pin conflicts, so those are the likely ones: a
	// snapshot conflict is with the oldest snapshots.
	ReplayHeldBy []int `json:"replay_held_by,omitempty"`
}

// Conflicts are pg_stat_database_conflicts' counters.
type Conflicts struct {
	Tablespace int64 `json:"tablespace"`
	Lock       int64 `json:"lock"`
	Snapshot   int64 `json:"snapshot"`
	BufferPin  int64 `json:"bufferpin"`
	Deadlock   int64 `json:"deadlock"`
}

// replicationJSON reads the replication, for the tick statement: a
// primary's or a standby's, whichever the server is. pg_current_wal_lsn()
// fails during recovery, so the branches are a CASE, which the server
// evaluates only as far as it needs. The walsenders come from
// pg_stat_get_wal_senders(), not pg_stat_replication: the view joins every
// backend's status to find a handful, a second pass over thousands of
// backends each refresh; their names come from the activity rows
// (fillReplication).
const replicationJSON = `CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.json_build_object(
    'standby', pg_catalog.json_build_array(
       pg_catalog.pg_last_wal_receive_lsn()::text, pg_catalog.pg_last_wal_replay_lsn()::text,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn())::bigint,
       pg_catalog.pg_last_xact_replay_timestamp(),
       extract(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.pg_last_xact_replay_timestamp()),
       pg_catalog.pg_is_wal_replay_paused(),
       (SELECT pg_catalog.json_build_array(sum(confl_tablespace), sum(confl_lock), sum(confl_snapshot),
                                            sum(confl_bufferpin), sum(confl_deadlock))
        FROM pg_catalog.pg_stat_database_conflicts),
       pg_catalog.current_setting('hot_standby_feedback')::bool,
       (SELECT pg_catalog.json_build_array(status, sender_host) FROM pg_catalog.pg_stat_wal_receiver)),
    'slots', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(slot_name, slot_type, database, temporary, active,
                active_pid, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_replay_lsn(), restart_lsn)::bigint,
                wal_status, safe_wal_size) ORDER BY slot_name)
              FROM pg_catalog.pg_replication_slots))
  ELSE pg_catalog.json_build_object(
    'lsn', pg_catalog.pg_current_wal_lsn()::text,
    'standbys', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(pid, coalesce(state, ''), coalesce(sync_state, ''),
                   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), sent_lsn)::bigint,
                   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), write_lsn)::bigint,
                   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), flush_lsn)::bigint,
                   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::bigint,
                   extract(epoch FROM write_lag), extract(epoch FROM flush_lag), extract(epoch FROM replay_lag),
                   reply_time) ORDER BY pid)
                 FROM pg_catalog.pg_stat_get_wal_senders()),
    'slots', (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(slot_name, slot_type, database, temporary, active,
                active_pid, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint,
                wal_status, safe_wal_size) ORDER BY slot_name)
              FROM pg_catalog.pg_replication_slots))
  END`

// parseReplication reads replicationJSON's object.
func parseReplication(raw []byte) (*Replication, error) {
	if raw == nil {
		return nil, nil
	}
	var j struct {
		LSN      string            `json:"lsn"`
		Standbys []json.RawMessage `json:"standbys"`
		Slots    []json.RawMessage `json:"slots"`
		Standby  json.RawMessage   `json:"standby"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("reading the replication: %w", err)
	}
	r := &Replication{LSN: j.LSN}
	for _, row := range j.Standbys {
		var s Standby
		var lsns [4]*float64
		var reply *string
		if err := unmarshalArray(row, &s.PID, &s.State, &s.SyncState, &lsns[0], &lsns[1], &lsns[2], &lsns[3], &s.WriteLag, &s.FlushLag, &s.ReplayLag, &reply); err != nil {
			return nil, fmt.Errorf("reading the standbys: %w", err)
		}
		s.SentLagBytes, s.WriteLagBytes, s.FlushLagBytes, s.ReplayLagBytes = bytesOf(lsns[0]), bytesOf(lsns[1]), bytesOf(lsns[2]), bytesOf(lsns[3])
		s.ReplyTime = timeOf(reply)
		r.Standbys = append(r.Standbys, s)
	}
	for _, row := range j.Slots {
		var s Slot
		var db, status *string
		var pid *int
		var retained, safe *float64
		if err := unmarshalArray(row, &s.Name, &s.Type, &db, &s.Temporary, &s.Active, &pid, &retained, &status, &safe); err != nil {
			return nil, fmt.Errorf("reading the replication slots: %w", err)
		}
		s.Database, s.WALStatus = deref(db), deref(status)
		if pid != nil {
			s.ActivePID = *pid
		}
		s.RetainedBytes, s.SafeWALSizeBytes = bytesOf(retained), bytesOf(safe)
		r.Slots = append(r.Slots, s)
	}
	if len(j.Standby) > 0 && string(j.Standby) != "null" {
		st := &StandbyState{}
		var receive, replay, last *string
		var lag, delay *float64
		var conflicts []*float64
		var receiver []*string
		if err := unmarshalArray(j.Standby, &receive, &replay, &lag, &last, &delay, &st.ReplayPaused, &conflicts,
			&st.HotStandbyFeedback, &receiver); err != nil {
			return nil, fmt.Errorf("reading the standby's replay: %w", err)
		}
		st.ReceiveLSN, st.ReplayLSN, st.ReplayLagBytes, st.LastReplayed = deref(receive), deref(replay), bytesOf(lag), timeOf(last)
		if len(conflicts) == 5 {
			c := make([]int64, 5)
			for i, v := range conflicts {
				if v != nil {
					c[i] = int64(*v)
				}
			}
			st.Conflicts = Conflicts{c[0], c[1], c[2], c[3], c[4]}
		}
		if len(receiver) == 2 {
			st.Receiver, st.SenderHost = deref(receiver[0]), deref(receiver[1])
		}
		// A delay only while replay is behind what arrived: an idle
		// primary sends nothing, and the last commit's age grows anyway.
		if st.LastReplayed != nil && st.ReplayLagBytes != nil && *st.ReplayLagBytes > 0 {
			st.ReplayDelaySeconds = delay
		}
		r.Standby = st
		r.LSN = st.ReplayLSN
	}
	return r, nil
}

// fillReplication names each standby from its walsender's activity row
// and, on a standby, what its replay waits on; holders are the sessions
// holding the lock the startup process waits for, when that was read.
func fillReplication(s *Snapshot, holders []int) {
	if s.Replication == nil {
		return
	}
	if st := s.Replication.Standby; st != nil {
		st.ReplayWaits, st.ReplayHeldBy = replayConflict(s, holders)
	}
	for i := range s.Replication.Standbys {
		sb := &s.Replication.Standbys[i]
		if b := s.Backend(sb.PID); b != nil {
			sb.ApplicationName, sb.ClientAddr = b.ApplicationName, b.ClientAddr
		}
	}
}

// replayWaitEvents are the startup process's waits for a recovery
// conflict, by wait event, in words.
var replayWaitEvents = map[string]string{
	"RecoveryConflictSnapshot":   "snapshot",
	"RecoveryConflictTablespace": "tablespace",
	"BufferPin":                  "buffer pin",
}

// startupWaitsOnLock returns the pid of a standby's startup process
// waiting for a heavyweight lock, 0 when it does not.
func startupWaitsOnLock(s *Snapshot) int {
	if b := startupProcess(s); b != nil && b.WaitEventType == "Lock" {
		return b.PID
	}
	return 0
}

func startupProcess(s *Snapshot) *Backend {
	if s == nil || !s.Server.InRecovery {
		return nil
	}
	for i := range s.Backends {
		if s.Backends[i].BackendType == "startup" {
			return &s.Backends[i]
		}
	}
	return nil
}

// replayHoldersSQL reads who holds the lock a standby's startup process
// ($1) waits for: pg_blocking_pids() answers nothing for it. Its lock is
// ACCESS EXCLUSIVE, which every mode conflicts with, so every holder of
// the same object is in its way. It is read only while the previous
// refresh saw the startup process waiting on a lock.
const replayHoldersSQL = `/* pgmedic:replay-holders */
SELECT coalesce(array_agg(DISTINCT h.pid), '{}')
FROM pg_catalog.pg_locks w
JOIN pg_catalog.pg_locks h ON h.granted AND h.pid IS NOT NULL AND h.pid <> w.pid AND h.locktype = w.locktype
 AND h.database IS NOT DISTINCT FROM w.database AND h.relation IS NOT DISTINCT FROM w.relation
 AND h.page IS NOT DISTINCT FROM w.page AND h.tuple IS NOT DISTINCT FROM w.tuple
 AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid AND h.transactionid IS NOT DISTINCT FROM w.transactionid
 AND h.classid IS NOT DISTINCT FROM w.classid AND h.objid IS NOT DISTINCT FROM w.objid
 AND h.objsubid IS NOT DISTINCT FROM w.objsubid
WHERE w.pid = $1 AND NOT w.granted`

// replayConflict is what a standby's replay waits on, and the sessions in
// its way, oldest transaction first: for a lock, its holders (none known
// until they were read); otherwise the oldest transactions.
func replayConflict(s *Snapshot, holders []int) (string, []int) {
	startup := startupProcess(s)
	if startup == nil {
		return "", nil
	}
	what := replayWaitEvents[startup.WaitEvent]
	if startup.WaitEventType == "Lock" {
		what = "lock"
	}
	if what == "" {
		return "", nil
	}
	var oldest []*Backend
	for i := range s.Backends {
		b := &s.Backends[i]
		switch {
		case b.Own:
			continue
		case what == "lock":
			// A holder is in the way whatever it is, even when the
			// role may not see when its transaction began.
			if !slices.Contains(holders, b.PID) {
				continue
			}
		case !b.IsClient() || b.XactStart == nil:
			continue
		}
		oldest = append(oldest, b)
	}
	// Oldest first; a transaction start not shown comes last.
	slices.SortStableFunc(oldest, func(a, b *Backend) int {
		switch {
		case a.XactStart == nil && b.XactStart == nil:
			return 0
		case a.XactStart == nil:
			return 1
		case b.XactStart == nil:
			return -1
		}
		return a.XactStart.Compare(*b.XactStart)
	})
	var pids []int
	for _, b := range oldest[:min(3, len(oldest))] {
		pids = append(pids, b.PID)
	}
	return what, pids
}

// unmarshalArray reads a JSON array into the pointers given, in order.
func unmarshalArray(raw json.RawMessage, into ...any) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return err
	}
	if len(items) != len(into) {
		return fmt.Errorf("%d values, want %d", len(items), len(into))
	}
	for i, it := range items {
		if err := json.Unmarshal(it, into[i]); err != nil {
			return fmt.Errorf("value %d: %w", i+1, err)
		}
	}
	return nil
}

func bytesOf(f *float64) *int64 {
	if f == nil {
		return nil
	}
	n := int64(*f)
	return &n
}

func timeOf(s *string) *time.Time {
	if s == nil {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-07:00", "2006-01-02T15:04:05.999999-07"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return &t
		}
	}
	return nil
}

// parseLSN turns "16/B374D848" into a byte position.
func parseLSN(s string) (uint64, bool) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, false
	}
	return uint64(hi)<<32 | uint64(lo), true
}

// estimateWAL sets the primary's WAL rate from its position over the last
// RateWindow.
func (r *rates) estimateWAL(rep *Replication, now time.Time) {
	if rep == nil || rep.Standby != nil {
		return
	}
	if pos, ok := parseLSN(rep.LSN); ok {
		rep.WALBytesPerSecond, _ = r.measure(progressKey{kind: "wal"}, int64(pos), 0, now)
	}
}
