package actions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

// Records read back from the log carry their target as JSON: the event
// names the session or the index all the same.
func TestEventOf(t *testing.T) {
	start := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: start.Add(time.Hour), ID: "a1", Action: Terminate, Outcome: "done", Message: "backend 4101 terminated",
			Target: &BackendTarget{PID: 4101, BackendStart: start, Application: "migrate", Query: "ALTER TABLE users"},
			SQL:    []string{"SELECT pg_terminate_backend(4101)"}, BlockedBefore: 26},
		{Time: start.Add(time.Hour), ID: "a2", Action: DropIndex, Outcome: "started",
			Target: &IndexTarget{Schema: "public", Name: "Orders code", Table: "orders"}},
		{Time: start.Add(time.Hour), ID: "a3", Action: RollbackPrepared, Outcome: "refused",
			Target: &inspect.PreparedXact{GID: "pay-17"}},
	}
	for _, r := range recs {
		raw, _ := json.Marshal(r)
		var back Record
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		for _, rec := range []Record{r, back} {
			e := EventOf(rec)
			if e.Kind != inspect.ActionTaken || e.ActionID != r.ID || !e.At.Equal(r.Time) || e.Outcome != r.Outcome {
				t.Fatalf("%+v", e)
			}
			switch r.ID {
			case "a1":
				if e.PID != 4101 || e.BackendStart == nil || !e.BackendStart.Equal(start) || len(e.SQL) != 1 ||
					e.Text != "terminate pid 4101 (migrate): done, backend 4101 terminated; sessions waiting on locks: 26 before, 0 after" {
					t.Fatalf("%+v", e)
				}
			case "a2":
				if e.Index != `public."Orders code"` || !strings.HasPrefix(e.Text, `drop-index public."Orders code": started`) {
					t.Fatalf("%+v", e)
				}
			case "a3":
				if !strings.Contains(e.Text, `prepared transaction "pay-17": refused`) {
					t.Fatalf("%+v", e)
				}
			}
		}
	}
}
