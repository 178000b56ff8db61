package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// tmuxSession drives the real binary in a private tmux server.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func startTmux(t *testing.T, w, h int, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PGMEDIC_REQUIRE_PG") != "" {
			t.Fatalf("tmux is required for the end-to-end tests: %v", err)
		}
		t.Skip("tmux not installed")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("pgmedic-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	s.run("new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), command)
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.run("capture-pane", "-p", "-t", "e2e") }

func (s *tmuxSession) keys(keys ...string) {
	s.run(append([]string{"send-keys", "-t", "e2e"}, keys...)...)
}

// waitFor polls the screen until every want is on it.
func (s *tmuxSession) waitFor(wants ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute) // a hang
	for {
		screen := s.screen()
		missing := ""
		for _, w := range wants {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q:\n%s", missing, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The real binary in a real terminal, against a real pile-up: the root
// blocker is on Triage and Locks, the failed index on Indexes, and q
// leaves cleanly.
func TestTUIEndToEnd(t *testing.T) {
	inc := stageIncident(t)
	bin := buildBinary(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	cmd := fmt.Sprintf("%s -h %s -p %d -U postgres --audit-log %s shop; echo pgmedic exited with $?; sleep 60",
		bin, inc.c.SocketDir, inc.c.Port, audit)
	s := startTmux(t, 80, 24, cmd)
	root := strconv.Itoa(inc.pileUp.Root.PID)
	ddl := strconv.Itoa(inc.pileUp.DDL.PID)

	// At 80 columns the root blocker's line names its application, its
	// statement, the relation it holds and how many wait.
	screen := s.waitFor("▸ 1 Triage", "BLOCKING   api: last UPDATE users · holds up 4 · pid", "[K] terminate",
		"accounts_code_uq", "BEHIND PID "+root+": 4 waiting", ddl+" migrate-ddl · AccessExclusiveLock on users")
	for i, line := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
	s.keys("3")
	s.waitFor("▸ 3 Locks", root, "└─"+ddl, "AccessExclusiveLock on users", "QUEUED")
	s.keys("4")
	s.waitFor("▸ 4 Indexes", "public.accounts_code_uq", "failed during build", "BUILDS IN PROGRESS (1)")
	s.keys("2", "Enter")
	s.waitFor("BACKEND "+root, "BLOCKING", "QUERY", "LOCKS", "holds   RowExclusiveLock")

	// y copies the query: with set-clipboard on, tmux takes the OSC 52
	// sequence into its paste buffer.
	s.run("set-option", "-g", "set-clipboard", "on")
	s.keys("y")
	s.waitFor("copied the query of pid " + root)
	deadline := time.Now().Add(time.Minute) // a hang
	for {
		buf, _ := exec.Command("tmux", "-L", s.socket, "show-buffer").Output()
		if strings.Contains(string(buf), `UPDATE "public"."users" SET v = v + 1 WHERE id = 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tmux's buffer does not hold the copied query: %q", buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Esc then q in one write would read as alt+q, as in any terminal.
	s.keys("Escape")
	s.waitFor("PID", "STATE")

	// Terminate the root from Triage: the dialog shows the SQL, n does
	// nothing, y does it, and the migration gets its lock.
	s.keys("1")
	s.waitFor("▸ 1 Triage", "BLOCKING")
	s.keys("K")
	s.waitFor("Terminate backend "+root, "pg_terminate_backend(pid, 3000) FROM", "[y] yes, run it")
	s.keys("n")
	s.waitFor("not run: nothing was changed")
	s.keys("K")
	s.waitFor("[y] yes, run it")
	s.keys("y")
	s.waitFor("DONE: backend " + root + " terminated")
	waitDone(t, inc.pileUp.DDL)
	if err := inc.pileUp.DDL.Err(); err != nil {
		t.Errorf("the migration failed after the root went: %v", err)
	}
	s.keys("5")
	s.waitFor("COMMAND LOG", "DONE")
	s.keys("q")
	screen = s.waitFor("pgmedic exited with 0", "pgmedic command log", "SELECT pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid")
	if strings.Contains(screen, "POOL") {
		t.Errorf("the screen was not restored after q:\n%s", screen)
	}
	if raw, err := os.ReadFile(audit); err != nil || !strings.Contains(string(raw), `"action":"terminate"`) {
		t.Errorf("audit log after the TUI terminate: %v %s", err, raw)
	}
}

// NO_COLOR: the real screen carries no colour sequence at all, and still
// its selection and states (reverse video, words).
func TestNoColorEndToEnd(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	bin := buildBinary(t)
	s := startTmux(t, 100, 30, fmt.Sprintf("env NO_COLOR=1 %s -h %s -p %d -U postgres postgres; sleep 60", bin, c.SocketDir, c.Port))
	s.waitFor("● live", "POOL")
	s.keys("2")
	s.waitFor("▸ 2 Connections", "PID")
	raw := s.run("capture-pane", "-e", "-p", "-t", "e2e")
	for _, m := range regexp.MustCompile("\x1b\\[([0-9;:]*)m").FindAllStringSubmatch(raw, -1) {
		for _, p := range strings.Split(m[1], ";") {
			if len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] != '9' || p == "38" || p == "48" {
				t.Fatalf("NO_COLOR screen has colour code %q in %q", p, m[0])
			}
		}
	}
	if !strings.Contains(raw, "\x1b[7m") && !strings.Contains(raw, ";7m") && !strings.Contains(raw, "[1;7m") {
		t.Errorf("the selected row should still be in reverse video:\n%q", raw)
	}
}

// ctrl+z suspends pgmedic as it does any full-screen program: the shell's
// screen and prompt come back; fg brings pgmedic's screen back, drawn.
func TestSuspendEndToEnd(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	bin := buildBinary(t)
	s := startTmux(t, 100, 30, "env PS1='shell$ ' bash --norc --noprofile -i")
	s.waitFor("shell$")
	// Alone on the line: after a list, bash would run the rest of it as
	// soon as pgmedic stopped.
	s.keys(fmt.Sprintf("%s -h %s -p %d -U postgres postgres", bin, c.SocketDir, c.Port), "Enter")
	s.waitFor("● live", "POOL")
	s.keys("C-z")
	screen := s.waitFor("Stopped", "shell$ ")
	if strings.Contains(screen, "POOL") {
		t.Errorf("the shell's screen did not come back on ctrl+z:\n%s", screen)
	}
	s.keys("echo still-here", "Enter")
	s.waitFor("\nstill-here")
	s.keys("fg", "Enter")
	s.waitFor("● live", "POOL")
	s.keys("q")
	for deadline := time.Now().Add(15 * time.Second); strings.Contains(s.screen(), "POOL"); {
		if time.Now().After(deadline) {
			t.Fatalf("q did not leave pgmedic after fg:\n%s", s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.keys("echo pgmedic exited with $?", "Enter")
	s.waitFor("pgmedic exited with 0")
}

// q leaves at once while a refresh waits on a server that stopped
// answering (pgmedic's backend stopped with SIGSTOP): neither the
// refresh nor closing the connection waits for the server.
func TestQuitWithAStoppedBackend(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	bin := buildBinary(t)
	s := startTmux(t, 100, 30, fmt.Sprintf("%s -h %s -p %d -U postgres postgres; echo pgmedic exited with $?; sleep 60",
		bin, c.SocketDir, c.Port))
	s.waitFor("● live", "POOL")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var pid int
	if err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgmedic'`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	s.waitFor("refresh taking")
	s.keys("q")
	// The refresh is bounded at 15s and the pgx handler's wait 5s more:
	// an exit before both could have run out is one that did not wait.
	start := time.Now()
	s.waitFor("pgmedic exited with 0")
	if waited := time.Since(start); waited >= 15*time.Second {
		t.Errorf("q took %s with the backend stopped", waited)
	}
}
