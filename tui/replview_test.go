package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgmedic/pgmedic/inspect"
)

// replicationFixture is the migration's WAL seen from the primary: one
// standby far behind, one keeping up, a forgotten slot holding 40 GB, a
// slot in use, and a spike written by the migration.
func replicationFixture() *inspect.Snapshot {
	s := fixture(3)
	s.Backends = append(s.Backends, inspect.Backend{PID: 501, BackendType: "walsender", User: "replicator",
		ApplicationName: "replica-1", ClientAddr: "10.0.0.7", State: "active", Query: "START_REPLICATION 0/3000000"})
	reply := fixedNow.Add(-2 * time.Second)
	s.Replication = &inspect.Replication{LSN: "5/9A000000", WALBytesPerSecond: f64(48 << 20),
		WALSpike: &inspect.WALSpike{BytesPerSecond: 48 << 20, BaselineBytesPerSecond: 2 << 20, Since: fixedNow.Add(-time.Minute),
			Suspects: []inspect.WALSuspect{{PID: 4102, ApplicationName: "migrate", Query: "ALTER TABLE users ALTER id TYPE bigint",
				Attribution: inspect.Likely, Evidence: "rewriting public.users"}}},
		Standbys: []inspect.Standby{
			{PID: 501, ApplicationName: "replica-1", ClientAddr: "10.0.0.7", State: "streaming", SyncState: "async",
				SentLagBytes: i64(0), WriteLagBytes: i64(1 << 20), FlushLagBytes: i64(3 << 20), ReplayLagBytes: i64(2 << 30),
				ReplayLag: f64(95), ReplyTime: &reply},
			{PID: 502, ApplicationName: "replica-2\x1b[31m", ClientAddr: "10.0.0.8", State: "streaming", SyncState: "async",
				SentLagBytes: i64(0), WriteLagBytes: i64(0), FlushLagBytes: i64(0), ReplayLagBytes: i64(1 << 10), ReplayLag: f64(0.1),
				ReplyTime: &reply},
		},
		Slots: []inspect.Slot{
			{Name: "old_replica", Type: "physical", RetainedBytes: i64(40 << 30), WALStatus: "extended"},
			{Name: "replica_1", Type: "physical", Active: true, ActivePID: 501, RetainedBytes: i64(2 << 30), WALStatus: "reserved",
				SafeWALSizeBytes: nil},
		}}
	return s
}

// The Replication view at every size: each standby's lag at every
// stage, the slots, the spike; no line wider than the terminal, no raw
// escape.
func TestGoldenReplication(t *testing.T) {
	for _, size := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := newTestModel(t, replicationFixture(), size[0], size[1])
			press(m, "8")
			out := screen(m)
			fitsWidth(t, out, size[0])
			if strings.Contains(m.View().Content, "\x1b[31m") {
				t.Errorf("the standby's name reached the terminal raw")
			}
			mustContain(t, out, "REPLICATION", "STANDBYS (2)", "replica-1", "2.0 GB", "SLOTS (2)", "old_replica", "NO", "40.0 GB")
			golden.RequireEqual(t, out)
		})
	}
}

// Enter on a standby shows its walsender; the tab shows only when there
// is replication to show, and 8 without any says so.
func TestReplicationViewKeys(t *testing.T) {
	m := newTestModel(t, replicationFixture(), 120, 40)
	if !strings.Contains(m.tabs(), "Replication") {
		t.Errorf("no Replication tab: %q", m.tabs())
	}
	press(m, "8", "enter")
	mustContain(t, screen(m), "START_REPLICATION")
	press(m, "esc", "j")
	if got := m.panes[replicationView].selected().pid; got != 502 {
		t.Errorf("j selects pid %d, want 502", got)
	}

	none := newTestModel(t, fixture(3), 120, 40)
	if strings.Contains(none.tabs(), "Replication") {
		t.Errorf("a Replication tab with nothing to show: %q", none.tabs())
	}
	press(none, "8")
	mustContain(t, screen(none), "No standby, no replication slot")
}

// On a standby the view says how replay goes: paused, what is not
// replayed, the receiver, hot_standby_feedback and the cancelled queries.
func TestReplicationViewOnStandby(t *testing.T) {
	s := fixture(3)
	s.Replication = &inspect.Replication{LSN: "5/90000000", Standby: &inspect.StandbyState{ReplayPaused: true,
		ReplayLagBytes: i64(300 << 20), ReplayDelaySeconds: f64(125), Receiver: "streaming", SenderHost: "10.0.0.1",
		Conflicts: inspect.Conflicts{Snapshot: 4, Lock: 1}}}
	m := newTestModel(t, s, 100, 30)
	press(m, "8")
	mustContain(t, screen(m), "this server is a standby", "PAUSED: pg_wal_replay_resume() resumes it",
		"300.0 MB not replayed yet", "commit is 2m05s old", "streaming from 10.0.0.1", "hot_standby_feedback off",
		"cancelled    5 queries", "SLOTS (0)")
}

// A standby's replay waiting for a session here: Triage names the
// session, enter and K act on it; the view and the report say the same.
func TestReplayWaitsOnStandby(t *testing.T) {
	s := fixture(3)
	s.Server.InRecovery = true
	s.Replication = &inspect.Replication{Standby: &inspect.StandbyState{ReplayLagBytes: i64(40 << 20),
		Receiver: "streaming", ReplayWaits: "snapshot", ReplayHeldBy: []int{4300, 4101}}}
	keys := DefaultKeyMap()
	var replay *finding
	for _, f := range findings(s, 75, &keys) {
		if f.label == "REPLAY" {
			replay = &f
		}
	}
	if replay == nil || replay.target.pid != 4300 {
		t.Fatalf("the REPLAY finding: %+v", replay)
	}
	mustContain(t, replay.text, "replay WAITS for a snapshot (a recovery conflict): likely pid 4300 (psql), in a transaction for 25m",
		"the oldest transaction here (+1 more)", "40.0 MB received and not replayed")
	m := newTestModel(t, s, 120, 40)
	press(m, "8")
	mustContain(t, screen(m), "waits        for a snapshot (a recovery conflict): likely pid 4300 (psql)")

	s.Replication.Standby.ReplayWaits, s.Replication.Standby.ReplayHeldBy = "lock", []int{4101}
	lock := ""
	for _, f := range findings(s, 75, &keys) {
		if f.label == "REPLAY" {
			lock = f.text
		}
	}
	mustContain(t, lock, "replay WAITS for a lock (a recovery conflict) held by pid 4101 (api)")
}

// Every tab at 80 columns: PgBouncer and Replication both shown, short.
func TestAllTabsAt80(t *testing.T) {
	s := replicationFixture()
	s.Pooler = poolerFixture().Pooler
	m := newTestModel(t, s, 80, 24)
	for _, key := range []string{"1", "7", "8"} {
		press(m, key)
		out := screen(m)
		mustContain(t, out, "7 PgB", "8 Repl")
		fitsWidth(t, out, 80)
	}
}
