package actions

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// Audit appends one JSON line per execution to a file only its owner can
// read: it names servers, users and query text. It is a safety rail, not a
// diary: an action must not run when its record cannot be written, so
// Check says why before anything is done, and Append either lands a whole
// line or leaves the file as it found it.
type Audit struct {
	Path string
	// Server, Database and User describe the connection (never the
	// password).
	Server, Database, User string
	// SystemIdentifier is the server's (inspect.Server): when it is "",
	// each record takes that of the snapshot its plan was made from.
	SystemIdentifier string

	mu sync.Mutex
}

// DefaultAuditPath is $XDG_STATE_HOME/pgmedic/audit.jsonl, or
// ~/.local/state/pgmedic/audit.jsonl.
func DefaultAuditPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "pgmedic", "audit.jsonl")
}

// Record is one line of the audit log. An action run leaves two records
// with the same ID: Outcome "started" before its first statement, then
// "done", "refused", "failed" or "cancelled"; a "started" without its pair
// is an action whose end nobody saw.
type Record struct {
	// Time stays the first field: ReadAudit finds a record glued to a torn
	// line by the way every record begins.
	Time   time.Time `json:"time"`
	ID     string    `json:"id"`
	Server string    `json:"server"`
	// SystemIdentifier names the server whatever address or database
	// reached it; "" in records of older versions, or where the role
	// could not read it.
	SystemIdentifier string   `json:"system_identifier,omitempty"`
	Database         string   `json:"database"`
	User             string   `json:"user"`
	Action           Kind     `json:"action"`
	Target           any      `json:"target"`
	SQL              []string `json:"sql"`
	Outcome          string   `json:"outcome"`
	Message          string   `json:"message"`
	SQLState         string   `json:"sqlstate,omitempty"`
	DurationMS       int64    `json:"duration_ms"`
	BlockedBefore    int      `json:"blocked_before"`
	BlockedAfter     int      `json:"blocked_after"`
	NewRoots         []int    `json:"new_roots,omitempty"`
	// Attempts has one line per attempt of a retried statement, so the
	// log shows the lock timeouts an action waited through.
	Attempts []string `json:"attempts,omitempty"`
}

// NewActionID names one action run in the log. Random rather than a
// counter: several pgmedic processes append to the same file.
func NewActionID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails since Go 1.24; it crashes instead
	return hex.EncodeToString(b[:])
}

// RecordOf turns a result into its audit record.
func RecordOf(r *Result, server, database, user string) Record {
	rec := Record{Time: r.Started.UTC(), ID: r.ID, Attempts: r.Attempts, Server: server, Database: database, User: user, Action: r.Plan.Kind,
		Outcome: r.Outcome, Message: r.Message, SQLState: r.SQLState, DurationMS: r.Duration.Milliseconds(),
		BlockedBefore: r.BlockedBefore, BlockedAfter: r.BlockedAfter, NewRoots: r.NewRoots}
	switch {
	case r.Plan.Backend != nil:
		rec.Target = r.Plan.Backend
	case r.Plan.Index != nil:
		rec.Target = r.Plan.Index
	case r.Plan.Pooler != nil:
		rec.Target = r.Plan.Pooler
	default:
		rec.Target = r.Plan.Prepared
	}
	for _, st := range r.Plan.Statements {
		rec.SQL = append(rec.SQL, st.Display)
	}
	return rec
}

// Write appends the result's record.
func (a *Audit) Write(r *Result) error {
	return a.Append(a.recordOf(r, nil))
}

// recordOf is the record of r, with the server's identity from the Audit
// or else from the snapshot the plan was made from.
func (a *Audit) recordOf(r *Result, before *inspect.Snapshot) Record {
	rec := RecordOf(r, a.Server, a.Database, a.User)
	rec.SystemIdentifier = a.SystemIdentifier
	if rec.SystemIdentifier == "" && before != nil {
		rec.SystemIdentifier = before.Server.SystemIdentifier
	}
	return rec
}

// Check opens the log as Append does, creating it (0600) and its
// directories (0700) when missing, and writes nothing. Its error says in
// plain words why a record could not be written, so pgmedic can refuse an
// action before it starts rather than run it unrecorded.
func (a *Audit) Check() error {
	f, err := a.open()
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.room(); err != nil {
		return a.fail(err)
	}
	return nil
}

// Append writes rec as one line, whole or not at all: a failed or short
// write is cut back off, and a torn line left by an earlier crash is ended
// first so it cannot swallow this record.
func (a *Audit) Append(rec Record) error {
	// Escaped as `snapshot --json` is: query text in the log may carry
	// controls and bidi overrides, and the log gets read on terminals.
	line, err := safetext.EncodeJSON(rec, "")
	if err != nil {
		return a.fail(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := a.open()
	if err != nil {
		return err
	}
	defer f.close()
	if err := f.appendLine(line); err != nil {
		return a.fail(err)
	}
	return nil
}

func (a *Audit) open() (*logFile, error) {
	if a.Path == "" {
		return nil, a.fail(refusal("no path is set"))
	}
	if err := os.MkdirAll(filepath.Dir(a.Path), 0o700); err != nil {
		return nil, a.whyNotOpened(err)
	}
	f, err := openLog(a.Path)
	if err != nil {
		return nil, a.whyNotOpened(err)
	}
	return f, nil
}

// refusal is a reason pgmedic gives itself rather than one the system
// returned.
type refusal string

func (r refusal) Error() string { return string(r) }

// auditError unwraps to the system's error, so errors.Is(err,
// syscall.ENOSPC) and errors.Is(err, fs.ErrPermission) hold for callers.
type auditError struct {
	path, why string
	err       error
}

func (e *auditError) Error() string { return "audit log " + e.path + ": " + e.why }
func (e *auditError) Unwrap() error { return e.err }

func (a *Audit) fail(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &auditError{path: a.Path, why: pe.Err.Error(), err: err}
	}
	return &auditError{path: a.Path, why: err.Error(), err: err}
}

// whyNotOpened puts an open failure in words an operator can act on
// mid-incident: which part of the path is wrong, not only the errno of the
// last system call.
func (a *Audit) whyNotOpened(err error) error {
	e := a.fail(err).(*auditError)
	var pe *fs.PathError
	file := blockingFile(a.Path)
	switch {
	case isSymlink(a.Path):
		// Whatever errno O_NOFOLLOW gave: ELOOP, EMLINK or EFTYPE.
		e.why = "is a symbolic link; pgmedic will not follow it"
	case file != "":
		e.why = file + " is not a directory"
	case errors.As(err, &pe) && pe.Op == "mkdir":
		e.why = "cannot create directory " + pe.Path + ": " + pe.Err.Error()
	}
	return e
}

func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// blockingFile is the nearest existing ancestor of path's file when it is
// not a directory: the reason the log cannot be created, which an ENOTDIR
// from mkdir or open does not name.
func blockingFile(path string) string {
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if fi.IsDir() {
				return ""
			}
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// ReadAudit returns the records written since a time for one server,
// oldest first; a missing log is no records. A record and a systemID that
// both name the server's identity match on it alone, in any database and
// through any address: the same server reached over TCP or through its
// socket has two names. Otherwise (older records, a role that cannot read
// the identity) server and database must match as written.
func ReadAudit(path, server, database, systemID string, since time.Time) ([]Record, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	var out []Record
	for _, line := range bytes.Split(raw, []byte("\n")) {
		r, ok := parseLine(line)
		if ok && sameServer(&r, server, database, systemID) && !r.Time.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ReadAuditFrom reads the records appended to the log at path from byte
// off on, for the server ReadAudit would match, and returns where the
// next read starts: the recorder follows the log this way, reading only
// what is new. A line not yet whole at the end is left for the next read.
func ReadAuditFrom(path string, off int64, server, database, systemID string) ([]Record, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, off, nil
	}
	if err != nil {
		return nil, off, fmt.Errorf("audit log %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, off, err
	}
	if st.Size() < off {
		off = 0 // the log was truncated or replaced: all of it is new
	}
	if st.Size() == off {
		return nil, off, nil
	}
	raw := make([]byte, st.Size()-off)
	n, err := f.ReadAt(raw, off)
	if err != nil && n < len(raw) {
		return nil, off, fmt.Errorf("audit log %s: %w", path, err)
	}
	end := bytes.LastIndexByte(raw, '\n')
	if end < 0 {
		return nil, off, nil
	}
	var out []Record
	for _, line := range bytes.Split(raw[:end], []byte("\n")) {
		if r, ok := parseLine(line); ok && sameServer(&r, server, database, systemID) {
			out = append(out, r)
		}
	}
	return out, off + int64(end) + 1, nil
}

func sameServer(r *Record, server, database, systemID string) bool {
	if systemID != "" && r.SystemIdentifier != "" {
		return r.SystemIdentifier == systemID
	}
	return r.Server == server && r.Database == database
}

// recordStart is how every line Append writes begins.
var recordStart = []byte(`{"time":`)

// parseLine reads one line, or the whole record at the end of a line that
// begins with a torn one: versions of pgmedic before Append ended torn
// lines glued the next record to them.
func parseLine(line []byte) (Record, bool) {
	for len(line) > 0 {
		var r Record
		if json.Unmarshal(line, &r) == nil {
			return r, true
		}
		i := bytes.Index(line[1:], recordStart)
		if i < 0 {
			break
		}
		line = line[1+i:]
	}
	return Record{}, false
}
