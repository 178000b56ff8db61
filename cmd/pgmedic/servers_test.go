package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// Two servers from one pgmedic, in tmux at 80×24: c lists both with a
// line each, enter switches to the other and back without restarting,
// and each server holds exactly one pgmedic connection throughout.
func TestServerSwitchEndToEnd(t *testing.T) {
	ctx := context.Background()
	a := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.Start(t, pgcluster.Options{})
	if err := b.Exec(ctx, "postgres", `CREATE TABLE t (v int)`); err != nil {
		t.Fatal(err)
	}
	holder, err := pgx.Connect(ctx, b.ConnString("postgres", "")+" application_name=migrate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, `BEGIN; LOCK TABLE t`); err != nil {
		t.Fatal(err)
	}
	waiter, err := pgx.Connect(ctx, b.ConnString("postgres", "")+" application_name=api")
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(ctx)
	go func() { _, _ = waiter.Exec(context.Background(), `SELECT * FROM t`) }()
	defer holder.Exec(ctx, `ROLLBACK`)

	bin := buildBinary(t)
	dir := t.TempDir()
	cmd := fmt.Sprintf("HOME=%s %s -h %s -p %d -U postgres --audit-log %s --no-record --server '%s' postgres; echo pgmedic exited with $?; sleep 60",
		dir, bin, a.SocketDir, a.Port, filepath.Join(dir, "audit.jsonl"), b.ConnString("postgres", ""))
	s := startTmux(t, 80, 24, cmd)
	// At 80 columns a server's name keeps its last 13 characters.
	tail := func(c *pgcluster.Cluster) string {
		n := fmt.Sprintf(":%d/postgres", c.Port)
		return "…" + n[len(n)-13:]
	}
	s.waitFor("▸ 1 Triage", " 0 waiting")
	s.keys("c")
	screen := s.waitFor("SERVERS  2", "● "+tail(a), "  "+tail(b), "1·1·")
	for i, line := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
	s.keys("Down", "Enter")
	s.waitFor("BLOCKING   migrate", "1 waiting")
	pgmedicSessions := func(c *pgcluster.Cluster) int {
		conn, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgmedic'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s.keys("c")
	s.waitFor("SERVERS  2", "● "+tail(b))
	s.keys("Up", "Enter")
	s.waitFor("▸ 1 Triage", " 0 waiting")
	time.Sleep(time.Second)
	if na, nb := pgmedicSessions(a), pgmedicSessions(b); na != 1 || nb != 1 {
		t.Errorf("pgmedic holds %d connection(s) to the first server and %d to the second; want one each", na, nb)
	}
	s.keys("q")
	s.waitFor("pgmedic exited with 0")
}

// pgmedic overview: a line per server, text and JSON, a down server's
// line saying why and the exit status saying so.
func TestOverviewCommand(t *testing.T) {
	ctx := context.Background()
	a := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.Start(t, pgcluster.Options{})
	if err := b.Exec(ctx, "postgres", `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1)`); err != nil {
		t.Fatal(err)
	}
	_ = b.Exec(ctx, "postgres", `CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v)`) // fails: invalid
	args := []string{"overview", "-h", a.SocketDir, "-p", strconv.Itoa(a.Port), "-U", "postgres", "--server", b.ConnString("postgres", "")}
	var out bytes.Buffer
	if err := run(ctx, args, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("overview: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SERVER") || !strings.Contains(lines[1], "primary") ||
		!strings.Contains(lines[2], fmt.Sprintf(":%d/postgres", b.Port)) {
		t.Fatalf("overview:\n%s", out.String())
	}
	if f := strings.Fields(lines[2]); f[7] != "1" {
		t.Errorf("the second server's invalid indexes: %q in\n%s", f[7], out.String())
	}
	out.Reset()
	// A server down, and one up that wants a password no one gave.
	more := append(args, "--server", "host=127.0.0.1 port=1 user=postgres connect_timeout=2", "--server", b.TCPConnString("postgres", "", ""))
	err := run(ctx, append(more, "--json"), &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "2 of 4 servers could not be read") {
		t.Errorf("with a server down: %v", err)
	}
	var doc []map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc) != 4 {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if doc[3]["needs_password"] != true || doc[2]["needs_password"] != nil {
		t.Errorf("needs_password: the one wanting a password %v, the one down %v", doc[3]["needs_password"], doc[2]["needs_password"])
	}
	var text bytes.Buffer
	_ = run(ctx, more, &text, &bytes.Buffer{})
	if lines := strings.Split(text.String(), "\n"); len(lines) < 5 || !strings.Contains(lines[3], "DOWN") ||
		!strings.Contains(lines[4], "PASSWORD cannot connect") || !strings.Contains(lines[4], "the password was rejected") {
		t.Errorf("text with a server down and one wanting a password:\n%s", text.String())
	}
	requireKeys(t, "server line", doc[1], "name", "target", "percent_of_usable", "slots_used", "slots_usable", "root_blockers",
		"waiting_on_lock", "longest_wait_seconds", "invalid_indexes", "lag_bytes", "lag_seconds", "in_recovery")
	if doc[1]["invalid_indexes"].(float64) != 1 || !strings.Contains(doc[2]["error"].(string), "cannot connect") {
		t.Errorf("json lines: %v", doc)
	}
}

// Switching to a server that wants a password asks for it on the
// terminal between the two screens, as at start-up, and only once: the
// connection is kept. A server whose connection string cannot be used
// leaves pgmedic on the server it was on, saying why.
func TestServerSwitchAsksForPassword(t *testing.T) {
	ctx := context.Background()
	a := pgtest.Start(t, pgcluster.Options{})
	b := pgtest.Start(t, pgcluster.Options{})
	bin := buildBinary(t)
	dir := t.TempDir()
	overTCP := b.TCPConnString("postgres", "", "") // scram-sha-256, no password: none in HOME either
	// Named by what it says without its password, which no screen shows.
	bad := "host=/nowhere port=notaport"
	cmd := fmt.Sprintf("env -u PGPASSWORD -u PGPASSFILE HOME=%s %s -h %s -p %d -U postgres --audit-log %s --no-record --server '%s' --server '%s password=hunter2' postgres; echo pgmedic exited with $?; sleep 60",
		dir, bin, a.SocketDir, a.Port, filepath.Join(dir, "audit.jsonl"), overTCP, bad)
	s := startTmux(t, 120, 30, cmd)
	bName := fmt.Sprintf("postgres@127.0.0.1:%d/postgres", b.Port)
	s.waitFor("▸ 1 Triage", " 0 waiting")
	s.keys("c")
	if screen := s.waitFor("SERVERS  3", bName, "PASSWORD enter asks for it · ", bad); strings.Contains(screen, "hunter2") {
		t.Errorf("the server list shows a password:\n%s", screen)
	}
	s.keys("Down", "Enter")
	s.waitFor("Password for user postgres on " + bName + ":")
	s.run("send-keys", "-t", "e2e", "-l", b.Password)
	s.keys("Enter")
	pgmedicSessions := func() int {
		conn, err := pgx.Connect(ctx, b.ConnString("postgres", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgmedic' AND client_addr IS NOT NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s.waitFor("▸ 1 Triage", fmt.Sprintf("127.0.0.1:%d", b.Port))
	if n := pgmedicSessions(); n != 1 {
		t.Errorf("pgmedic holds %d TCP connection(s) to the server with a password, want 1", n)
	}

	// The unusable one: back on this server, with the reason.
	s.keys("c")
	s.waitFor("SERVERS  3", "● "+bName)
	s.keys("Down", "Enter")
	if screen := s.waitFor("could not switch to "+bad, fmt.Sprintf("127.0.0.1:%d", b.Port)); strings.Contains(screen, "hunter2") {
		t.Errorf("the notice shows a password:\n%s", screen)
	}

	// Away and back: the kept connection needs no password.
	s.keys("c")
	s.waitFor("SERVERS  3", "● "+bName)
	s.keys("Up", "Enter")
	s.waitFor("▸ 1 Triage", a.SocketDir)
	s.keys("c")
	s.waitFor("SERVERS  3")
	s.keys("Down", "Enter")
	s.waitFor("▸ 1 Triage", fmt.Sprintf("127.0.0.1:%d", b.Port))
	if n := pgmedicSessions(); n != 1 {
		t.Errorf("pgmedic holds %d TCP connection(s) to the server with a password, want 1", n)
	}
	s.keys("q")
	s.waitFor("pgmedic exited with 0")
	// The screens are gone: what was written between them is left.
	if out := s.run("capture-pane", "-p", "-S", "-500", "-t", "e2e"); strings.Count(out, "Password for user") != 1 {
		t.Errorf("want the password asked for exactly once:\n%s", out)
	}
}
