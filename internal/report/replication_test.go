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
	for _, l := range ReplicationLines(r, safetext.Line) {
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
	if l := ReplicationLines(r, safetext.Line); !strings.Contains(strings.Join(l, "\n"), "no running session explains it") {
		t.Errorf("a spike with no suspect: %q", l)
	}
}
