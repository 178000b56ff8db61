package report

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// Long operations in the text report and the Markdown summary: in words,
// with rate, ETA and who they block, and a table name carrying a
// terminal escape never reaches the output raw.
func TestOperationsInReports(t *testing.T) {
	at := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	started := at.Add(-3 * time.Minute)
	pct, rate, eta := 45.0, 1200.0, 720.0
	size, rows := int64(4_500_000_000), int64(47_000_000)
	s := &inspect.Snapshot{ServerTime: at, TakenAt: at,
		Operations: []inspect.Operation{{PID: 4101, Kind: "VACUUM FULL", Table: "public.\"big\x1b]52;c;ZXZpbA==\x07\"",
			Phase: "seq scanning heap", Step: 2, Steps: 8, Unit: "blocks", Done: 4500, Total: 10000, Percent: &pct,
			PerSecond: &rate, ETASeconds: &eta, Blocking: 26, Started: &started}},
		Rewrites: []inspect.Rewrite{{PID: 4102, Table: "payments", Action: "changes a column's type", Rewrites: true,
			SizeBytes: &size, Rows: &rows, Blocking: 3, Started: &started, Meaning: "It holds ACCESS EXCLUSIVE.",
			Unknown: "Its progress cannot be known."}}}
	var text, md strings.Builder
	if err := Text(&text, s, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&md, s, nil); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		for _, want := range []string{"pid 4101 VACUUM FULL on public.", "seq scanning heap (phase 2 of 8), 45.0% of 10000 blocks at 1200 blocks/s",
			"about 12m00s left in this phase", "blocks 26 session(s), running 3m00s",
			"pid 4102 rewrites payments: changes a column", "about 4.2 GB, 47000000 rows estimated, blocks 3 session(s)",
			"It holds ACCESS EXCLUSIVE.", "cannot be known"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%s carries a raw escape: %q", name, out)
		}
	}
	text.Reset()
	if err := Text(&text, &inspect.Snapshot{ServerTime: at}, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "LONG OPERATIONS: none running") {
		t.Errorf("no operations:\n%s", text.String())
	}
}
