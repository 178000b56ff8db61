package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/safetext"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the user plus system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// memory reads the peak and current resident set size, in bytes.
func memory(pid int) (peak, current int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &peak
		case "VmRSS":
			dst = &current
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		*dst = kb * 1024
	}
	if peak == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return peak, current, nil
}

// Statement is what pg_stat_statements recorded for one of pgmedic's
// statements during the measured window.
type Statement struct {
	Name     string // the /* pgmedic:name */ tag
	Calls    int64
	ExecMS   float64 // total execution time
	PlanMS   float64 // total planning time (pgx prepares once, then reuses)
	Rows     int64
	PerCallM float64 // mean execution time per call
}

var tagRE = regexp.MustCompile(`/\* pgmedic:([a-z-]+) \*/`)

// statements reads pg_stat_statements for role, which only pgmedic uses:
// the view has no application_name, so the harness gives pgmedic a role
// of its own to tell its statements from everyone else's.
func statements(ctx context.Context, conn *pgx.Conn, role string) ([]Statement, error) {
	rows, err := conn.Query(ctx, `SELECT s.query, s.calls, s.total_exec_time, s.total_plan_time, s.rows
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE r.rolname = $1 ORDER BY s.total_exec_time DESC`, role)
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	var out []Statement
	var (
		query string
		st    Statement
	)
	_, err = pgx.ForEachRow(rows, []any{&query, &st.Calls, &st.ExecMS, &st.PlanMS, &st.Rows}, func() error {
		s := st
		s.Name = "other: " + safetext.Line(strings.Join(strings.Fields(query), " "))
		if m := tagRE.FindStringSubmatch(query); m != nil {
			s.Name = m[1]
		}
		if s.Calls > 0 {
			s.PerCallM = s.ExecMS / float64(s.Calls)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	return out, nil
}

// tickCalls is how many refreshes role has sent since the last reset.
func tickCalls(ctx context.Context, conn *pgx.Conn, role string) (int64, error) {
	var n int64
	err := conn.QueryRow(ctx, `SELECT coalesce(sum(s.calls), 0)::bigint
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
WHERE r.rolname = $1 AND s.query LIKE '/* pgmedic:tick */%'`, role).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading pg_stat_statements: %w", err)
	}
	return n, nil
}

// session is one pgmedic backend seen while sampling.
type session struct {
	pid   int
	start time.Time
}

// pgmedicSessions lists the backends that call themselves pgmedic.
func pgmedicSessions(ctx context.Context, conn *pgx.Conn) ([]session, error) {
	rows, err := conn.Query(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = 'pgmedic'`)
	if err != nil {
		return nil, err
	}
	var s session
	var out []session
	_, err = pgx.ForEachRow(rows, []any{&s.pid, &s.start}, func() error { out = append(out, s); return nil })
	return out, err
}

// terminal runs one program in a private tmux server, as a user would
// see it.
type terminal struct {
	socket string
}

func startTerminal(w, h int, argv []string) (*terminal, error) {
	t := &terminal{socket: fmt.Sprintf("pgmedic-load-%d", os.Getpid())}
	args := append([]string{"new-session", "-d", "-s", "load", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "--"}, argv...)
	if _, err := t.tmux(args...); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *terminal) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", t.socket}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (t *terminal) screen() (string, error) { return t.tmux("capture-pane", "-p", "-t", "load") }

// pid is the process running in the pane: the program itself, which
// tmux executed directly.
func (t *terminal) pid() (int, error) {
	out, err := t.tmux("display-message", "-p", "-t", "load", "#{pane_pid}")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

func (t *terminal) close() { _, _ = t.tmux("kill-server") }
