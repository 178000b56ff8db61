package report

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// A WAL spike in words: the rate against the minutes before, then each
// suspect with how it was named, measured bytes when there are some, and
// no raw escape from the server's text.
func TestWALSpikeLine(t *testing.T) {
	since := time.Date(2026, 12, 3, 2, 0, 5, 0, time.UTC)
	rate, measured, wrote := float64(40<<20), int64(900<<20), int64(850<<20)
	r := &inspect.Replication{WALBytesPerSecond: &rate, WALSpike: &inspect.WALSpike{
		BytesPerSecond: rate, BaselineBytesPerSecond: 1 << 20, Since: since, MeasuredBytes: &measured,
		Suspects: []inspect.WALSuspect{
			{PID: 4101, ApplicationName: "backfill", Query: "UPDATE orders SET x = 1 WHERE id < $1",
				Attribution: inspect.Measured, Evidence: "its own WAL counter", Bytes: &wrote},
			{PID: 4102, ApplicationName: "mig\x1b]52;c;ZXZpbA==\x07", Query: "ALTER TABLE users ALTER id TYPE bigint",
				Attribution: inspect.Likely, Evidence: "rewriting public.users"},
		}}}
	line := ""
	for _, l := range ReplicationLines(&inspect.Snapshot{Replication: r}, safetext.Line) {
		if strings.HasPrefix(l, "WAL SPIKE") {
			line = l
		}
	}
	for _, want := range []string{"WAL SPIKE since 02:00:05: 40.0 MB/s against 1.0 MB/s",
		"pid 4101 (backfill, measured: 850.0 MB of the last 900.0 MB) UPDATE orders",
		", then pid 4102 (", "likely rewriting public.users) ALTER TABLE users"} {
		if !strings.Contains(line, want) {
			t.Errorf("spike line lacks %q:\n%s", want, line)
		}
	}
	if strings.ContainsAny(line, "\x1b\x07") {
		t.Errorf("raw escape in %q", line)
	}
	r.WALSpike.Suspects, r.WALSpike.MeasuredBytes = nil, nil
	if l := ReplicationLines(&inspect.Snapshot{Replication: r}, safetext.Line); !strings.Contains(strings.Join(l, "\n"), "no running session explains it") {
		t.Errorf("a spike with no suspect: %q", l)
	}
}

// A standby's replay waiting for a session is a line of the report, with
// the session's application and how long its transaction has been open.
func TestReplayWaitLine(t *testing.T) {
	now := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	began := now.Add(-65 * time.Second)
	s := &inspect.Snapshot{ServerTime: now, Server: inspect.Server{InRecovery: true},
		Backends: []inspect.Backend{{PID: 19080, BackendType: "client backend", ApplicationName: "report\x1b[2J", XactStart: &began}},
		Replication: &inspect.Replication{Standby: &inspect.StandbyState{Receiver: "streaming",
			ReplayWaits: "snapshot", ReplayHeldBy: []int{19080}}}}
	var text strings.Builder
	if err := Text(&text, s, Options{}); err != nil {
		t.Fatal(err)
	}
	want := "replay WAITS for a snapshot (a recovery conflict): likely pid 19080 (report"
	if !strings.Contains(text.String(), want) || !strings.Contains(text.String(), "in a transaction for 1m05s, the oldest transaction here") {
		t.Errorf("the report lacks %q:\n%s", want, text.String())
	}
	if strings.Contains(text.String(), "\x1b") {
		t.Errorf("raw escape in the report")
	}
	s.Replication.Standby.ReplayWaits = ""
	text.Reset()
	if err := Text(&text, s, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "WAITS") {
		t.Errorf("a replay that waits on nothing:\n%s", text.String())
	}
}
