package actions

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Audit appends one JSON line per execution to a file only its owner can
// read: it names servers, users and query text.
type Audit struct {
	Path string
	// Server, Database and User describe the connection (never the
	// password).
	Server, Database, User string

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
	Time          time.Time `json:"time"`
	ID            string    `json:"id"`
	Server        string    `json:"server"`
	Database      string    `json:"database"`
	User          string    `json:"user"`
	Action        Kind      `json:"action"`
	Target        any       `json:"target"`
	SQL           []string  `json:"sql"`
	Outcome       string    `json:"outcome"`
	Message       string    `json:"message"`
	SQLState      string    `json:"sqlstate,omitempty"`
	DurationMS    int64     `json:"duration_ms"`
	BlockedBefore int       `json:"blocked_before"`
	BlockedAfter  int       `json:"blocked_after"`
	NewRoots      []int     `json:"new_roots,omitempty"`
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
	rec := Record{Time: r.Started.UTC(), Server: server, Database: database, User: user, Action: r.Plan.Kind,
		Outcome: r.Outcome, Message: r.Message, SQLState: r.SQLState, DurationMS: r.Duration.Milliseconds(),
		BlockedBefore: r.BlockedBefore, BlockedAfter: r.BlockedAfter, NewRoots: r.NewRoots}
	switch {
	case r.Plan.Backend != nil:
		rec.Target = r.Plan.Backend
	case r.Plan.Index != nil:
		rec.Target = r.Plan.Index
	default:
		rec.Target = r.Plan.Prepared
	}
	for _, st := range r.Plan.Statements {
		rec.SQL = append(rec.SQL, st.Display)
	}
	return rec
}

// Write appends the result's record, creating the file (mode 0600) and
// its directory (0700) when needed.
func (a *Audit) Write(r *Result) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(a.Path), 0o700); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(a.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	line, err := json.Marshal(RecordOf(r, a.Server, a.Database, a.User))
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// ReadAudit returns the records written since a time for one server and
// database, oldest first; a missing log is no records.
func ReadAudit(path, server, database string, since time.Time) ([]Record, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []Record
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var r Record
		if len(line) == 0 || json.Unmarshal(line, &r) != nil {
			continue // a torn last line is skipped, not fatal
		}
		if r.Server == server && r.Database == database && !r.Time.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}
