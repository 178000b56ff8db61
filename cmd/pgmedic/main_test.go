package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// incident stages, in database "shop", a migration pile-up, a failed
// unique build and a build in progress: every section of the snapshot
// has something in it.
type incident struct {
	c       *pgcluster.Cluster
	pileUp  *scenario.PileUp
	writer  *scenario.Session // idle in a transaction: the build waits for it
	builder *scenario.Session
}

// shopStage starts a cluster with a database shop, and a stage on it.
func shopStage(t *testing.T) (*pgcluster.Cluster, *scenario.Stage) {
	t.Helper()
	ctx := context.Background()
	c := pgtest.Start(t, pgcluster.Options{})
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE shop"); err != nil {
		t.Fatal(err)
	}
	st, err := scenario.NewStage(ctx, func(app string) string {
		return c.ConnString("shop", "") + " application_name='" + app + "'"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return c, st
}

func stageIncident(t *testing.T) *incident {
	t.Helper()
	ctx := context.Background()
	c, st := shopStage(t)
	users := scenario.Table{Schema: "public", Name: "users"}
	accounts := scenario.Table{Schema: "public", Name: "accounts"}
	inc := &incident{c: c}
	for _, step := range []func() error{
		func() error { return st.CreateTable(ctx, users, 100) },
		func() error { return st.CreateTable(ctx, accounts, 100) },
		func() error { return st.FailedUniqueIndex(ctx, accounts, "accounts_code_uq") },
		func() (err error) { inc.pileUp, err = st.MigrationBehindIdleTx(ctx, users, 3); return err },
		func() (err error) {
			inc.writer, inc.builder, err = st.BuildWaitingForWriters(ctx, accounts, "accounts_v_idx")
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return inc
}

func (inc *incident) args(extra ...string) []string {
	return append([]string{"snapshot", "-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "-d", "shop"}, extra...)
}

func TestSnapshotCommand(t *testing.T) {
	inc := stageIncident(t)
	ctx := context.Background()

	t.Run("json contract", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := run(ctx, inc.args("--json"), &out, &errOut); err != nil {
			t.Fatalf("snapshot --json: %v", err)
		}
		var doc map[string]any
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
		}
		requireKeys(t, "top level", doc, "taken_at", "server", "connections", "lock_forest", "indexes", "builds")
		requireKeys(t, "server", doc["server"].(map[string]any), "version", "version_num", "max_connections",
			"reserved_connections", "usable_connections", "client_connections", "in_recovery", "own_pid")
		conns := doc["connections"].([]any)
		if len(conns) == 0 {
			t.Fatal("no connections")
		}
		for _, c := range conns {
			requireKeys(t, "connection", c.(map[string]any), "pid", "backend_type", "database", "user", "application_name",
				"client_addr", "state", "wait_event_type", "wait_event", "backend_start", "xact_start", "query_start",
				"state_change", "query", "blocked_by")
		}
		forest := doc["lock_forest"].([]any)
		if len(forest) != 2 {
			t.Fatalf("lock forest has %d roots, want 2 (the idle transaction, the writer the build waits for)", len(forest))
		}
		var sawRoot bool
		for _, r := range forest {
			root := r.(map[string]any)
			requireKeys(t, "lock root", root, "pid", "blocked_total", "children")
			if int(root["pid"].(float64)) == inc.pileUp.Root.PID {
				sawRoot = true
				if root["blocked_total"].(float64) != 4 {
					t.Errorf("root blocked_total = %v, want 4", root["blocked_total"])
				}
				ddl := root["children"].([]any)[0].(map[string]any)
				if int(ddl["pid"].(float64)) != inc.pileUp.DDL.PID || len(ddl["children"].([]any)) != 3 {
					t.Errorf("root's child = %v, want the DDL with 3 readers under it", ddl)
				}
			}
		}
		if !sawRoot {
			t.Errorf("the idle transaction %d is not a root", inc.pileUp.Root.PID)
		}
		indexes := doc["indexes"].([]any)
		if len(indexes) != 2 {
			t.Fatalf("%d indexes, want the failed unique one and the one being built", len(indexes))
		}
		for _, ix := range indexes {
			requireKeys(t, "index", ix.(map[string]any), "database", "schema", "table", "index", "status", "valid",
				"ready", "unique", "constraint", "size_bytes", "definition")
		}
		builds := doc["builds"].([]any)
		if len(builds) != 1 {
			t.Fatalf("%d builds, want 1", len(builds))
		}
		b := builds[0].(map[string]any)
		requireKeys(t, "build", b, "pid", "database", "table", "index", "command", "phase", "blocks_done",
			"blocks_total", "tuples_done", "tuples_total", "percent", "eta_seconds")
		if int(b["pid"].(float64)) != inc.builder.PID || b["index"] != "accounts_v_idx" {
			t.Errorf("build = %v", b)
		}
	})

	t.Run("text report", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(ctx, inc.args(), &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		for _, want := range []string{
			"CONNECTIONS ok:",
			"LOCKS: 2 root blocker(s), 5 session(s) waiting",
			"ROOT pid " + strconv.Itoa(inc.pileUp.Root.PID) + " IDLE IN TX",
			"WAITING pid " + strconv.Itoa(inc.pileUp.DDL.PID) + " waiting",
			"AccessExclusiveLock on users",
			"QUEUED pid " + strconv.Itoa(inc.pileUp.Late[0].PID),
			"(queued behind pid " + strconv.Itoa(inc.pileUp.DDL.PID) + ")",
			"INVALID public.accounts_code_uq on public.accounts: build failed before the index was ready",
			"CREATE UNIQUE INDEX accounts_code_uq ON public.accounts USING btree (code)",
			"BUILDING public.accounts_v_idx",
			"pid " + strconv.Itoa(inc.builder.PID) + " CREATE INDEX CONCURRENTLY accounts_v_idx on accounts: waiting for writers before build (phase 2 of 8)",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("report lacks %q:\n%s", want, text)
			}
		}
		// Roots first: the pile-up (4 blocked) before the writer (1).
		if strings.Index(text, "ROOT pid "+strconv.Itoa(inc.pileUp.Root.PID)) > strings.Index(text, "ROOT pid ") {
			t.Errorf("the root blocking most sessions is not listed first:\n%s", text)
		}
	})

	t.Run("psql positional database and user", func(t *testing.T) {
		var out bytes.Buffer
		args := []string{"snapshot", "-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "--json", "shop", "postgres"}
		if err := run(ctx, args, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Server struct{ Database, User string } `json:"server"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Server.Database != "shop" || doc.Server.User != "postgres" {
			t.Errorf("connected to %+v (%v), want shop as postgres", doc.Server, err)
		}
	})

	t.Run("connection string as -d", func(t *testing.T) {
		var out bytes.Buffer
		args := []string{"snapshot", "--json", "-d", inc.c.ConnString("shop", "postgres")}
		if err := run(ctx, args, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out.Bytes(), []byte(`"database": "shop"`)) {
			t.Errorf("not connected to shop:\n%.300s", out.String())
		}
	})

	t.Run("unreachable server is a clear error", func(t *testing.T) {
		err := run(ctx, []string{"snapshot", "-h", t.TempDir(), "-p", "5999", "-U", "postgres"}, &bytes.Buffer{}, &bytes.Buffer{})
		var ce *connect.Error
		if !errors.As(err, &ce) {
			t.Fatalf("error %v (%T), want a *connect.Error", err, err)
		}
		if !strings.Contains(err.Error(), "there is no server socket there") {
			t.Errorf("error = %q", err)
		}
	})
}

func requireKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks key %q (has %v)", what, k, mapKeys(m))
		}
	}
}

func mapKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-h, --host", "pg_use_reserved_connections", "PGSERVICE=prod-primary pgmedic snapshot",
		"--expect=IDENTITY", "--no-audit", "pgmedic terminate 4101 -h db1 -U postgres shop"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"snapshot", "--no-such-flag"}, {"snapshot", "a", "b", "c"}, {"snapshot", "-d", "x", "y"}} {
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--help") {
			t.Errorf("run(%q) = %v, want a usage error (exit 2) pointing to --help", args, err)
		}
	}
}

// buildBinary builds pgmedic for a test that runs the real program.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgmedic")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The real binary: exit codes, and no Go stack trace or password in what
// a user sees.
func TestBinary(t *testing.T) {
	bin := buildBinary(t)
	c := pgtest.Start(t, pgcluster.Options{})

	cmd := exec.Command(bin, "snapshot")
	cmd.Env = append(os.Environ(), "PGHOST="+c.SocketDir, "PGPORT="+strconv.Itoa(c.Port), "PGUSER=postgres", "PGDATABASE=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("pgmedic snapshot ")) {
		t.Errorf("snapshot with PG* variables: %v\n%s", err, out)
	}

	cmd = exec.Command(bin, "snapshot", "-d", c.TCPConnString("postgres", "postgres", "Wr0ng-Pa55word"))
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("wrong password: exit %v, want 1\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Wr0ng-Pa55word")) || bytes.Contains(out, []byte("goroutine")) {
		t.Errorf("output leaks the password or a stack trace:\n%s", out)
	}
	if !bytes.Contains(out, []byte("the password was rejected")) || bytes.Count(bytes.TrimSpace(out), []byte("\n")) != 0 {
		t.Errorf("want one clear line about the password, got:\n%s", out)
	}

	out, err = exec.Command(bin, "frobnicate").CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("unknown command: %v, want exit 2\n%s", err, out)
	}
}

func waitDone(t *testing.T, s *scenario.Session) {
	t.Helper()
	if err := s.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestDemoWithoutServerBinaries(t *testing.T) {
	t.Setenv("PGMEDIC_PG_BIN", "")
	// --print-dsn: without it, and without a terminal, the demo stops
	// before it looks for the binaries.
	err := run(context.Background(), []string{"demo", "--print-dsn", "--pg-bin", t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), "brew install") {
		t.Errorf("demo with an empty --pg-bin: %v", err)
	}
}

// Without a terminal, the demo says so before it builds a cluster: with
// binaries that cannot be found, it would otherwise fail on those; with
// them, after a long wait.
func TestDemoNeedsATerminal(t *testing.T) {
	t.Setenv("PGMEDIC_PG_BIN", "")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"demo", "--pg-bin", t.TempDir()}, &out, &errOut)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "needs a terminal") || !strings.Contains(err.Error(), "--print-dsn") {
		t.Errorf("demo without a terminal: %v; want a usage error pointing to --print-dsn", err)
	}
	if errOut.Len() > 0 || out.Len() > 0 {
		t.Errorf("the demo started anyway:\n%s%s", out.String(), errOut.String())
	}
}

// PostgreSQL 12 and older: a clear "not supported", not a missing column.
// scripts/version-matrix runs this on 12; on supported servers it skips.
func TestUnsupportedServer(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	if c.Major >= 13 {
		t.Skipf("PostgreSQL %s is supported", c.Version)
	}
	err := run(context.Background(), []string{"snapshot", "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres"},
		&bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL "+c.Version+" is not supported: pgmedic needs PostgreSQL 13 or newer") {
		t.Errorf("snapshot on %s: %v", c.Version, err)
	}
}

// The full-screen view refuses to start without a terminal for its
// screen and its keys, and says what to use instead.
func TestFullScreenNeedsATerminal(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-h", "/nonexistent"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "needs a terminal") || !strings.Contains(err.Error(), "pgmedic snapshot") {
		t.Errorf("without a terminal: %v; want it refused, pointing to pgmedic snapshot", err)
	}
}

// The demo's actions are recorded in its cluster's directory, removed
// with it, not in the audit log of real incidents; --audit-log still
// chooses. The demo's full-screen view needs a terminal, so its flags are
// set as runDemo sets them and an action is run with them: the view's
// executor records through auditFor, as the action command does.
func TestDemoAuditLog(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	c, _, sessions := stageSessions(t, "rehearsal", 1)
	pid := strconv.Itoa(sessions[0].PID)
	cmd, err := parseCommand([]string{"terminate", pid, "--yes"})
	if err != nil {
		t.Fatal(err)
	}
	f := cmd.f
	useDemo(f, c)
	cfg, err := connect.Config(f.conn)
	if err != nil {
		t.Fatal(err)
	}
	inCluster := filepath.Join(c.Dir, "audit.jsonl")
	if got := auditFor(f, cfg, "").Path; got != inCluster {
		t.Errorf("the demo's view records in %s, want %s", got, inCluster)
	}
	if where := f.auditWhere(inCluster); !strings.Contains(where, inCluster) || !strings.Contains(where, "removed with the demo's cluster") {
		t.Errorf("on exit the demo says its log is in %q", where)
	}
	var out bytes.Buffer
	if err := runAction(context.Background(), f, "terminate", pid, &bytes.Buffer{}, &out, &out); err != nil {
		t.Fatalf("terminate in the demo: %v\n%s", err, out.String())
	}
	if raw, err := os.ReadFile(inCluster); err != nil || !strings.Contains(string(raw), `"action":"terminate"`) {
		t.Errorf("the demo's audit log: %v\n%s", err, raw)
	}
	if _, err := os.Stat(actions.DefaultAuditPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo wrote to the real audit log %s: %v", actions.DefaultAuditPath(), err)
	}
	if !strings.HasPrefix(actions.DefaultAuditPath(), state) {
		t.Fatalf("the real audit log is at %s, not under XDG_STATE_HOME: the test checks the wrong file", actions.DefaultAuditPath())
	}

	chosen := filepath.Join(t.TempDir(), "rehearsals.jsonl")
	g := &flags{auditLog: chosen}
	useDemo(g, c)
	if g.auditLog != chosen || g.auditWhere(chosen) != chosen {
		t.Errorf("with --audit-log %s, the demo records in %s (%s)", chosen, g.auditLog, g.auditWhere(g.auditLog))
	}
}
