package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgmedic explain through the real binary, on the staged pile-up: an
// UPDATE is planned (never run), the migration's DDL and the root's two
// statements are refused, and a SELECT on the table an ALTER TABLE waits
// for is refused at once: planning would queue behind that request.
func TestExplainCommand(t *testing.T) {
	inc := stageIncident(t)
	bin := buildBinary(t)
	ctx := context.Background()
	session := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, inc.c.ConnString("shop", ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	// A writer whose last statement is an UPDATE of accounts, which only
	// the index build (SHARE UPDATE EXCLUSIVE) locks.
	writer := session()
	if _, err := writer.Exec(ctx, `UPDATE public.accounts SET v = v WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	// A reader queued on users behind the ALTER TABLE's request.
	reader := session()
	readCtx, stopReading := context.WithCancel(ctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		reader.Exec(readCtx, `SELECT count(*) FROM public.users WHERE id = 2`)
	}()
	t.Cleanup(func() { stopReading(); <-read }) // before the connection closes
	explain := func(pid int, extra ...string) (stdout, stderr string, code int) {
		t.Helper()
		args := append([]string{"explain", strconv.Itoa(pid), "-h", inc.c.SocketDir, "-p", strconv.Itoa(inc.c.Port), "-U", "postgres", "shop"}, extra...)
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("pgmedic explain %d took %s", pid, took) // a hang, not a timing check
		}
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	wpid, rpid := int(writer.PgConn().PID()), int(reader.PgConn().PID())
	out, errText, code := explain(wpid)
	if code != 0 || !strings.Contains(out, "Plan of pid "+strconv.Itoa(wpid)) || !strings.Contains(out, "ModifyTable") ||
		!strings.Contains(out, "the statement was not run") {
		t.Errorf("the writer's UPDATE: exit %d\n%s%s", code, out, errText)
	}
	// --redact: the plan's condition quotes the statement's literal.
	if out, _, code = explain(wpid); !strings.Contains(out, "= 5)") {
		t.Errorf("the plan without --redact should show the literal:\n%s", out)
	}
	if out, _, code = explain(wpid, "--redact"); code != 0 || strings.Contains(out, "= 5)") || !strings.Contains(out, "= $1)") {
		t.Errorf("--redact: exit %d\n%s", code, out)
	}
	out, _, code = explain(wpid, "--json")
	var plan struct {
		PID  int `json:"pid"`
		Root *struct {
			NodeType  string `json:"node_type"`
			Operation string `json:"operation"`
		} `json:"root"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || code != 0 || plan.PID != wpid || plan.Root == nil ||
		plan.Root.Operation != "Update" {
		t.Errorf("--json: exit %d, %v: %s", code, err, out)
	}

	out, errText, code = explain(inc.pileUp.DDL.PID)
	if code != 1 || out != "" || !strings.Contains(errText, "it is not a query (it begins with ALTER)") {
		t.Errorf("the DDL: exit %d, stdout %q, stderr %q", code, out, errText)
	}

	// The staged root ran "BEGIN; UPDATE ...": two statements.
	if _, errText, code = explain(inc.pileUp.Root.PID); code != 1 || !strings.Contains(errText, "more than one statement") {
		t.Errorf("the root's two statements: exit %d, %q", code, errText)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var waiting bool
		if err := writer.QueryRow(ctx, `SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1`, rpid).Scan(&waiting); err == nil && waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader never queued behind the ALTER TABLE")
		}
	}
	out, errText, code = explain(rpid)
	ddl := strconv.Itoa(inc.pileUp.DDL.PID)
	if code != 1 || out != "" || !strings.Contains(errText, "EXPLAIN would wait behind that lock") ||
		!strings.Contains(errText, "wanted by pid "+ddl) {
		t.Errorf("the reader's SELECT behind the ALTER: exit %d, stdout %q, stderr %q", code, out, errText)
	}
	if _, _, code = explain(0); code != 2 {
		t.Errorf("pid 0: exit %d, want a usage error", code)
	}
}
