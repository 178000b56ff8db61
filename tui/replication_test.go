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

	s.Replication = &inspect.Replication{Standby: &inspect.StandbyState{ReplayPaused: true, ReplayLagBytes: i64(300 << 20)}}
	all = ""
	for _, f := range findings(s, 75, &m.c.keys) {
		all += f.label + " " + f.text + "\n"
	}
	mustContain(t, all, "REPLAY replay is PAUSED on this standby, 300.0 MB received and not replayed: pg_wal_replay_resume() resumes it")
}

// A WAL spike is a Triage line naming its first suspect, measured or
// likely (and saying which), that targets the suspect's pid: K there
// offers to terminate that backend. The server's text in it is escaped.
func TestWALSpikeFinding(t *testing.T) {
	spike := func(rate, base float64, suspects ...inspect.WALSuspect) *inspect.WALSpike {
		return &inspect.WALSpike{BytesPerSecond: rate, BaselineBytesPerSecond: base, Since: fixedNow, Suspects: suspects}
	}
	measured := spike(96<<20, 8<<20,
		inspect.WALSuspect{PID: 4102, ApplicationName: "migrate", Query: "INSERT INTO events SELECT * FROM staging",
			Attribution: inspect.Measured, Bytes: i64(1200 << 20)},
		inspect.WALSuspect{PID: 77, Attribution: inspect.Likely, Evidence: "running autovacuum on public.orders"})
	measured.MeasuredBytes = i64(1500 << 20)
	for _, c := range []struct {
		spike *inspect.WALSpike
		want  string
		pid   int
	}{
		{measured, "WAL at 96.0 MB/s, 12× the last minutes' 8.0 MB/s: pid 4102 (migrate) INSERT events writes it " +
			"(measured: 1.2 GB of the last 1.5 GB); 1 more suspect(s)", 4102},
		{spike(96<<20, 8<<20, inspect.WALSuspect{PID: 4102, ApplicationName: "mig\x1b[31mrate", Attribution: inspect.Likely,
			Evidence: "rewriting public.users", Query: "ALTER TABLE users ALTER COLUMN id TYPE bigint"}),
			"WAL at 96.0 MB/s, 12× the last minutes' 8.0 MB/s: likely pid 4102 (mig\\x1b[31mrate), rewriting public.users", 4102},
		{spike(40<<20, 0, inspect.WALSuspect{PID: 4300, ApplicationName: "psql", Attribution: inspect.Likely,
			Evidence: inspect.LongestWrite, Query: "UPDATE accounts SET balance = 0"}),
			"WAL at 40.0 MB/s, up from 0 bytes/s over the last minutes: likely pid 4300 (psql), the longest-running write statement: UPDATE accounts", 4300},
		{spike(40<<20, 2<<20), "WAL at 40.0 MB/s, 20× the last minutes' 2.0 MB/s: no running session explains it", 0},
	} {
		f := walSpikeFinding(c.spike)
		if f.label != "WAL" || !strings.HasPrefix(f.text, c.want) || f.target.pid != c.pid {
			t.Errorf("%s %q (target %d)\nwant WAL %q (target %d)", f.label, f.text, f.target.pid, c.want, c.pid)
		}
		if strings.ContainsRune(f.text, '\x1b') {
			t.Errorf("an escape reached the finding: %q", f.text)
		}
	}

	s := fixture(3)
	s.Replication = &inspect.Replication{WALBytesPerSecond: f64(96 << 20), WALSpike: measured}
	m := withExecutor(t, s, &fakeExecutor{}, false)
	tr := m.panes[0].(*triage)
	tr.list.selectKey("wal")
	if tr.list.selected != "wal" {
		t.Fatalf("no WAL row in Triage: %v", tr.list.keys)
	}
	mustContain(t, screen(m), "WAL        WAL at 96.0 MB/s, 12× the last minutes' 8.0 MB/s: pid 4102 (migrate)")
	press(m, "K")
	mustContain(t, screen(m), "Terminate backend 4102")
	press(m, "n")

	small := newTestModel(t, s, 80, 24)
	for i, line := range strings.Split(screen(small), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
}
