package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/scenario"
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
	// The same server reached over TCP, or through another database, is
	// the same server: the terminate done through the socket is listed.
	done := "DONE terminate: backend " + strconv.Itoa(inc.writer.PID) + " terminated"
	for name, conn := range map[string][]string{
		"over TCP":                  {"-d", inc.c.TCPConnString("shop", "", inc.c.Password)},
		"through database postgres": {"-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "-d", "postgres"},
	} {
		out.Reset()
		args := append([]string{"snapshot", "--format", "markdown", "--audit-log", audit}, conn...)
		if err := run(ctx, args, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(out.String(), done) {
			t.Errorf("the summary %s lacks the terminate:\n%s", name, out.String())
		}
	}
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"system_identifier":"[0-9]+"`).Match(raw) {
		t.Errorf("the audit records do not name the server's identity:\n%s", raw)
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

// stageSessions starts a cluster with database shop and n sessions idle
// in a transaction, application_name app.
func stageSessions(t *testing.T, app string, n int) (*pgcluster.Cluster, *scenario.Stage, []*scenario.Session) {
	t.Helper()
	c, st := shopStage(t)
	sessions, err := st.IdleInTransaction(context.Background(), app, n)
	if err != nil {
		t.Fatal(err)
	}
	return c, st, sessions
}

// lastAuditRecord reads the newest line of an audit log.
func lastAuditRecord(t *testing.T, path string) (rec struct {
	Outcome string                `json:"outcome"`
	Message string                `json:"message"`
	Target  actions.BackendTarget `json:"target"`
}, n int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatalf("audit log: %v\n%s", err, raw)
	}
	return rec, len(lines)
}

// A dry run names its target's identity and prints the command that runs
// that very plan; a run whose --expect names another session on the same
// pid is refused, recorded, and hits no one.
func TestExpect(t *testing.T) {
	c, st, sessions := stageSessions(t, "victim", 2)
	ctx := context.Background()
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	conn := []string{"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "--audit-log", audit, "shop"}
	run1 := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out, &out)
		return out.String(), err
	}
	alive := func(pid int) bool {
		var n int
		if err := st.Admin().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	pid := strconv.Itoa(sessions[0].PID)

	out, err := run1(append([]string{"terminate", pid, "--dry-run"}, conn...)...)
	m := regexp.MustCompile(`(?m)^  identity  (` + pid + `@(\S+))$`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("dry run: %v; want an identity line for pid %s:\n%s", err, pid, out)
	}
	identity := m[1]
	start, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		t.Fatal(err)
	}
	rerun := regexp.MustCompile(`(?m)^  (pgmedic terminate .*)$`).FindStringSubmatch(out)
	if rerun == nil || !strings.Contains(rerun[1], "--expect "+identity+" --yes") {
		t.Fatalf("the dry run does not print the command to run it:\n%s", out)
	}
	words, err := shellWords(rerun[1])
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseCommand(words[1:])
	if err != nil || parsed.target != pid || parsed.f.expect != identity || !parsed.f.yes || parsed.f.auditLog != audit ||
		parsed.f.conn != (connect.Options{Host: c.SocketDir, Port: strconv.Itoa(c.Port), User: "postgres", DBName: "shop"}) {
		t.Fatalf("%s reads back as %+v, %+v (%v)", rerun[1], parsed, parsed.f, err)
	}

	// The pid now belongs to a session that started later than the one
	// the dry run showed (what a reused pid looks like from here).
	earlier := pid + "@" + start.Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	out, err = run1(append([]string{"terminate", pid, "--yes", "--expect", earlier}, conn...)...)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "REFUSED   pid "+pid+" is now a different session (started ") ||
		!strings.Contains(out, "application victim, user postgres), not the one you expected (started ") || !strings.Contains(out, "nothing was done") {
		t.Errorf("terminate with a stale --expect: %v\n%s", err, out)
	}
	if !alive(sessions[0].PID) {
		t.Fatal("the session was terminated despite the stale --expect")
	}
	rec, n := lastAuditRecord(t, audit)
	if n != 1 || rec.Outcome != "refused" || !strings.Contains(rec.Message, "not the one you expected") || rec.Target.PID != sessions[0].PID {
		t.Errorf("the refusal is not recorded: %d record(s), last %+v", n, rec)
	}

	// The command the dry run printed, as printed.
	out, err = run1(words[1:]...)
	want := "target: pid " + pid + ", started " + start.UTC().Format("2006-01-02 15:04:05.000000") + " UTC, application victim, user postgres, client -"
	if err != nil || !strings.Contains(out, want+" (as --expect said)\nDONE: backend "+pid+" terminated") {
		t.Fatalf("the printed command: %v; want %q before DONE:\n%s", err, want, out)
	}
	if alive(sessions[0].PID) {
		t.Error("the session is still there")
	}

	// Without --expect the line naming the session still comes before
	// the action, and the audit record carries the same target.
	pid2 := strconv.Itoa(sessions[1].PID)
	var start2 time.Time
	if err := st.Admin().QueryRow(ctx, "SELECT backend_start FROM pg_stat_activity WHERE pid = $1", sessions[1].PID).Scan(&start2); err != nil {
		t.Fatal(err)
	}
	out, err = run1(append([]string{"terminate", pid2, "--yes"}, conn...)...)
	want = fmt.Sprintf("target: pid %s, started %s UTC, application victim, user postgres, client - (identity %s@%s)\nDONE: backend %s terminated",
		pid2, start2.UTC().Format("2006-01-02 15:04:05.000000"), pid2, start2.UTC().Format(time.RFC3339Nano), pid2)
	if err != nil || !strings.Contains(out, want) {
		t.Errorf("terminate without --expect: %v; want\n%s\nin:\n%s", err, want, out)
	}
	// the refusal, then a started and a final record for each terminate
	rec, n = lastAuditRecord(t, audit)
	if n != 5 || rec.Outcome != "done" || rec.Target.PID != sessions[1].PID || !rec.Target.BackendStart.Equal(start2) ||
		rec.Target.Application != "victim" || rec.Target.User != "postgres" {
		t.Errorf("audit: %d record(s), last %+v; want the terminate of pid %s started %s", n, rec, pid2, start2)
	}
}

// An action whose audit log cannot be written is refused before anything
// is read or planned; --no-audit runs it without a record and says so.
func TestNoAudit(t *testing.T) {
	c, st, sessions := stageSessions(t, "victim", 1)
	ctx := context.Background()
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(sessions[0].PID)
	conn := []string{"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "shop"}
	run1 := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out, &out)
		return out.String(), err
	}

	out, err := run1(append([]string{"terminate", pid, "--yes", "--audit-log", filepath.Join(notADir, "audit.jsonl")}, conn...)...)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "audit log "+notADir+"/audit.jsonl: "+notADir+" is not a directory") ||
		!strings.Contains(err.Error(), "terminate was refused and nothing was done; pass --no-audit to run without an audit record") || out != "" {
		t.Errorf("unwritable audit log: %v\n%s", err, out)
	}
	// Refused up front: not even a connection (this server does not exist).
	err = run(ctx, []string{"drop-index", "ix", "--yes", "-h", t.TempDir(), "-p", "5999", "--audit-log", filepath.Join(notADir, "a")},
		&bytes.Buffer{}, &bytes.Buffer{})
	var ce *connect.Error
	if errors.As(err, &ce) || err == nil || !strings.Contains(err.Error(), "pass --no-audit") {
		t.Errorf("unwritable audit log, no server: %v; want the audit refusal before connecting", err)
	}
	// A dry run changes nothing: it only warns.
	out, err = run1(append([]string{"terminate", pid, "--dry-run", "--audit-log", filepath.Join(notADir, "audit.jsonl")}, conn...)...)
	if err != nil || !strings.Contains(out, "dry run: nothing was done") || !strings.Contains(out, "a real run would be refused; pass --no-audit") {
		t.Errorf("dry run with an unwritable audit log: %v\n%s", err, out)
	}

	out, err = run1(append([]string{"terminate", pid, "--dry-run", "--no-audit"}, conn...)...)
	if err != nil || !strings.Contains(out, "audit: off (--no-audit)") || !strings.Contains(out, " -d shop --no-audit\n") {
		t.Errorf("dry run with --no-audit: %v\n%s", err, out)
	}
	out, err = run1(append([]string{"terminate", pid, "--yes", "--no-audit"}, conn...)...)
	if err != nil || !strings.Contains(out, "DONE: backend "+pid+" terminated") || !strings.HasSuffix(out, "audit: off (--no-audit)\n") {
		t.Errorf("terminate --no-audit: %v\n%s", err, out)
	}
	if err := st.AwaitGone(ctx, sessions[0].PID); err != nil {
		t.Error(err)
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("--no-audit left %v in the state directory", entries)
	}
}

// A confirmation prompt gives up when the action's context ends: a
// signal must not wait for someone to press Enter.
func TestAskGivesUpOnCancel(t *testing.T) {
	r, w := io.Pipe() // nothing is ever typed
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	type answer struct {
		ok  bool
		err error
	}
	got := make(chan answer, 1)
	go func() {
		ok, err := ask(ctx, r, &bytes.Buffer{})
		got <- answer{ok, err}
	}()
	select {
	case a := <-got:
		if a.ok || a.err == nil {
			t.Errorf("ask = %v, %v; want a refusal after the cancel", a.ok, a.err)
		}
	case <-time.After(time.Minute): // a hang: nothing is ever typed
		t.Fatal("ask still waits for an answer a minute after the cancel")
	}
	ok, err := ask(context.Background(), strings.NewReader("yes\n"), &bytes.Buffer{})
	if !ok || err != nil {
		t.Errorf("a typed yes: %v, %v", ok, err)
	}
}

// SIGHUP (a dropped SSH session) or SIGINT during an action
// cancels it: a DROP INDEX CONCURRENTLY waiting on an idle transaction
// stops, and the process exits non-zero at once, saying why.
func TestActionInterrupted(t *testing.T) {
	bin := buildBinary(t)
	c, st, _ := stageSessions(t, "bystander", 0)
	ctx := context.Background()
	tbl := scenario.Table{Schema: "public", Name: "orders"}
	if err := st.CreateTable(ctx, tbl, 100); err != nil {
		t.Fatal(err)
	}
	if err := st.FailedUniqueIndex(ctx, tbl, "orders_code_uq"); err != nil {
		t.Fatal(err)
	}
	holders, err := st.IdleInTransaction(ctx, "holds-orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := holders[0].Exec(ctx, "SELECT count(*) FROM public.orders"); err != nil {
		t.Fatal(err)
	}

	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		cmd := exec.Command(bin, "drop-index", "public.orders_code_uq", "--yes", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port),
			"-U", "postgres", "--audit-log", audit, "shop")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first wait line: the drop hit its lock timeout behind the
		// idle transaction and will try again.
		lines := bufio.NewScanner(stderr)
		var seen []string
		for lines.Scan() {
			seen = append(seen, lines.Text())
			if strings.Contains(lines.Text(), "(its lock timeout)") {
				break
			}
		}
		if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "(its lock timeout)") {
			cmd.Process.Kill()
			t.Fatalf("no wait line on stderr: %q\n%s", seen, stdout.String())
		}
		sent := time.Now()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(stderr)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err = <-exited:
		case <-time.After(time.Minute): // a hang: the idle transaction never ends
			cmd.Process.Kill()
			t.Fatalf("%v: still running a minute after the signal", sig)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
			t.Errorf("%v: exit %v, want %d", sig, err, 128+int(sig))
		}
		if !strings.Contains(string(rest), "pgmedic: interrupted by "+signalName(sig)+": ") {
			t.Errorf("%v: stderr does not say it was interrupted:\n%s", sig, rest)
		}
		if rec, n := lastAuditRecord(t, audit); n != 2 || rec.Outcome != "cancelled" {
			t.Errorf("%v: the audit log has %d records, the last %+v; want started, then cancelled", sig, n, rec)
		}
		t.Logf("%v: exited %s after the signal; stdout ends %q; stderr after the wait line:\n%s", sig,
			time.Since(sent).Round(time.Millisecond), lastLines(stdout.String(), 3), rest)
	}
	// Nothing was dropped or terminated.
	var n int
	if err := st.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'orders_code_uq'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the invalid index: %d (%v), want it still there", n, err)
	}
	if err := st.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, holders[0].PID).Scan(&n); err != nil || n != 1 {
		t.Errorf("the idle transaction: %d (%v), want it still there", n, err)
	}
}

// A rebuild interrupted mid-build: SIGHUP (a dropped SSH session)
// cancels the REINDEX, drops its unfinished copy and records that; after
// SIGKILL nothing in pgmedic runs, but its started record is there, the
// server ends the orphaned REINDEX by itself (client_connection_check_
// interval, 14+), and the index is as it was, still rejecting duplicates.
func TestRebuildInterrupted(t *testing.T) {
	bin := buildBinary(t)
	c, st, _ := stageSessions(t, "bystander", 0)
	ctx := context.Background()
	tbl := scenario.Table{Schema: "public", Name: "orders"}
	if err := st.CreateTable(ctx, tbl, 2000); err != nil {
		t.Fatal(err)
	}
	if err := st.InterruptedDrop(ctx, tbl, "UNIQUE ", "orders_code_uq", "(code)"); err != nil {
		t.Fatal(err)
	}
	var oid uint32
	var version int
	if err := st.Admin().QueryRow(ctx, `SELECT 'public.orders_code_uq'::regclass::oid, current_setting('server_version_num')::int`).Scan(&oid, &version); err != nil {
		t.Fatal(err)
	}
	// An older snapshot on another table keeps the build waiting.
	if err := st.Exec(ctx, "CREATE TABLE elsewhere (x int); INSERT INTO elsewhere VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	old, err := st.Open(ctx, "report-rr")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM elsewhere"); err != nil {
		t.Fatal(err)
	}
	conn := []string{"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "shop"}
	reindexing := func() int {
		var n int
		if err := st.Admin().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'REINDEX INDEX CONCURRENTLY%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL} {
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		cmd := exec.Command(bin, append([]string{"rebuild-index", "public.orders_code_uq", "--yes", "--audit-log", audit}, conn...)...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stderr)
		waiting := false
		for !waiting && lines.Scan() {
			waiting = strings.Contains(lines.Text(), "waiting for old snapshots") &&
				strings.Contains(lines.Text(), fmt.Sprintf("waiting for pid %d (report-rr, idle in transaction", old.PID))
		}
		if !waiting {
			cmd.Process.Kill()
			t.Fatalf("%v: the rebuild never said whom it waits for\n%s", sig, stdout.String())
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, stderr)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err = <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: still running 40s after the signal", sig)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("%v: exit %v, want non-zero", sig, err)
		}
		rec, n := lastAuditRecord(t, audit)
		switch sig {
		case syscall.SIGHUP:
			if n != 2 || rec.Outcome != "cancelled" || !strings.Contains(rec.Message, "dropped the unfinished copy") {
				t.Errorf("SIGHUP: %d audit records, the last %+v; want started, then cancelled with the copy dropped", n, rec)
			}
			if r := reindexing(); r != 0 {
				t.Errorf("SIGHUP: %d REINDEX still running", r)
			}
		case syscall.SIGKILL:
			if n != 1 || rec.Outcome != "started" {
				t.Errorf("SIGKILL: %d audit records, the last %+v; want the started record alone", n, rec)
			}
			if version >= 140000 {
				deadline := time.Now().Add(time.Minute)
				for reindexing() != 0 && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				if r := reindexing(); r != 0 {
					t.Errorf("SIGKILL: the orphaned REINDEX still runs a minute later, holding its lock")
				}
			}
		}
		// Either way the index is the one it was, and still protects.
		var now uint32
		var valid, ready bool
		if err := st.Admin().QueryRow(ctx, `SELECT indexrelid, indisvalid, indisready FROM pg_index WHERE indexrelid = 'public.orders_code_uq'::regclass`).Scan(&now, &valid, &ready); err != nil {
			t.Fatal(err)
		}
		if now != oid || valid || !ready {
			t.Errorf("%v: the index is oid %d (was %d), valid %v, ready %v", sig, now, oid, valid, ready)
		}
		if err := st.Exec(ctx, "INSERT INTO public.orders (id, code) VALUES (-1, 'c1')"); err == nil || !strings.Contains(err.Error(), "23505") {
			t.Errorf("%v: the index should still reject duplicates: %v", sig, err)
		}
	}
	// What SIGKILL left: the unfinished copy, invalid, which pgmedic can drop.
	var leftover string
	if err := st.Admin().QueryRow(ctx, `SELECT relname FROM pg_class WHERE relname LIKE 'orders_code_uq_ccnew%'`).Scan(&leftover); err == nil {
		out, err := exec.Command(bin, append([]string{"drop-index", "public." + leftover, "--yes", "--no-audit"}, conn...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "DONE") {
			t.Errorf("dropping the copy SIGKILL left: %v\n%s", err, out)
		}
	}
	old.Exec(ctx, "ROLLBACK")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
