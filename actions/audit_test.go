//go:build linux || darwin || freebsd || dragonfly

// These tests hold the audit log's Unix rails (O_NOFOLLOW, flock, owner
// and free-space checks); the fallback elsewhere has none of them to test.

package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// nobody is the unprivileged uid the root-only tests hand things to.
const nobody = 65534

func auditRecord(id, outcome string) actions.Record {
	return actions.Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ID: id, Server: "db1:5432", Database: "app", User: "ops",
		Action: actions.Cancel, SQL: []string{"SELECT pg_cancel_backend(4242)"}, Outcome: outcome,
	}
}

// wholeLines fails unless the file ends with a newline and every line is a
// record, and returns the records' ids in file order.
func wholeLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("%s ends in a torn line: %q", path, raw[max(0, len(raw)-80):])
	}
	var ids []string
	for i, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		if len(raw) == 0 {
			break
		}
		var r actions.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %d of %s is not a whole record (%v): %q", i+1, path, err, line)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func auditMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func wantAuditError(t *testing.T, err error, why ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", why)
	}
	for _, w := range why {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestAuditCreatesPrivateFileAndDirectories(t *testing.T) {
	base := t.TempDir()
	a := &actions.Audit{Path: filepath.Join(base, "state", "pgmedic", "audit.jsonl")}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	if m := auditMode(t, a.Path); m != 0o600 {
		t.Errorf("log created with mode %o, want 600", m)
	}
	for _, d := range []string{filepath.Join(base, "state"), filepath.Join(base, "state", "pgmedic")} {
		if m := auditMode(t, d); m != 0o700 {
			t.Errorf("directory %s created with mode %o, want 700", d, m)
		}
	}
	if fi, _ := os.Stat(a.Path); fi.Size() != 0 {
		t.Errorf("Check wrote %d bytes", fi.Size())
	}
	if err := a.Append(auditRecord("a1", "started")); err != nil {
		t.Fatal(err)
	}
	if ids := wholeLines(t, a.Path); len(ids) != 1 || ids[0] != "a1" {
		t.Errorf("log holds %q, want [a1]", ids)
	}
}

func TestAuditMakesAnExistingLogPrivate(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(*actions.Audit) error
		want int
	}{
		{"Check", (*actions.Audit).Check, 1},
		{"Append", func(a *actions.Audit) error { return a.Append(auditRecord("new", "done")) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
			old, _ := json.Marshal(auditRecord("old", "done"))
			if err := os.WriteFile(a.Path, append(old, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(a.Path, 0o644) // whatever the umask
			if err := tc.call(a); err != nil {
				t.Fatal(err)
			}
			if m := auditMode(t, a.Path); m != 0o600 {
				t.Errorf("mode %o after %s, want 600", m, tc.name)
			}
			if ids := wholeLines(t, a.Path); len(ids) != tc.want || ids[0] != "old" {
				t.Errorf("log holds %q after %s", ids, tc.name)
			}
		})
	}
}

func TestAuditRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o644)
	a := &actions.Audit{Path: filepath.Join(dir, "audit.jsonl")}
	if err := os.Symlink(target, a.Path); err != nil {
		t.Fatal(err)
	}
	wantAuditError(t, a.Check(), a.Path, "is a symbolic link; pgmedic will not follow it")
	wantAuditError(t, a.Append(auditRecord("x", "started")), a.Path, "is a symbolic link; pgmedic will not follow it")
	if raw, _ := os.ReadFile(target); string(raw) != "precious\n" {
		t.Errorf("the link's target was written to: %q", raw)
	}
	if m := auditMode(t, target); m != 0o644 {
		t.Errorf("the link's target changed mode to %o", m)
	}

	// A dangling link would have O_CREAT make its target.
	dangling := &actions.Audit{Path: filepath.Join(dir, "dangling.jsonl")}
	nowhere := filepath.Join(dir, "nowhere")
	if err := os.Symlink(nowhere, dangling.Path); err != nil {
		t.Fatal(err)
	}
	wantAuditError(t, dangling.Check(), "is a symbolic link")
	if _, err := os.Lstat(nowhere); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dangling link's target was created (%v)", err)
	}
}

func TestAuditParentIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &actions.Audit{Path: filepath.Join(file, "pgmedic", "audit.jsonl")}
	err := a.Check()
	wantAuditError(t, err, "audit log "+a.Path+": "+file+" is not a directory")
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("%v does not unwrap to ENOTDIR", err)
	}
	wantAuditError(t, a.Append(auditRecord("x", "started")), file+" is not a directory")
}

func TestAuditRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, why := range map[string]string{
		dir:        "is a directory",
		fifo:       "is not a regular file (it is a named pipe)",
		os.DevNull: "is not a regular file (it is a character device)",
		"":         "no path is set",
	} {
		a := &actions.Audit{Path: path}
		wantAuditError(t, a.Check(), why)
		wantAuditError(t, a.Append(auditRecord("x", "started")), why)
	}
}

func TestAuditRefusesAnotherUsersFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
	if err := os.WriteFile(a.Path, []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(a.Path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wantAuditError(t, a.Check(), fmt.Sprintf("is owned by uid %d", nobody))
	wantAuditError(t, a.Append(auditRecord("x", "started")), fmt.Sprintf("is owned by uid %d", nobody))
	if raw, _ := os.ReadFile(a.Path); string(raw) != "theirs\n" {
		t.Errorf("another user's file was written to: %q", raw)
	}
}

// deniedPathEnv carries the path to the copy of this test that runs as an
// unprivileged user.
const deniedPathEnv = "PGMEDIC_AUDIT_DENIED_PATH"

func TestAuditPermissionDenied(t *testing.T) {
	if path := os.Getenv(deniedPathEnv); path != "" {
		wantDenied(t, path)
		return
	}
	if os.Geteuid() != 0 {
		locked := filepath.Join(t.TempDir(), "locked")
		if err := os.Mkdir(locked, 0o500); err != nil {
			t.Fatal(err)
		}
		wantDenied(t, filepath.Join(locked, "pgmedic", "audit.jsonl"))
		return
	}
	// Mode bits do not stop root, and CI runs as root: run this test
	// again, as nobody, from a copy of the test binary nobody can execute.
	base, err := os.MkdirTemp("", "pgmedic-audit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "actions.test")
	copyExecutable(t, bin)
	locked := filepath.Join(base, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(locked, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(locked, "pgmedic", "audit.jsonl")
	cmd := exec.Command(bin, "-test.run=^TestAuditPermissionDenied$", "-test.count=1", "-test.v")
	cmd.Dir = base
	cmd.Env = append(os.Environ(), deniedPathEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAuditPermissionDenied")) {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	if _, err := os.Lstat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("something was created under the locked directory (%v)", err)
	}
}

func wantDenied(t *testing.T, path string) {
	a := &actions.Audit{Path: path}
	for name, err := range map[string]error{"Check": a.Check(), "Append": a.Append(auditRecord("x", "started"))} {
		wantAuditError(t, err, "audit log "+path+": cannot create directory "+filepath.Dir(path)+": permission denied")
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v does not unwrap to fs.ErrPermission", name, err)
		}
	}
}

func copyExecutable(t *testing.T, to string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAuditTornTail(t *testing.T) {
	a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
	torn := `{"time":"2026-01-02T03:04:05Z","id":"torn","server":"db1:5432","database":"app","us`
	if err := os.WriteFile(a.Path, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(a.Path); string(raw) != torn {
		t.Fatalf("Check changed the file: %q", raw)
	}
	for _, id := range []string{"after1", "after2"} {
		if err := a.Append(auditRecord(id, "done")); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := actions.ReadAudit(a.Path, "db1:5432", "app", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditIDs(recs); got != "after1 after2" {
		t.Errorf("ReadAudit after a torn line: %q, want both records", got)
	}
	raw, _ := os.ReadFile(a.Path)
	if lines := strings.Split(string(raw), "\n"); len(lines) != 4 || lines[0] != torn {
		t.Errorf("the torn line was not kept on a line of its own: %q", raw)
	}
}

// An older pgmedic glued the next record to a torn line; ReadAudit still
// finds it, and a torn line in the middle hides nothing after it.
func TestAuditReadsPastTornLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var b bytes.Buffer
	for _, part := range []struct{ id, torn string }{
		{"glued", `{"time":"2026-01-02T03:04:05Z","id":"torn1","ser`},
		{"glued-twice", `{"time":"2026-01-02T03:04:05Z","id":"torn2"{"time":"2026-01-0`},
		{"after-garbage", "\x00\x00\x00garbage\n"},
	} {
		line, _ := json.Marshal(auditRecord(part.id, "done"))
		b.WriteString(part.torn)
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteString(`{"time":"2026-01-02T03:04:05Z","id":"torn-at-end"`)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := actions.ReadAudit(path, "db1:5432", "app", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditIDs(recs); got != "glued glued-twice after-garbage" {
		t.Errorf("ReadAudit: %q", got)
	}
}

func auditIDs(recs []actions.Record) string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, " ")
}

// Separate Audit values, as separate processes would be: only the flock
// keeps their lines apart, not Audit's mutex.
func TestAuditConcurrentAppends(t *testing.T) {
	const writers, each = 8, 50
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	// Long lines, so an unlocked writer would be caught mid-line.
	sql := strings.Repeat("x", 8<<10)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			a := &actions.Audit{Path: path}
			for i := range each {
				rec := auditRecord(fmt.Sprintf("w%d-%03d", w, i), "done")
				rec.SQL = []string{sql}
				if err := a.Append(rec); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids := wholeLines(t, path)
	if len(ids) != writers*each {
		t.Fatalf("%d lines, want %d", len(ids), writers*each)
	}
	next := make([]int, writers)
	for _, id := range ids {
		var w, i int
		if _, err := fmt.Sscanf(id, "w%d-%03d", &w, &i); err != nil || w >= writers || i != next[w] {
			t.Fatalf("record %q out of place (writer %d expected %d next)", id, w, next[w])
		}
		next[w]++
	}
}

func TestAuditFullDisk(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a size-limited tmpfs is Linux's")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run the full-disk test as root: it mounts a tmpfs")
		}
		t.Skip("mounting a tmpfs to fill needs root; CI runs this as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a 16k tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 8<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &actions.Audit{Path: filepath.Join(dir, "pgmedic", "audit.jsonl")}
	if err := a.Check(); err != nil {
		t.Fatalf("Check with 8k free: %v", err)
	}
	// Lines that do not divide a page, so one of them straddles the last
	// free byte and is written short.
	sql := strings.Repeat("y", 700)
	var written []string
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		rec := auditRecord(fmt.Sprintf("r%03d", i), "done")
		rec.SQL = []string{sql}
		if err = a.Append(rec); err == nil {
			written = append(written, rec.ID)
		}
	}
	t.Logf("%d records fitted; then: %v", len(written), err)
	if len(written) == 0 {
		t.Fatal("not one record fitted in 8k")
	}
	wantAuditError(t, err, "audit log "+a.Path+": no space left on device")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v does not unwrap to ENOSPC", err)
	}
	wantAuditError(t, a.Check(), "no space left on device")
	if ids := wholeLines(t, a.Path); strings.Join(ids, " ") != strings.Join(written, " ") {
		t.Errorf("the full log holds %q, want the %d records Append accepted", ids, len(written))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(); err != nil {
		t.Fatalf("Check after freeing space: %v", err)
	}
	if err := a.Append(auditRecord("after-free", "done")); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
	recs, err := actions.ReadAudit(a.Path, "db1:5432", "app", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(written)+1 || recs[len(recs)-1].ID != "after-free" {
		t.Errorf("ReadAudit after freeing space: %q", auditIDs(recs))
	}
	wholeLines(t, a.Path)
}

func TestAuditActionID(t *testing.T) {
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := actions.NewActionID()
		if !hex16.MatchString(id) || seen[id] {
			t.Fatalf("NewActionID gave %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

// One run's two records share an id; Write keeps filling in the
// connection, and ReadAudit still picks server, database and time.
func TestAuditRecordsOfOneRun(t *testing.T) {
	a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl"), Server: "db1:5432", Database: "app", User: "ops"}
	id := actions.NewActionID()
	started := auditRecord(id, "started")
	done := auditRecord(id, "done")
	done.Time = started.Time.Add(time.Second)
	done.Attempts = []string{"lock timeout after 2s", "done"}
	other := auditRecord("other-db", "done")
	other.Database = "billing"
	old := auditRecord("old", "done")
	old.Time = started.Time.Add(-time.Hour)
	for _, r := range []actions.Record{old, started, other, done} {
		if err := a.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Write(&actions.Result{Plan: actions.Plan{Kind: actions.Cancel}, Outcome: "refused", Started: done.Time}); err != nil {
		t.Fatal(err)
	}
	recs, err := actions.ReadAudit(a.Path, "db1:5432", "app", "", started.Time)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].ID != id || recs[1].ID != id || recs[0].Outcome != "started" || recs[1].Outcome != "done" {
		t.Fatalf("ReadAudit: %+v", recs)
	}
	if got := strings.Join(recs[1].Attempts, "|"); got != "lock timeout after 2s|done" {
		t.Errorf("attempts read back as %q", got)
	}
	if w := recs[2]; w.User != "ops" || w.Outcome != "refused" || w.Action != actions.Cancel {
		t.Errorf("Write's record: %+v", w)
	}
}

// A record that names the server's identity matches that server whatever
// address or database it was written through; records without one (older
// pgmedic, a role that could not read it) still match by name.
func TestReadAuditMatchesByIdentity(t *testing.T) {
	a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl")}
	rec := func(id, server, database, sysid string) actions.Record {
		r := auditRecord(id, "done")
		r.Server, r.Database, r.SystemIdentifier = server, database, sysid
		return r
	}
	for _, r := range []actions.Record{
		rec("socket", "/tmp/sock:5432", "shop", "7001"),
		rec("tcp-other-db", "127.0.0.1:5432", "billing", "7001"),
		rec("other-server", "127.0.0.1:5432", "shop", "7002"),
		rec("old-same-name", "127.0.0.1:5432", "shop", ""),
		rec("old-other-name", "/tmp/sock:5432", "shop", ""),
	} {
		if err := a.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := actions.ReadAudit(a.Path, "127.0.0.1:5432", "shop", "7001", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditIDs(recs); got != "socket tcp-other-db old-same-name" {
		t.Errorf("by identity: %s", got)
	}
	// A reader that could not read the identity matches by name only.
	recs, err = actions.ReadAudit(a.Path, "127.0.0.1:5432", "shop", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditIDs(recs); got != "other-server old-same-name" {
		t.Errorf("by name: %s", got)
	}
}

// The TUI's audit does not know the server's identity when it starts: a
// record takes it from the snapshot its plan was made from.
func TestAuditRecordTakesItsSnapshotsIdentity(t *testing.T) {
	a := &actions.Audit{Path: filepath.Join(t.TempDir(), "audit.jsonl"), Server: "/tmp/sock:5432", Database: "shop"}
	before := &inspect.Snapshot{Server: inspect.Server{SystemIdentifier: "7001"}}
	plan := actions.Plan{Kind: actions.Cancel, Refusal: "it is idle"}
	if r := actions.Run(context.Background(), actions.Env{Audit: a}, plan, before); r.Outcome != "refused" {
		t.Fatalf("outcome %q", r.Outcome)
	}
	recs, err := actions.ReadAudit(a.Path, "127.0.0.1:5432", "postgres", "7001", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].SystemIdentifier != "7001" {
		t.Errorf("records: %+v", recs)
	}
}

// TestReadAuditFrom follows a log as the recorder does: only what was
// appended since, a line not yet whole left for the next read, and a log
// replaced by a shorter one read from its start.
func TestReadAuditFrom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a := &actions.Audit{Path: path, Server: "db1:5432", Database: "shop", User: "postgres"}
	rec := func(id string) actions.Record {
		return actions.Record{Time: time.Now().UTC(), ID: id, Server: "db1:5432", Database: "shop", Action: actions.Terminate, Outcome: "done"}
	}
	if err := a.Append(rec("one")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	off := st.Size()
	if err := a.Append(rec("two")); err != nil {
		t.Fatal(err)
	}
	other := rec("elsewhere")
	other.Server = "db2:5432"
	if err := a.Append(other); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-12-02T02:00:00Z","id":"half`)
	f.Close()
	recs, next, err := actions.ReadAuditFrom(path, off, "db1:5432", "shop", "")
	if err != nil || len(recs) != 1 || recs[0].ID != "two" {
		t.Fatalf("%+v %v", recs, err)
	}
	recs, again, _ := actions.ReadAuditFrom(path, next, "db1:5432", "shop", "")
	if len(recs) != 0 || again != next {
		t.Fatalf("the half line was read: %+v", recs)
	}
	os.WriteFile(path, nil, 0o600)
	if err := a.Append(rec("three")); err != nil {
		t.Fatal(err)
	}
	recs, _, _ = actions.ReadAuditFrom(path, next, "db1:5432", "shop", "")
	if len(recs) != 1 || recs[0].ID != "three" {
		t.Fatalf("after the log was replaced: %+v", recs)
	}
}
