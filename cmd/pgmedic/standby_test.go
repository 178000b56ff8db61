package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// A standby replays the primary's invalid index, but it is read-only:
// drop and rebuild are refused before anything is asked, pointing at the
// primary. Signals are not writes: a terminate works there.
func TestActionsOnStandby(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := pgtest.Start(t, pgcluster.Options{})
	if err := primary.Exec(ctx, "postgres", "CREATE DATABASE shop"); err != nil {
		t.Fatal(err)
	}
	onPrimary, err := scenario.NewStage(ctx, func(app string) string {
		return primary.ConnString("shop", "") + " application_name='" + app + "'"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onPrimary.Close() })
	accounts := scenario.Table{Schema: "public", Name: "accounts"}
	if err := onPrimary.CreateTable(ctx, accounts, 100); err != nil {
		t.Fatal(err)
	}
	if err := onPrimary.FailedUniqueIndex(ctx, accounts, "accounts_code_uq"); err != nil {
		t.Fatal(err)
	}
	standby, err := primary.StartStandby(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := standby.Stop(); err != nil {
			t.Errorf("stopping the standby: %v", err)
		}
	})
	if err := standby.CaughtUp(ctx, primary); err != nil {
		t.Fatal(err)
	}
	onStandby, err := scenario.NewStage(ctx, func(app string) string {
		return standby.ConnString("shop", "") + " application_name='" + app + "'"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onStandby.Close() })
	reader, err := onStandby.IdleInTransaction(ctx, "report-reader", 1)
	if err != nil {
		t.Fatal(err)
	}

	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		full := append([]string{args[0], "-h", standby.SocketDir, "-p", strconv.Itoa(standby.Port), "-U", "postgres", "-d", "shop",
			"--audit-log", audit}, args[1:]...)
		err := run(ctx, full, &out, &out)
		return out.String(), err
	}
	for _, action := range []string{"drop-index", "rebuild-index"} {
		out, err := cmd(action, "public.accounts_code_uq", "--yes")
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "REFUSED") ||
			!strings.Contains(out, "standby") || !strings.Contains(out, "primary") {
			t.Errorf("%s on the standby: %v\n%s", action, err, out)
		}
		if strings.Contains(out, "read-only transaction") {
			t.Errorf("%s on the standby reached the server:\n%s", action, out)
		}
	}
	// The index is still there, on both servers.
	for _, c := range []*pgcluster.Cluster{primary, standby} {
		if err := c.Exec(ctx, "shop", "SELECT 'public.accounts_code_uq'::regclass"); err != nil {
			t.Errorf("port %d: %v", c.Port, err)
		}
	}

	pid := strconv.Itoa(reader[0].PID)
	out, err := cmd("terminate", pid, "--yes")
	if err != nil || !strings.Contains(out, "DONE: backend "+pid+" terminated") {
		t.Fatalf("terminate on the standby: %v\n%s", err, out)
	}
	if err := onStandby.AwaitGone(ctx, reader[0].PID); err != nil {
		t.Error(err)
	}
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), `"outcome":"refused"`); n != 2 {
		t.Errorf("audit has %d refusals, want the drop's and the rebuild's:\n%s", n, raw)
	}
}
