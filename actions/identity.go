package actions

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Identity names the plan's target so that a later run can tell it is
// still the same one: a pid, an index name and a gid can all be reused by
// something else between a dry run and the run. It is one shell-safe word:
//
//	PID@BACKEND_START          a backend (the start time in UTC, RFC 3339)
//	oid:OID                    an index (a rebuilt index keeps its name, not its oid)
//	prepared:PREPARED_TIME     a prepared transaction (UTC, RFC 3339)
//
// It is empty when the plan has no target, or when a backend's start
// time is hidden from us (then a reused pid could not be told apart).
func (p *Plan) Identity() string {
	switch {
	case p.Backend != nil:
		if p.Backend.BackendStart.IsZero() {
			return ""
		}
		return strconv.Itoa(p.Backend.PID) + "@" + p.Backend.BackendStart.UTC().Format(time.RFC3339Nano)
	case p.Index != nil:
		return "oid:" + strconv.FormatUint(uint64(p.Index.OID), 10)
	case p.Prepared != nil:
		return "prepared:" + p.Prepared.Prepared.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// identity is a parsed Identity.
type identity struct {
	pid  int       // a backend, with at
	oid  uint32    // an index
	at   time.Time // a backend's start or a transaction's prepare time
	kind string    // "session", "index" or "prepared transaction"
}

var (
	backendIdentity  = regexp.MustCompile(`^([1-9][0-9]*)@(.+)$`)
	indexIdentity    = regexp.MustCompile(`^oid:([1-9][0-9]*)$`)
	preparedIdentity = regexp.MustCompile(`^prepared:(.+)$`)
)

func parseIdentity(token string) (identity, error) {
	bad := fmt.Errorf("--expect %q is not an identity pgmedic prints (PID@BACKEND_START, oid:OID or prepared:TIME, "+
		"as on the \"identity\" line of a --dry-run)", token)
	if m := backendIdentity.FindStringSubmatch(token); m != nil {
		pid, err1 := strconv.Atoi(m[1])
		at, err2 := time.Parse(time.RFC3339Nano, m[2])
		if err1 != nil || err2 != nil {
			return identity{}, bad
		}
		return identity{kind: "session", pid: pid, at: at}, nil
	}
	if m := indexIdentity.FindStringSubmatch(token); m != nil {
		oid, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil {
			return identity{}, bad
		}
		return identity{kind: "index", oid: uint32(oid)}, nil
	}
	if m := preparedIdentity.FindStringSubmatch(token); m != nil {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return identity{}, bad
		}
		return identity{kind: "prepared transaction", at: at}, nil
	}
	return identity{}, bad
}

// CheckIdentity reports whether token could be an Identity at all, so a
// mistyped --expect is a usage error before anything connects.
func CheckIdentity(token string) error {
	_, err := parseIdentity(token)
	return err
}

// CheckExpect compares the identity the user expects (from a dry run, or
// from what they saw) with the plan's target now. It returns nil when
// token is empty or names this very target; otherwise the error says, in
// words, what was expected and what is there now.
func (p *Plan) CheckExpect(token string) error {
	if token == "" || token == p.Identity() {
		return nil
	}
	want, err := parseIdentity(token)
	if err != nil {
		return err
	}
	// Timestamps are compared as instants, not as text: the same start
	// time may be written with another offset or precision.
	switch {
	case want.kind == "session" && p.Backend != nil:
		b := p.Backend
		switch {
		case b.PID != want.pid:
			return fmt.Errorf("--expect names pid %d, but this plan is for pid %d: nothing was done", want.pid, b.PID)
		case b.BackendStart.IsZero():
			return fmt.Errorf("the start time of pid %d cannot be read, so it cannot be told apart from the session you expected: nothing was done", b.PID)
		case b.BackendStart.Equal(want.at):
			return nil
		}
		now, then := twoTimes(b.BackendStart, want.at)
		return fmt.Errorf("pid %d is now a different session (started %s, application %s, user %s), not the one you expected (started %s): nothing was done",
			b.PID, now, unnamed(b.Application), unnamed(b.User), then)
	case want.kind == "index" && p.Index != nil:
		ix := p.Index
		if ix.OID == want.oid {
			return nil
		}
		return fmt.Errorf("index %s is now a different index (oid %d), not the one you expected (oid %d): it has been replaced since: nothing was done",
			pgx.Identifier{ix.Schema, ix.Name}.Sanitize(), ix.OID, want.oid)
	case want.kind == "prepared transaction" && p.Prepared != nil:
		px := p.Prepared
		if px.Prepared.Equal(want.at) {
			return nil
		}
		now, then := twoTimes(px.Prepared, want.at)
		return fmt.Errorf("prepared transaction '%s' is now a different transaction (prepared %s, owner %s), not the one you expected (prepared %s): nothing was done",
			px.GID, now, unnamed(px.Owner), then)
	case p.Backend == nil && p.Index == nil && p.Prepared == nil:
		return fmt.Errorf("the %s you expected (--expect %s) is not there any more: nothing was done", want.kind, token)
	}
	article := "a"
	if want.kind == "index" {
		article = "an"
	}
	return fmt.Errorf("--expect %s names %s %s, but this is %s: nothing was done", token, article, want.kind, p.Kind)
}

// twoTimes writes two instants in UTC just precisely enough to tell them
// apart: a pid can be reused within the same second.
func twoTimes(a, b time.Time) (string, string) {
	a, b = a.UTC(), b.UTC()
	layout := "15:04:05"
	if a.Truncate(time.Second).Equal(b.Truncate(time.Second)) {
		layout = "15:04:05.000000"
	}
	if a.YearDay() != b.YearDay() || a.Year() != b.Year() {
		layout = "2006-01-02 " + layout
	}
	return a.Format(layout) + " UTC", b.Format(layout) + " UTC"
}

// unnamed stands in for an empty name, so the message still reads.
func unnamed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
