package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Without -d, what pgmedic says and records names the database libpq
// uses, the user's, never "".
func TestDatabaseNamedWithoutDashD(t *testing.T) {
	ctx := context.Background()
	t.Run("connection error", func(t *testing.T) {
		t.Setenv("PGDATABASE", "")
		os.Unsetenv("PGDATABASE")
		err := run(ctx, []string{"snapshot", "-h", t.TempDir(), "-p", "5999", "-U", "alice"}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), `as user "alice", database "alice"`) {
			t.Errorf("error = %v, want it to name database alice", err)
		}
	})

	t.Run("audit record", func(t *testing.T) {
		t.Setenv("PGDATABASE", "")
		os.Unsetenv("PGDATABASE")
		c, _, sessions := stageSessions(t, "forgotten", 1)
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		var out bytes.Buffer
		err := run(ctx, []string{"terminate", strconv.Itoa(sessions[0].PID), "-h", c.SocketDir, "-p", strconv.Itoa(c.Port),
			"-U", "postgres", "--audit-log", audit, "--yes"}, &out, &out)
		if err != nil {
			t.Fatalf("terminate: %v\n%s", err, out.String())
		}
		raw, err := os.ReadFile(audit)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		for _, line := range lines {
			var rec struct{ Database string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Database != "postgres" {
				t.Errorf("audit record names database %q, want postgres (the user's):\n%s", rec.Database, line)
			}
		}
		if len(lines) != 2 {
			t.Errorf("%d audit records, want the started and the final one:\n%s", len(lines), raw)
		}
	})
}
