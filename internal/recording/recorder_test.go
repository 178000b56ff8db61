package recording

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

func TestRecorder(t *testing.T) {
	dir := t.TempDir()
	audit := &actions.Audit{Path: filepath.Join(dir, "audit.jsonl"), Server: "db1:5432", Database: "shop", User: "postgres"}
	old := actions.Record{Time: t0.Add(-time.Hour), ID: "old", Server: "db1:5432", Database: "shop", Action: actions.Terminate, Outcome: "done"}
	if err := audit.Append(old); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	r := &Recorder{Path: filepath.Join(dir, "r.pgmedic"), Header: Header{PGMedic: "test", Target: "postgres@db1:5432/shop"},
		Detector: inspect.NewDetector(inspect.DetectorOptions{}), Events: &stream, Audit: audit}
	if r.Written() != "" {
		t.Fatal("a file before the first snapshot")
	}
	for i := range 20 {
		if i == 8 {
			now := actions.Record{Time: t0.Add(8 * time.Second), ID: "new", Server: "db1:5432", Database: "shop",
				Action: actions.Terminate, Outcome: "done", Target: &actions.BackendTarget{PID: 4101}}
			if err := audit.Append(now); err != nil {
				t.Fatal(err)
			}
		}
		if i == 12 {
			r.Lost(t0.Add(12*time.Second), os.ErrDeadlineExceeded)
			continue
		}
		r.Snapshot(incident(i))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The stream: one JSON object a line, in the order found.
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(stream.String()), "\n") {
		var e inspect.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		kinds = append(kinds, string(e.Kind)+":"+e.ActionID)
	}
	want := "blocker_start: action:new connection_lost: connection_back: queue_over:"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("events %q, want %q (the audit log's older record is not an event)", got, want)
	}
	rd, err := Open(r.Written())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if rd.Len() != 19 || len(rd.Events()) != 5 || rd.Header().Server.VersionNum != 150018 || rd.Header().PGMedic != "test" {
		t.Fatalf("%d refreshes, %d events, header %+v", rd.Len(), len(rd.Events()), rd.Header())
	}
	if got := r.Seen(); len(got) != 5 {
		t.Fatalf("seen %d", len(got))
	}
}

// A recording that cannot be written (a full disk) stops, says why, and
// keeps what it had; the recorder still finds events.
func TestRecorderDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.pgmedic")
	r := &Recorder{Path: path, Detector: inspect.NewDetector(inspect.DetectorOptions{})}
	for i := range 6 {
		r.Snapshot(incident(i))
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here:", err)
	}
	r.w.f.Close()
	r.w.f = full
	evs := r.Snapshot(incident(6))
	if len(evs) != 1 || evs[0].Kind != inspect.BlockerStart {
		t.Fatalf("events with the disk full: %+v", evs)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("err %v", err)
	}
	r.Snapshot(incident(7))
	rd, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if rd.Len() != 6 {
		t.Fatalf("%d refreshes kept", rd.Len())
	}
}
