package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// A short run of the whole harness: the real binary in tmux against a
// small load. What pgmedic sends and holds is checked exactly; the
// machine-dependent numbers (CPU, milliseconds) are not checked at all,
// so that a busy machine cannot fail the test: they are the harness's
// to report.
func TestHarness(t *testing.T) {
	required := os.Getenv("CI") != "" || os.Getenv("PGMEDIC_REQUIRE_PG") != ""
	if _, err := exec.LookPath("tmux"); err != nil {
		if required {
			t.Fatalf("tmux is required: %v", err)
		}
		t.Skip("tmux not installed")
	}
	bin, err := pgcluster.FindBinDir()
	if err != nil {
		if required {
			t.Fatalf("PostgreSQL is required: %v", err)
		}
		t.Skip(err)
	}
	cfg := Config{
		Load:     Load{Backends: 30, Waiting: 6, IdleInTx: 4, Active: 2, Tables: 4},
		Duration: 3 * time.Second, MinRefreshes: 4, Warmup: time.Second, Interval: time.Second,
		Width: 120, Height: 40, PGBin: bin, Logf: t.Logf,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a hang
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// With four refreshes or more, a slow-cadence read (every 10s) cannot
	// pass for one that runs on every refresh.
	if r.Refreshes < 4 || r.PerRefresh != 3 {
		t.Errorf("%d refreshes, %d statements on each; want at least 4, and 3", r.Refreshes, r.PerRefresh)
	}
	if r.MaxConnections != 1 || r.Sessions != 1 {
		t.Errorf("pgmedic held up to %d connections in %d sessions; want 1 and 1", r.MaxConnections, r.Sessions)
	}
	if r.PeakRSS <= 0 || len(r.Statements) == 0 || len(r.KeyToFrame) != keyPresses {
		t.Errorf("not read: peak RSS %d, %d statements, %d of %d key presses drew their frame",
			r.PeakRSS, len(r.Statements), len(r.KeyToFrame), keyPresses)
	}
	if !strings.Contains(r.Screen, "6 waiting") {
		t.Errorf("the screen does not show the 6 waiters:\n%s", r.Screen)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"| statements on every refresh | 3 |", "| activity |", "30 backends", "| key press to its frame, through tmux | median "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
