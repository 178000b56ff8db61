package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	standby := pgtest.StartStandby(t, primary)
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

// The Replication view of the real binary in tmux, on both ends of a real
// streaming standby whose replay is paused while the primary writes, with
// a slot nobody uses: the primary's view lists the standby (its tab
// appears by itself) behind in replay and the idle slot; the standby's
// says replay is paused, with what it received and has not replayed.
func TestReplicationViewEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary := pgtest.Start(t, pgcluster.Options{})
	standby := pgtest.StartStandby(t, primary)
	for _, step := range []struct {
		c   *pgcluster.Cluster
		sql string
	}{
		{primary, "SELECT pg_create_physical_replication_slot('stuck_slot', true)"},
		{standby, "SELECT pg_wal_replay_pause()"},
		{primary, "CREATE TABLE w AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 100000) g"},
	} {
		if err := step.c.Exec(ctx, "postgres", step.sql); err != nil {
			t.Fatal(err)
		}
	}
	bin := buildBinary(t)
	view := func(c *pgcluster.Cluster, w, h int) *tmuxSession {
		dir := t.TempDir()
		cmd := fmt.Sprintf("HOME=%s %s -h %s -p %d -U postgres --no-record postgres; echo pgmedic exited with $?; sleep 60",
			dir, bin, c.SocketDir, c.Port)
		return startTmux(t, w, h, cmd)
	}
	noWider := func(screen string, w int) {
		for i, line := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
			if n := len([]rune(line)); n > w {
				t.Errorf("line %d is %d wide: %q", i, n, line)
			}
		}
	}

	p := view(primary, 100, 30)
	p.waitFor("8 Replication")
	p.keys("8")
	screen := p.waitFor("STANDBYS (1)", "streaming", "SLOTS (1)", "stuck_slot", "physical")
	noWider(screen, 100)
	// Replay is paused: the standby's row shows megabytes not replayed.
	var row string
	for _, line := range strings.Split(screen, "\n") {
		if strings.HasPrefix(line, "▶ ") && strings.Contains(line, "streaming") {
			row = line
		}
	}
	if !strings.Contains(row, " MB ") {
		t.Errorf("the standby's row shows no MB behind:\n%s", screen)
	}
	p.keys("Enter")
	p.waitFor("walsender", "START_REPLICATION")
	// Apart: an escape followed at once by q reads as alt+q.
	p.keys("Escape")
	p.waitFor("STANDBYS (1)")
	p.keys("q")
	p.waitFor("pgmedic exited with 0")

	s := view(standby, 80, 24)
	s.waitFor("8 Repl")
	s.keys("8")
	noWider(s.waitFor("this server is a standby", "PAUSED: pg_wal_replay_resume() resumes it", "not replayed yet",
		"receiver     streaming"), 80)
	s.keys("q")
	s.waitFor("pgmedic exited with 0")
}
