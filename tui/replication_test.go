package tui

import (
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/inspect"
)

func i64(n int64) *int64     { return &n }
func f64(f float64) *float64 { return &f }

// A standby falling behind and a forgotten slot holding gigabytes are
// Triage lines; a small inactive slot, an active one and a standby that
// keeps up are not. On a standby, paused replay is.
func TestReplicationFindings(t *testing.T) {
	s := fixture(3)
	s.Replication = &inspect.Replication{WALBytesPerSecond: f64(48 << 20),
		Standbys: []inspect.Standby{
			{PID: 501, ApplicationName: "replica-1", ClientAddr: "10.0.0.7", ReplayLagBytes: i64(2 << 30), ReplayLag: f64(95)},
			{PID: 502, ApplicationName: "replica-2", ClientAddr: "10.0.0.8", ReplayLagBytes: i64(1 << 10), ReplayLag: f64(0.1)},
		},
		Slots: []inspect.Slot{
			{Name: "old_replica", Type: "physical", RetainedBytes: i64(40 << 30), WALStatus: "extended"},
			{Name: "small", Type: "physical", RetainedBytes: i64(1 << 20), WALStatus: "reserved"},
			{Name: "busy", Type: "physical", Active: true, RetainedBytes: i64(5 << 30), WALStatus: "reserved"},
		}}
	m := newTestModel(t, s, 80, 24)
	out := screen(m)
	mustContain(t, out, "STANDBY", "SLOT")
	var texts []string
	for _, f := range findings(s, 75, &m.c.keys) {
		texts = append(texts, f.label+" "+f.text)
	}
	all := strings.Join(texts, "\n")
	mustContain(t, all, "STANDBY standby replica-1 (10.0.0.7) replays 2.0 GB / 1m35s behind; WAL written at 48.0 MB/s",
		"SLOT slot old_replica inactive, retains 40.0 GB of WAL: disk fills until it is used or dropped")
	for _, not := range []string{"replica-2", "small", "busy"} {
		if strings.Contains(all, not) {
			t.Errorf("%q should not be a finding:\n%s", not, all)
		}
	}
	for i, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}

	s.Replication = &inspect.Replication{WALSpike: &inspect.WALSpike{BytesPerSecond: 96 << 20, BaselineBytesPerSecond: 8 << 20,
		Suspects: []inspect.WALSuspect{{PID: 4102, Application: "migrate", What: "rewrites public.users (changes a column's type)\x1b[2J", Why: "rewrite"}}}}
	var wal *finding
	for _, f := range findings(s, 75, &m.c.keys) {
		if f.label == "WAL" {
			wal = &f
		}
	}
	if wal == nil || wal.target.pid != 4102 ||
		wal.text != `WAL at 96.0 MB/s, 12× the minutes before (8.0 MB/s): likely pid 4102 (migrate) rewrites public.users (changes a column's type)\x1b[2J` {
		t.Errorf("WAL spike finding: %+v", wal)
	}

	s.Replication = &inspect.Replication{Standby: &inspect.StandbyState{ReplayPaused: true, ReplayLagBytes: i64(300 << 20)}}
	all = ""
	for _, f := range findings(s, 75, &m.c.keys) {
		all += f.label + " " + f.text + "\n"
	}
	mustContain(t, all, "REPLAY replay is PAUSED on this standby, 300.0 MB received and not replayed: pg_wal_replay_resume() resumes it")
}
