package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/recording"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// readEvents reads an --events file's JSON lines.
func readEvents(t *testing.T, path string) []inspect.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []inspect.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e inspect.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("an event line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func waitEvent(t *testing.T, path string, what string, match func(e inspect.Event) bool) inspect.Event {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, e := range readEvents(t, path) {
			if match(e) {
				return e
			}
		}
	}
	t.Fatalf("no %s event in %s within 30s; events: %+v", what, path, readEvents(t, path))
	return inspect.Event{}
}

// The whole story on a real cluster: record the staged incident headless,
// terminate its root blocker, kill the recorder with SIGKILL, then find
// the blocker, its queue and the action in the file, in the timeline, in
// snapshot --from and on the replay's screen.
func TestRecordKillReplayTimeline(t *testing.T) {
	ctx := context.Background()
	c, st := shopStage(t)
	users := scenario.Table{Schema: "public", Name: "users"}
	if err := st.CreateTable(ctx, users, 100); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	file, events, audit := filepath.Join(dir, "incident.pgmedic"), filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "audit.jsonl")
	conn := []string{"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "shop"}

	rec := exec.Command(bin, append([]string{"record", "--out", file, "--events", events, "--interval", "250ms",
		"--audit-log", audit}, conn...)...)
	var stderr strings.Builder
	rec.Stderr = &stderr
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	defer rec.Process.Kill()

	// A calm start, then the incident.
	time.Sleep(time.Second)
	pile, err := st.MigrationBehindIdleTx(ctx, users, 3)
	if err != nil {
		t.Fatal(err)
	}
	root := pile.Root.PID
	start := waitEvent(t, events, "blocker_start", func(e inspect.Event) bool {
		return e.Kind == inspect.BlockerStart && e.PID == root
	})
	// The ALTER and its three readers queue within the staging; a few
	// refreshes see them all.
	time.Sleep(time.Second)
	out, err := exec.Command(bin, append([]string{"terminate", strconv.Itoa(root), "--yes", "--audit-log", audit}, conn...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("terminate: %v\n%s", err, out)
	}
	waitEvent(t, events, "action", func(e inspect.Event) bool {
		return e.Kind == inspect.ActionTaken && e.PID == root && e.Outcome == "done"
	})
	end := waitEvent(t, events, "blocker_end", func(e inspect.Event) bool {
		return e.Kind == inspect.BlockerEnd && e.PID == root
	})
	time.Sleep(600 * time.Millisecond) // the drain: a few refreshes with nobody waiting
	if err := rec.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.Wait()

	r, err := recording.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Damage() != nil {
		t.Logf("damage after SIGKILL (allowed, reported): %v", r.Damage())
	}
	// The blocker and its queue are in the file, at the time of its event.
	i, err := r.Index(start.At)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.At(i)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LockForest.Roots) != 1 || snap.LockForest.Nodes[snap.LockForest.Roots[0]].PID != root {
		t.Fatalf("at %s the recording's roots are %+v", start.At, snap.LockForest.Roots)
	}
	samples, err := r.Samples(r.Start(), r.End())
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, s := range samples {
		most = max(most, s.Waiting)
	}
	if most < 4 {
		t.Fatalf("the recording's numbers never show the queue of 4: at most %d waiting", most)
	}
	last, err := r.At(r.Len() - 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(last.LockForest.Roots) != 0 || last.Saturation.WaitingOnLock != 0 {
		t.Fatalf("after the terminate the queue did not drain in the recording: %d waiting", last.Saturation.WaitingOnLock)
	}
	var kinds []string
	for _, e := range r.Events() {
		if e.PID == root {
			kinds = append(kinds, string(e.Kind))
		}
	}
	if got := strings.Join(kinds, " "); !strings.HasPrefix(got, "blocker_start") || !strings.Contains(got, "action") ||
		!strings.HasSuffix(got, "blocker_end") || strings.Index(got, "action") > strings.Index(got, "blocker_end") {
		t.Fatalf("the recording's events for pid %d, in order: %s", root, got)
	}

	// A tail cut short, as a kill in the middle of a write leaves it:
	// reported, never fatal, everything before it read.
	raw, _ := os.ReadFile(file)
	cut := filepath.Join(dir, "cut.pgmedic")
	os.WriteFile(cut, raw[:len(raw)-7], 0o600)
	out, err = exec.Command(bin, "timeline", cut).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cut short") {
		t.Fatalf("timeline of a cut recording: %v\n%s", err, out)
	}

	// The timeline names the blocker, when it began, the terminate and
	// the end, in that order.
	out, err = exec.Command(bin, "timeline", file, "--format", "markdown").Output()
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	md := string(out)
	pid := strconv.Itoa(root)
	iStart := strings.Index(md, start.At.UTC().Format("15:04:05"))
	iTerm := strings.Index(md, "terminate")
	iEnd := strings.LastIndex(md, end.At.UTC().Format("15:04:05"))
	if !strings.Contains(md, pid) || iStart < 0 || iTerm < 0 || iEnd < 0 || !(iStart < iEnd) {
		t.Fatalf("timeline (start %d, terminate %d, end %d):\n%s", iStart, iTerm, iEnd, md)
	}
	out, err = exec.Command(bin, "timeline", file, "--format", "json").Output()
	var doc map[string]any
	if err != nil || json.Unmarshal(out, &doc) != nil {
		t.Fatalf("timeline --format json: %v\n%s", err, out)
	}

	// snapshot --from --at: the refresh nearest before the moment.
	out, err = exec.Command(bin, "snapshot", "--from", file, "--at", start.At.Format(time.RFC3339Nano), "--json").Output()
	if err != nil {
		t.Fatalf("snapshot --from: %v\n%s", err, out)
	}
	var recorded struct {
		LockForest []struct {
			PID int `json:"pid"`
		} `json:"lock_forest"`
	}
	if err := json.Unmarshal(out, &recorded); err != nil || len(recorded.LockForest) != 1 || recorded.LockForest[0].PID != root {
		t.Fatalf("snapshot --from at the blocker's start: %v, forest %+v", err, recorded.LockForest)
	}
	out, err = exec.Command(bin, "snapshot", "--from", file, "--at", "1999-01-01T00:00:00Z").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "outside the recording") {
		t.Fatalf("a time outside the recording: %v\n%s", err, out)
	}

	// The replay, in a real terminal: the blocker on screen at its event,
	// and the actions refused.
	s := startTmux(t, 120, 40, bin+" replay "+file+"; sleep 60")
	s.waitFor("REPLAY", "before the end")
	s.keys("n")
	s.waitFor("holds up", pid)
	s.keys("K")
	s.waitFor("a replay shows the past")
	s.keys("e")
	s.waitFor("EVENTS", "terminate")
	s.keys("Escape", "q")
}

// pgmedic record stops at --duration, says where it wrote, and writes
// one file that replays.
func TestRecordDuration(t *testing.T) {
	c, _ := shopStage(t)
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "r.pgmedic")
	out, err := exec.Command(bin, "record", "--out", file, "--duration", "1500ms", "--interval", "250ms",
		"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "shop").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "to "+file) {
		t.Fatalf("record: %v\n%s", err, out)
	}
	r, err := recording.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Header()
	if r.Len() < 3 || h.Server.VersionNum < 130000 || h.PGMedic == "" || !strings.Contains(h.Target, "shop") {
		t.Fatalf("%d refreshes, header %+v", r.Len(), h)
	}
	// A second recorder never writes over the first's file.
	out, err = exec.Command(bin, "record", "--out", file, "--duration", "1s",
		"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "shop").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "never records over") {
		t.Fatalf("recording over a recording: %v\n%s", err, out)
	}
}

// With --redact the literals never reach the file: not in a snapshot,
// not in an event.
func TestRecordRedact(t *testing.T) {
	ctx := context.Background()
	c, st := shopStage(t)
	s, err := st.Open(ctx, "leaky")
	if err != nil {
		t.Fatal(err)
	}
	s.Go("SELECT pg_sleep(30), 'hunter2-secret' AS password")
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "r.pgmedic")
	out, err := exec.Command(bin, "record", "--redact", "--out", file, "--duration", "1500ms", "--interval", "250ms",
		"-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "shop").CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	r, err := recording.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Header().Redacted {
		t.Error("the header does not say the recording is redacted")
	}
	seen := false
	for i := range r.Len() {
		snap, err := r.At(i)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(snap)
		if strings.Contains(string(raw), "hunter2") {
			t.Fatalf("refresh %d holds the literal", i)
		}
		seen = seen || strings.Contains(string(raw), "pg_sleep")
	}
	raw, _ := json.Marshal(r.Events())
	if strings.Contains(string(raw), "hunter2") || !seen {
		t.Fatalf("events hold the literal, or the statement was never recorded (seen %v)", seen)
	}
}

func TestPickRecording(t *testing.T) {
	files := []recording.File{{Path: "/r/b.pgmedic", Size: 2 << 20, ModTime: time.Now()},
		{Path: "/r/a\x1b[2J.pgmedic", Size: 100, ModTime: time.Now().Add(-time.Hour)}}
	for answer, want := range map[string]string{"\n": "/r/b.pgmedic", "2\n": files[1].Path, " 1 \n": "/r/b.pgmedic"} {
		var out strings.Builder
		got, err := pickRecording(files, strings.NewReader(answer), &out)
		if err != nil || got != want {
			t.Fatalf("answer %q: %q %v", answer, got, err)
		}
		if strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), "  1  ") {
			t.Fatalf("the list: %q", out.String())
		}
	}
	for _, bad := range []string{"3\n", "x\n", ""} {
		if _, err := pickRecording(files, strings.NewReader(bad), io.Discard); err == nil {
			t.Errorf("answer %q was taken", bad)
		}
	}
}
