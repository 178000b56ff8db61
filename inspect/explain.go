package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Plan is the plan of a backend's statement, or why pgmedic will not show
// one (Refusal). The statement is never executed: EXPLAIN without ANALYZE,
// in a READ ONLY transaction under short timeouts, on pgmedic's own
// connection.
type Plan struct {
	PID      int    `json:"pid"`
	Database string `json:"database"`
	Query    string `json:"query"`
	// Source says where the plan came from, in words.
	Source string `json:"source,omitempty"`
	// Root is the plan's tree; Text the plan as lines when the source
	// gives no tree (pg_show_plans).
	Root *PlanNode `json:"root,omitempty"`
	Text []string  `json:"text,omitempty"`
	// Refusal says why there is no plan; empty when there is one.
	Refusal string `json:"refusal,omitempty"`
	// Notes qualify the plan: how it may differ from the running one.
	Notes []string `json:"notes,omitempty"`
}

// PlanNode is one node of a plan, as EXPLAIN (FORMAT JSON) gives it.
type PlanNode struct {
	NodeType string `json:"node_type"`
	// Relation is schema-qualified when EXPLAIN named the schema.
	Relation  string  `json:"relation,omitempty"`
	Alias     string  `json:"alias,omitempty"`
	Index     string  `json:"index,omitempty"`
	JoinType  string  `json:"join_type,omitempty"`
	Strategy  string  `json:"strategy,omitempty"`
	Operation string  `json:"operation,omitempty"`
	Rows      float64 `json:"rows"`
	TotalCost float64 `json:"total_cost"`
	// Condition is the node's index condition, join condition or filter.
	Condition string `json:"condition,omitempty"`
	// LargeSeqScan marks a sequential scan of a table of LargeTablePages
	// pages or LargeTableRows rows or more, by the catalog's estimate;
	// TableBytes is that table's size by the same estimate.
	LargeSeqScan bool        `json:"large_seq_scan,omitempty"`
	TableBytes   int64       `json:"table_bytes,omitempty"`
	Children     []*PlanNode `json:"children,omitempty"`
}

// A sequential scan is marked from these sizes up: 80 MB at 8 kB pages.
const (
	LargeTablePages = 10_000
	LargeTableRows  = 1_000_000
)

// EXPLAIN's own bounds: short and fixed. Planning takes a lock on every
// relation the statement names; behind an ACCESS EXCLUSIVE lock it would
// wait, and lock_timeout turns that wait into a refusal at once.
const (
	explainLockTimeout      = "100ms"
	explainStatementTimeout = "2s"
)

// ExplainBackend plans the statement backend pid runs, or ran last. A
// refusal is a Plan with Refusal set; an error means the connection
// failed. The connection is never left inside a transaction.
func ExplainBackend(ctx context.Context, conn *pgx.Conn, pid int) (*Plan, error) {
	p := &Plan{PID: pid}
	var (
		backendType, state, ourDB string
		querySize, version        int
		showPlans                 bool
	)
	err := conn.QueryRow(ctx, `/* pgmedic:explain-backend */
SELECT coalesce(a.datname, ''), coalesce(a.backend_type, ''), coalesce(a.state, ''), coalesce(a.query, ''),
       pg_catalog.current_database(),
       (SELECT setting::int FROM pg_catalog.pg_settings WHERE name = 'track_activity_query_size'),
       pg_catalog.current_setting('server_version_num')::int,
       EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_show_plans')
FROM pg_catalog.pg_stat_activity a WHERE a.pid = $1`, pid).Scan(
		&p.Database, &backendType, &state, &p.Query, &ourDB, &querySize, &version, &showPlans)
	if errors.Is(err, pgx.ErrNoRows) {
		p.Refusal = fmt.Sprintf("pid %d is not running: it is not in pg_stat_activity (it ended, or was never there)", pid)
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pid %d: %w", pid, err)
	}
	if p.Refusal = explainable(p, backendType, ourDB, querySize); p.Refusal != "" {
		return p, nil
	}
	st := scanStatement(p.Query)
	switch {
	case st.statements != 1:
		p.Refusal = "its text holds more than one statement; pgmedic explains a single statement only"
	case !planKeywords[st.keyword]:
		p.Refusal = fmt.Sprintf("it is not a query (it begins with %s): pgmedic explains only SELECT, INSERT, UPDATE, "+
			"DELETE, MERGE, VALUES, TABLE and WITH, never DDL, utility commands or anything run for its side effects",
			orUnknown(st.keyword))
	case st.keyword == "MERGE" && version < 150000:
		p.Refusal = "MERGE is PostgreSQL 15+"
	case st.params && version < 160000:
		p.Refusal = "it has $n parameters, and PostgreSQL before 16 cannot plan a statement without their values " +
			"(16 added EXPLAIN (GENERIC_PLAN))"
	}
	if p.Refusal != "" {
		return p, nil
	}
	if state != "active" {
		// Often the very statement whose locks the transaction still holds.
		p.Notes = append(p.Notes, fmt.Sprintf("its last statement, which has finished: the session is %s", orUnknown(state)))
	}
	if showPlans && state == "active" {
		if ok, err := showPlan(ctx, conn, p); err != nil || ok {
			return p, err
		}
	}
	return p, explain(ctx, conn, p, st.params)
}

// explainable says why a backend's statement cannot be explained, or "".
func explainable(p *Plan, backendType, ourDB string, querySize int) string {
	switch {
	case backendType != "client backend":
		return fmt.Sprintf("pid %d is not a client session (%s)", p.PID, orUnknown(backendType))
	case p.Query == "<insufficient privilege>":
		return "pgmedic's role may not see its statement (it needs pg_read_all_stats)"
	case strings.TrimSpace(p.Query) == "":
		return "it has run no statement yet"
	case p.Database != ourDB:
		return fmt.Sprintf("it runs in database %s and pgmedic's connection is to %s: planning needs its catalog; "+
			"connect with -d %s to explain it", QuoteIdent(p.Database), QuoteIdent(ourDB), QuoteIdent(p.Database))
	case len(p.Query) >= querySize-4:
		// The server cuts at a character boundary: a multibyte text can
		// end up to 3 bytes short of the limit's last byte.
		return fmt.Sprintf("its text is at the length of track_activity_query_size (%d bytes), where the server cuts it: "+
			"what is shown may not be the whole statement", querySize)
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "nothing pgmedic can read"
	}
	return s
}

// planKeywords are the statements EXPLAIN plans without running them.
var planKeywords = map[string]bool{"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true,
	"VALUES": true, "TABLE": true, "WITH": true}

// statementShape is what explaining needs to know of a text: how many
// statements it holds, its first keyword, whether it has $n parameters.
type statementShape struct {
	statements int
	keyword    string
	params     bool
}

// scanStatement reads a statement's text as the server's lexer would for
// what matters here: comments (nested /* */ too), quoted strings (E”
// with its backslashes), quoted identifiers and dollar quotes are skipped,
// and a ; outside them ends a statement.
func scanStatement(q string) statementShape {
	var sh statementShape
	content := false // the current statement has a token
	word := func(start, end int) {
		if !content {
			content = true
			sh.statements++
			if sh.statements == 1 {
				sh.keyword = strings.ToUpper(q[start:end])
			}
		}
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			depth := 0
			for i < len(q) {
				switch {
				case strings.HasPrefix(q[i:], "/*"):
					depth++
					i += 2
				case strings.HasPrefix(q[i:], "*/"):
					depth--
					i += 2
				default:
					i++
				}
				if depth == 0 {
					break
				}
			}
		case c == ';':
			content = false
			i++
		case c == '\'' || c == '"':
			word(i, i)
			escapes := c == '\'' && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e')
			i++
			for i < len(q) {
				if escapes && q[i] == '\\' {
					i += 2
					continue
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c { // a doubled quote
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
		case c == '$':
			// $n is a parameter; $tag$ ... $tag$ a dollar quote.
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				sh.params = true
				word(i, i)
				i = j
				continue
			}
			for j < len(q) && (isIdentChar(q[j])) {
				j++
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				word(i, i)
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					i = len(q)
				} else {
					i = j + 1 + end + len(tag)
				}
				continue
			}
			i++
		case isIdentChar(c):
			j := i
			for j < len(q) && (isIdentChar(q[j]) || q[j] == '$') {
				j++
			}
			word(i, j)
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		default:
			word(i, i)
			i++
		}
	}
	return sh
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// showPlan takes the running plan from pg_show_plans, when the extension
// has one for pid: the plan the statement really runs, not a new one.
func showPlan(ctx context.Context, conn *pgx.Conn, p *Plan) (bool, error) {
	var plan string
	err := conn.QueryRow(ctx, `/* pgmedic:show-plans */
SELECT plan FROM pg_show_plans WHERE pid = $1 ORDER BY level LIMIT 1`, p.PID).Scan(&plan)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			p.Notes = append(p.Notes, "pg_show_plans is installed but could not be read: "+pgErr.Message)
			return false, nil
		}
		return false, fmt.Errorf("reading pg_show_plans: %w", err)
	}
	p.Source = "pg_show_plans: the plan the statement is running"
	p.Text = strings.Split(strings.TrimRight(plan, "\n"), "\n")
	return true, nil
}

// explain runs EXPLAIN in a READ ONLY transaction and fills p with the
// plan or a refusal. The text is parsed first through the extended
// protocol, which refuses more than one statement, and only then sent:
// with $n parameters it must go as a simple query, where the server would
// run every statement it holds.
func explain(ctx context.Context, conn *pgx.Conn, p *Plan, params bool) error {
	options := "VERBOSE, FORMAT JSON"
	if params {
		options += ", GENERIC_PLAN"
		p.Notes = append(p.Notes, "a generic plan: its $n parameters have no values, so the planner used average estimates")
	}
	sql := "EXPLAIN (" + options + ") " + p.Query
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("explaining pid %d: %w", p.PID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var raw []byte
	_, err = tx.Exec(ctx, "SET LOCAL lock_timeout = '"+explainLockTimeout+"'; SET LOCAL statement_timeout = '"+explainStatementTimeout+"'")
	if err == nil {
		_, err = conn.PgConn().Prepare(ctx, "", sql, nil)
	}
	if err == nil {
		// Raw, not through pgx's simple protocol, which would read $1 as
		// its own placeholder and want an argument for it.
		var results []*pgconn.Result
		results, err = conn.PgConn().Exec(ctx, sql).ReadAll()
		if err == nil && (len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 1) {
			err = fmt.Errorf("EXPLAIN gave %d results", len(results))
		}
		if err == nil {
			raw = results[0].Rows[0][0]
		}
	}
	if err != nil {
		return refuseOn(ctx, conn, tx, p, err)
	}
	var out []struct {
		Plan json.RawMessage `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		return fmt.Errorf("explaining pid %d: reading the plan: %v", p.PID, err)
	}
	root, err := planNode(out[0].Plan)
	if err != nil {
		return fmt.Errorf("explaining pid %d: reading the plan: %w", p.PID, err)
	}
	p.Root = root
	p.Source = "EXPLAIN on pgmedic's connection (the statement was not run)"
	if params {
		p.Source = "EXPLAIN (GENERIC_PLAN) on pgmedic's connection (the statement was not run)"
	}
	p.Notes = append(p.Notes, "planned now, with pgmedic's role and search_path and today's statistics: "+
		"the running statement's plan may differ")
	return markLargeScans(ctx, tx, root)
}

// refuseOn turns what stopped EXPLAIN into a refusal when it is about the
// statement, not the connection.
func refuseOn(ctx context.Context, conn *pgx.Conn, tx pgx.Tx, p *Plan, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("explaining pid %d: %w", p.PID, err)
	}
	tx.Rollback(context.WithoutCancel(ctx))
	switch pgErr.Code {
	case "55P03":
		p.Refusal = "a table it uses is locked, or has an ACCESS EXCLUSIVE request queued on it (" +
			exclusiveHolders(ctx, conn) + "): EXPLAIN would wait behind that lock, so pgmedic did not"
	case "57014":
		p.Refusal = "planning it took longer than " + explainStatementTimeout + "; pgmedic stopped"
	case "42501":
		p.Refusal = "pgmedic's role may not read what it uses: " + pgErr.Message
	case "42P01", "42883", "3F000":
		p.Refusal = "pgmedic cannot resolve a name in it (" + pgErr.Message + "); the session's search_path may differ from pgmedic's"
	case "42601":
		p.Refusal = "the server cannot parse it as one statement to explain: " + pgErr.Message
	default:
		p.Refusal = "EXPLAIN failed: " + pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	return nil
}

// exclusiveHolders names who holds or waits for ACCESS EXCLUSIVE locks in
// this database, read once after a refusal: a queued request blocks new
// readers as a held lock does.
func exclusiveHolders(ctx context.Context, conn *pgx.Conn) string {
	var holders []string
	rows, err := conn.Query(ctx, `/* pgmedic:explain-lock */
SELECT l.relation::regclass::text || CASE WHEN l.granted THEN ' held' ELSE ' wanted' END || ' by pid ' || l.pid
FROM pg_catalog.pg_locks l
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
ORDER BY l.granted DESC, l.pid LIMIT 5`)
	if err == nil {
		holders, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(holders) == 0 {
		return "by another session"
	}
	return "ACCESS EXCLUSIVE on " + strings.Join(holders, ", ")
}

// planNode reads one node of EXPLAIN's JSON and its children.
func planNode(raw json.RawMessage) (*PlanNode, error) {
	var j struct {
		NodeType  string            `json:"Node Type"`
		Relation  string            `json:"Relation Name"`
		Schema    string            `json:"Schema"`
		Alias     string            `json:"Alias"`
		Index     string            `json:"Index Name"`
		JoinType  string            `json:"Join Type"`
		Strategy  string            `json:"Strategy"`
		Operation string            `json:"Operation"`
		Rows      float64           `json:"Plan Rows"`
		TotalCost float64           `json:"Total Cost"`
		IndexCond string            `json:"Index Cond"`
		HashCond  string            `json:"Hash Cond"`
		MergeCond string            `json:"Merge Cond"`
		JoinFilt  string            `json:"Join Filter"`
		Filter    string            `json:"Filter"`
		Plans     []json.RawMessage `json:"Plans"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	n := &PlanNode{NodeType: j.NodeType, Alias: j.Alias, Index: j.Index, JoinType: j.JoinType, Strategy: j.Strategy,
		Operation: j.Operation, Rows: j.Rows, TotalCost: j.TotalCost}
	switch {
	case j.Schema != "" && j.Relation != "":
		n.Relation = QuoteIdent(j.Schema) + "." + QuoteIdent(j.Relation)
	case j.Relation != "":
		n.Relation = QuoteIdent(j.Relation)
	}
	if n.Alias == j.Relation {
		n.Alias = ""
	}
	for _, c := range []string{j.IndexCond, j.HashCond, j.MergeCond, j.JoinFilt, j.Filter} {
		if c != "" {
			n.Condition = c
			break
		}
	}
	for _, c := range j.Plans {
		child, err := planNode(c)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, child)
	}
	return n, nil
}

// markLargeScans looks the sequentially scanned tables up in the catalog
// (no lock is taken) and marks the large ones.
func markLargeScans(ctx context.Context, tx pgx.Tx, root *PlanNode) error {
	var scans []*PlanNode
	var walk func(n *PlanNode)
	walk = func(n *PlanNode) {
		if n.NodeType == "Seq Scan" && n.Relation != "" {
			scans = append(scans, n)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(root)
	if len(scans) == 0 {
		return nil
	}
	names := make([]string, len(scans))
	for i, n := range scans {
		names[i] = n.Relation
	}
	rows, err := tx.Query(ctx, `/* pgmedic:explain-sizes */
SELECT n.name, c.relpages::bigint, c.reltuples::float8, c.relpages::bigint * pg_catalog.current_setting('block_size')::bigint
FROM unnest($1::text[]) n(name)
JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n.name)`, names)
	if err != nil {
		return fmt.Errorf("reading the sizes of the scanned tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name         string
			pages, bytes int64
			tuples       float64
		)
		if err := rows.Scan(&name, &pages, &tuples, &bytes); err != nil {
			return fmt.Errorf("reading the sizes of the scanned tables: %w", err)
		}
		for _, n := range scans {
			if n.Relation == name {
				n.TableBytes = bytes
				n.LargeSeqScan = pages >= LargeTablePages || tuples >= LargeTableRows
			}
		}
	}
	return rows.Err()
}
