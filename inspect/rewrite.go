package inspect

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rewrite is a running statement that rewrites or scans a whole table
// under its lock and has no progress view: ALTER TABLE ... ALTER COLUMN
// TYPE, ADD COLUMN with a volatile default, SET LOGGED, REFRESH
// MATERIALIZED VIEW and the like. It is recognised from the query text;
// the table is the one the session holds ACCESS EXCLUSIVE on.
type Rewrite struct {
	PID      int    `json:"pid"`
	Database string `json:"database"`
	// Action says what the statement does, in words ("changes a column's
	// type").
	Action string `json:"action"`
	// Rewrites is false for a statement that reads the whole table
	// without writing a new one (validating a constraint), or copies its
	// files (SET TABLESPACE).
	Rewrites bool `json:"rewrites"`
	// Table, its size and row count are the catalog's, read once when the
	// rewrite is first seen, the refresh after; "" and nil until then, or
	// when the session holds no such lock (yet).
	Table    string `json:"table"`
	TableOID uint32 `json:"table_oid"`
	// SizeBytes is relpages times the block size and Rows reltuples: the
	// last VACUUM's or ANALYZE's estimate, not a measure. nil when the
	// table was never vacuumed or analyzed.
	SizeBytes *int64 `json:"size_bytes"`
	Rows      *int64 `json:"rows_estimated"`
	// Meaning is what the responder must know, and Unknown what cannot
	// be known, in words.
	Meaning string `json:"meaning"`
	Unknown string `json:"unknown"`

	Started       *time.Time `json:"started"`
	WaitEventType string     `json:"wait_event_type"`
	WaitEvent     string     `json:"wait_event"`
	Blocking      int        `json:"blocking"`
}

type rewriteRule struct {
	re       *regexp.Regexp
	action   string
	rewrites bool
}

// The statements, on the text with comments gone, spaces collapsed and
// upper-cased. A column's type change rewrites unless the new type is
// binary-compatible (varchar to text, a longer varchar): the text cannot
// tell, so it says "may".
var rewriteRules = []rewriteRule{
	{regexp.MustCompile(`^ALTER TABLE .*\bALTER (COLUMN )?\S+ (SET DATA )?TYPE\b`),
		"changes a column's type (a rewrite unless the new type is binary-compatible, e.g. varchar to text)", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bADD (COLUMN )?.*\bDEFAULT .*\b(RANDOM|CLOCK_TIMESTAMP|GEN_RANDOM_UUID|UUID_GENERATE_V\d|NEXTVAL|TIMEOFDAY|STATEMENT_TIMESTAMP) ?\(`),
		"adds a column with a volatile default, computed for every row", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bADD (COLUMN )?\S+ (SMALLSERIAL|SERIAL|BIGSERIAL|SERIAL2|SERIAL4|SERIAL8)\b`),
		"adds a serial column, numbered for every row", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bADD (COLUMN )?.*\bGENERATED (ALWAYS|BY DEFAULT) AS IDENTITY\b`),
		"adds an identity column, numbered for every row", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bADD (COLUMN )?.*\bGENERATED ALWAYS AS \(.*\) STORED\b`),
		"adds a stored generated column, computed for every row", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bSET (UN)?LOGGED\b`), "changes whether the table is logged", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bSET ACCESS METHOD\b`), "changes the table's access method", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bSET TABLESPACE\b`), "moves the table's files to another tablespace", false},
	{regexp.MustCompile(`^REFRESH MATERIALIZED VIEW (\S+|"[^"]*")( |$)`), "refreshes a materialized view without CONCURRENTLY", true},
	{regexp.MustCompile(`^ALTER TABLE .*\bADD (CONSTRAINT \S+ )?(CHECK|FOREIGN KEY)\b`),
		"adds a constraint and checks every row (no NOT VALID)", false},
	{regexp.MustCompile(`^ALTER TABLE .*\bALTER (COLUMN )?\S+ SET NOT NULL\b`), "sets NOT NULL and checks every row", false},
}

var (
	lineComment  = regexp.MustCompile(`--[^\n]*`)
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	spaces       = regexp.MustCompile(`\s+`)
)

// rewriteAction recognises a statement that rewrites or scans a table
// with no progress view. The text is the session's own; a match only
// says what the statement asks for, not that the server has begun it.
func rewriteAction(query string) (action string, rewrites, ok bool) {
	// Every active session's text passes here on every refresh: only
	// those that begin with ALTER or REFRESH go on to the patterns.
	if w := firstWord(query); len(query) > 64<<10 || !strings.EqualFold(w, "ALTER") && !strings.EqualFold(w, "REFRESH") {
		return "", false, false
	}
	q := blockComment.ReplaceAllString(query, " ")
	q = lineComment.ReplaceAllString(q, " ")
	q = strings.ToUpper(strings.TrimSpace(spaces.ReplaceAllString(q, " ")))
	q = strings.TrimSuffix(q, ";")
	if strings.Contains(q, "NOT VALID") {
		return "", false, false
	}
	if strings.HasPrefix(q, "REFRESH MATERIALIZED VIEW CONCURRENTLY") {
		return "", false, false
	}
	for _, r := range rewriteRules {
		if r.re.MatchString(q) {
			return r.action, r.rewrites, true
		}
	}
	return "", false, false
}

// firstWord is a statement's first word, past spaces and comments,
// without copying the text.
func firstWord(q string) string {
	q = pastComments(q)
	j := 0
	for j < len(q) && isIdentChar(q[j]) {
		j++
	}
	return q[:j]
}

// pastComments is q from its first character that is neither a space nor
// in a comment; "" when there is none.
func pastComments(q string) string {
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "--"):
			if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				return ""
			}
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i:], "*/") // nested comments are rare before a statement
			if j < 0 {
				return ""
			}
			i += j + 2
		case q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '\f':
			i++
		default:
			return q[i:]
		}
	}
	return ""
}

const (
	rewriteMeaning = "It holds ACCESS EXCLUSIVE on the table until it ends: every read and write of the table waits. " +
		"Cancelling it is safe: the new copy is thrown away and the table stays as it was; the lock goes at once."
	scanMeaning = "It holds a lock on the table until it ends, and reads every row. " +
		"Cancelling it is safe: nothing is changed."
	rewriteUnknown = "PostgreSQL reports no progress for this statement: how far it has got, and when it will end, cannot be known."
)

// rewriteKey names one statement of one session.
type rewriteKey struct {
	pid   int
	start time.Time
}

// rewriteTarget is the table a rewrite holds, as read once.
type rewriteTarget struct {
	database string
	table    string
	oid      uint32
	size     *int64
	rows     *int64
}

// rewriteTargetsSQL reads, for the sessions given, the table each holds
// ACCESS EXCLUSIVE on, the largest when there are several (a rewrite
// also locks its new, still empty, copy). It reads pg_locks, so it runs
// only in the refresh after a rewrite is first seen, once per statement.
const rewriteTargetsSQL = `/* pgmedic:rewrite-targets */
SELECT DISTINCT ON (l.pid) l.pid, coalesce(d.datname, ''), l.relation::bigint,
       CASE WHEN d.datname = pg_catalog.current_database() THEN l.relation::regclass::text END,
       CASE WHEN c.reltuples >= 0 OR c.relpages > 0
            THEN c.relpages::bigint * pg_catalog.current_setting('block_size')::bigint END,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_database d ON d.oid = l.database
LEFT JOIN pg_catalog.pg_class c ON c.oid = l.relation AND d.datname = pg_catalog.current_database()
WHERE l.pid = ANY($1::int[]) AND l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock'
  AND coalesce(c.relkind, 'r') IN ('r', 'p', 'm')
ORDER BY l.pid, c.relpages DESC NULLS LAST`

// scanRewriteTargets reads rewriteTargetsSQL's rows into the cache.
func scanRewriteTargets(rows pgx.Rows, into map[rewriteKey]*rewriteTarget, asked map[int]rewriteKey) error {
	for rows.Next() {
		var (
			pid       int
			t         rewriteTarget
			oid       int64
			name      *string
			size, est *int64
		)
		if err := rows.Scan(&pid, &t.database, &oid, &name, &size, &est); err != nil {
			return fmt.Errorf("reading what a rewrite holds: %w", err)
		}
		t.oid, t.size, t.rows = uint32(oid), size, est
		if name != nil {
			t.table = *name
		} else {
			t.table = fmt.Sprintf("oid %d", oid)
		}
		if k, ok := asked[pid]; ok {
			into[k] = &t
			delete(asked, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading what a rewrite holds: %w", err)
	}
	// Asked once only: a session that held no such lock at that moment
	// keeps an unknown table rather than costing pg_locks every refresh.
	for _, k := range asked {
		into[k] = &rewriteTarget{}
	}
	return nil
}

// findRewrites lists the active sessions running a rewrite, with what the
// cache knows of their tables, and returns the keys of the ones it does
// not know yet. Entries for statements that ended are dropped.
func findRewrites(s *Snapshot, known map[rewriteKey]*rewriteTarget) (unknown []rewriteKey) {
	s.Rewrites = nil
	seen := make(map[rewriteKey]bool)
	for i := range s.Backends {
		b := &s.Backends[i]
		// One still waiting for its lock has not begun: the lock forest
		// shows it.
		if b.Own || b.State != "active" || b.QueryStart == nil || !b.IsClient() || b.Waiting != nil ||
			b.WaitEventType == "Lock" {
			continue
		}
		action, rewrites, ok := rewriteAction(b.Query)
		if !ok {
			continue
		}
		k := rewriteKey{b.PID, *b.QueryStart}
		seen[k] = true
		rw := Rewrite{PID: b.PID, Database: b.Database, Action: action, Rewrites: rewrites, Meaning: rewriteMeaning,
			Unknown: rewriteUnknown, Started: b.QueryStart, WaitEventType: b.WaitEventType, WaitEvent: b.WaitEvent}
		if !rewrites {
			rw.Meaning = scanMeaning
		}
		if t := known[k]; t != nil {
			rw.Table, rw.TableOID, rw.SizeBytes, rw.Rows = t.table, t.oid, t.size, t.rows
			if t.database != "" {
				rw.Database = t.database
			}
		} else {
			unknown = append(unknown, k)
		}
		rw.Blocking = s.LockForest.BlockedBehind(b.PID)
		s.Rewrites = append(s.Rewrites, rw)
	}
	for k := range known {
		if !seen[k] {
			delete(known, k)
		}
	}
	return unknown
}
