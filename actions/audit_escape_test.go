package actions_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// The audit log is read with cat, less and grep as often as with a
// program: what the server put in a query must reach it escaped, exactly
// as `snapshot --json` escapes it, and still decode to the same string.
func TestAuditEscapesTerminalControls(t *testing.T) {
	const hostile = "SELECT 1 /* \u202eevil \u009b31m \x1b]0;pwned\x07 < & > */"
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a := &actions.Audit{Path: path, Server: "db1:5432", Database: "app", User: "ops"}
	rec := actions.Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ID: "hostile", Server: "db1:5432", Database: "app", User: "ops",
		Action: actions.Cancel, Target: &inspect.Backend{PID: 4242, Query: hostile, ApplicationName: "app\u202e"},
		SQL: []string{"SELECT pg_cancel_backend(4242)"}, Outcome: "failed", Message: "pid 4242 ran " + hostile,
	}
	if err := a.Append(rec); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\u202e", "\u009b", "\x1b", "\x07"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("raw %q in the audit log: %s", bad, raw)
		}
	}
	for _, esc := range []string{`\u202e`, `\u009b`, `\u001b`, `\u0007`, `< & >`} {
		if !bytes.Contains(raw, []byte(esc)) {
			t.Errorf("%s missing from the audit log: %s", esc, raw)
		}
	}
	if n := bytes.Count(raw, []byte("\n")); n != 1 || !bytes.HasPrefix(raw, []byte(`{"time":`)) {
		t.Fatalf("want one line beginning with the time, got %d lines: %s", n, raw)
	}

	recs, err := actions.ReadAudit(path, "db1:5432", "app", "", time.Time{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadAudit: %d records, %v", len(recs), err)
	}
	got := recs[0]
	if got.Message != rec.Message || !reflect.DeepEqual(got.SQL, rec.SQL) || !got.Time.Equal(rec.Time) {
		t.Errorf("read back %+v, wrote %+v", got, rec)
	}
	target, _ := got.Target.(map[string]any)
	if target["query"] != hostile || target["application_name"] != "app\u202e" {
		t.Errorf("target read back as %v", got.Target)
	}
}
