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
)

func TestActionCommands(t *testing.T) {
	inc := stageIncident(t)
	ctx := context.Background()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		full := append([]string{args[0], "-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "-d", "shop",
			"--audit-log", audit}, args[1:]...)
		err := run(ctx, full, &out, &out)
		return out.String(), err
	}
	exitCode := func(err error) int {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if err != nil {
			return 1
		}
		return 0
	}
	root := strconv.Itoa(inc.pileUp.Root.PID)

	out, err := cmd("cancel", root, "--yes")
	if exitCode(err) != 1 || !strings.Contains(out, "REFUSED   it is idle in a transaction") || !strings.Contains(out, "instead   terminate it instead") {
		t.Errorf("cancel of the idle root: %v\n%s", err, out)
	}

	out, err = cmd("drop-index", "accounts_code_uq", "--dry-run")
	if err != nil || !strings.Contains(out, `DROP INDEX CONCURRENTLY IF EXISTS "public"."accounts_code_uq";`) || !strings.Contains(out, "dry run: nothing was done") {
		t.Errorf("dry run: %v\n%s", err, out)
	}
	out, err = cmd("drop-index", "accounts_code_uq") // stdin is no terminal in tests
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("without a terminal and without --yes: %v", err)
	}
	out, err = cmd("drop-index", "accounts_code_uq", "--yes", "--read-only")
	if exitCode(err) != 1 || !strings.Contains(out, "REFUSED   pgmedic runs read-only") {
		t.Errorf("read-only: %v\n%s", err, out)
	}
	if out, err = cmd("rebuild-index", "no_such_index", "--yes"); err == nil || !strings.Contains(err.Error(), "there is no index no_such_index") {
		t.Errorf("missing index: %v", err)
	}

	out, err = cmd("terminate", root, "--yes")
	if err != nil || !strings.Contains(out, "DONE: backend "+root+" terminated; its transaction rolled back") || !strings.Contains(out, "audit: "+audit) {
		t.Fatalf("terminate: %v\n%s", err, out)
	}
	waitDone(t, inc.pileUp.DDL)
	// The drop would wait for the idle writer on accounts (and for the
	// build it holds up): end it too, and let the build finish.
	if out, err = cmd("terminate", strconv.Itoa(inc.writer.PID), "--yes"); err != nil {
		t.Fatalf("terminate the writer: %v\n%s", err, out)
	}
	waitDone(t, inc.builder)

	out, err = cmd("drop-index", "public.accounts_code_uq", "--yes")
	if err != nil || !strings.Contains(out, "DONE: index \"public\".\"accounts_code_uq\" dropped") {
		t.Fatalf("drop-index: %v\n%s", err, out)
	}
	// A valid, constraint-backed index is rebuilt with REINDEX CONCURRENTLY.
	out, err = cmd("rebuild-index", "public.users_pkey", "--yes")
	if err != nil || !strings.Contains(out, `REINDEX INDEX CONCURRENTLY "public"."users_pkey";`) ||
		!strings.Contains(out, "DONE: index \"public\".\"users_pkey\" rebuilt and valid") {
		t.Fatalf("rebuild-index users_pkey: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(raw), "\n"); lines != 10 {
		t.Errorf("audit has %d records, want the refused cancel, the read-only refusal, then started and final records of two terminates, the drop and the rebuild:\n%s", lines, raw)
	}
}

// The incident summary for the channel, with the actions of the audit log.
func TestSnapshotMarkdown(t *testing.T) {
	inc := stageIncident(t)
	ctx := context.Background()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	base := []string{"-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "-d", "shop", "--audit-log", audit}
	var out bytes.Buffer
	if err := run(ctx, append([]string{"terminate", strconv.Itoa(inc.writer.PID), "--yes"}, base...), &out, &out); err != nil {
		t.Fatalf("terminate: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, append([]string{"snapshot", "--format", "markdown"}, base...), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	md := out.String()
	for _, want := range []string{
		"### pgmedic incident summary",
		"**Pool** ",
		"**Root blockers**",
		fmt.Sprintf("- pid %d (`api`, user `postgres`) idle in transaction", inc.pileUp.Root.PID),
		"holds up ",
		"**Invalid indexes**",
		"`public.accounts_code_uq` on `public.accounts`",
		"**Actions taken**",
		"DONE terminate: backend " + strconv.Itoa(inc.writer.PID) + " terminated",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	if err := run(ctx, append([]string{"snapshot", "--format", "yaml"}, base...), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("--format yaml should be a usage error")
	}
}

// Under --redact the plan, its printout and the audit record carry no
// literal of the query.
func TestRedactedAuditLog(t *testing.T) {
	inc := stageIncident(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	var out bytes.Buffer
	args := []string{"terminate", strconv.Itoa(inc.pileUp.Root.PID), "--yes", "--redact", "-h", inc.c.SocketDir,
		"-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "-d", "shop", "--audit-log", audit}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("terminate --redact: %v\n%s", err, out.String())
	}
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"printout": out.String(), "audit log": string(raw)} {
		if !strings.Contains(text, "SET v = v + $1 WHERE id = $2") || strings.Contains(text, "WHERE id = 1") {
			t.Errorf("%s is not redacted:\n%s", name, text)
		}
	}
}
