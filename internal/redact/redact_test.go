package redact

import (
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/inspect"
)

// Real-world shapes; every literal must go, everything else must stay.
var cases = []struct{ in, want string }{
	{`SELECT * FROM users WHERE email = 'alice@example.com'`, `SELECT * FROM users WHERE email = $1`},
	{`SELECT id FROM t WHERE id IN (1, 2, 3) AND flag = true`, `SELECT id FROM t WHERE id IN (...) AND flag = true`},
	{`UPDATE accounts SET balance = balance - 100.50, note = 'it''s mine' WHERE id = 7`, `UPDATE accounts SET balance = balance - $1, note = $2 WHERE id = $3`},
	{`INSERT INTO logs (msg) VALUES (E'line\'s\nend')`, `INSERT INTO logs (msg) VALUES ($1)`},
	{`SELECT $1::int, 'x' FROM t`, `SELECT $1::int, $2 FROM t`},
	{`SELECT '{"card": "4111 1111 1111 1111"}'::jsonb -> 'card'`, `SELECT $1::jsonb -> $2`},
	{`SELECT ARRAY[1, 2, 3], "Col 42" FROM "t1"`, `SELECT ARRAY[$1, $2, $3], "Col 42" FROM "t1"`},
	{`DO $$ BEGIN PERFORM 'secret'; END $$`, `DO $1`},
	{`SELECT 1e-5, 3.14, 42`, `SELECT $1, $2, $3`},
	// Prefixed strings: the prefix goes with the literal.
	{`SELECT B'0101', X'1F', N'nom', U&'d\0061t\+000061', e'it\'s'`, `SELECT $1, $2, $3, $4, $5`},
	// A string right after a keyword is still a string.
	{`SELECT'alice@example.com'`, `SELECT$1`},
	{`SELECT * FROM t WHERE code='x'AND n=5`, `SELECT * FROM t WHERE code=$1AND n=$2`},
	// PostgreSQL 16 integer forms, a leading point, separators.
	{`SELECT 0x1F, 0o17, 0b101, .5, 1_000_000`, `SELECT $1, $2, $3, $4, $5`},
	// Identifiers that contain digits or look like prefixes stay.
	{`SELECT t1.e, x2, b FROM t1 JOIN "x'y" ON true`, `SELECT t1.e, x2, b FROM t1 JOIN "x'y" ON true`},
	// Casts, arrays, JSON operators and ANY.
	{`SELECT data->>'email', (data#>>'{a,b}')::int FROM users WHERE tags @> ARRAY['vip'] AND id = ANY('{1,2}'::int[])`,
		`SELECT data->>$1, (data#>>$2)::int FROM users WHERE tags @> ARRAY[$3] AND id = ANY($4::int[])`},
	{`SELECT INTERVAL '1 day', '2024-01-01'::date, -42`, `SELECT INTERVAL $1, $2::date, -$3`},
	// A tagged dollar body with a quote inside, and a function body.
	{`CREATE FUNCTION f() RETURNS text AS $fn$ SELECT 'don''t' $fn$ LANGUAGE sql`, `CREATE FUNCTION f() RETURNS text AS $1 LANGUAGE sql`},
	// Comments are kept, quotes in them do not open a literal.
	{"SELECT 1 /* it's a /* nested */ comment */, 'x' -- don't\nFROM t", "SELECT $1 /* it's a /* nested */ comment */, $2 -- don't\nFROM t"},
	// A prepared statement's own parameters are not reused.
	{`SELECT * FROM t WHERE a = $1 AND b = 'x' AND c = $2`, `SELECT * FROM t WHERE a = $1 AND b = $3 AND c = $2`},
	// Multi-byte text.
	{`UPDATE "Kunden" SET name = 'Jürgen Groß', city = '東京' WHERE id = 3`, `UPDATE "Kunden" SET name = $1, city = $2 WHERE id = $3`},
}

func TestLex(t *testing.T) {
	for _, c := range cases {
		got := collapseIn(Lex(c.in))
		if got != c.want {
			t.Errorf("Lex(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	// Cut off by track_activity_query_size in the middle of a literal.
	if got := Lex(`SELECT * FROM t WHERE email = 'alice@exa`); got != `SELECT * FROM t WHERE email = $1` {
		t.Errorf("cut-off literal: %q", got)
	}
	if got := Lex(`SELECT x FROM t -- where 'c' = 1`); got != `SELECT x FROM t -- where 'c' = 1` {
		t.Errorf("comments are kept: %q", got)
	}
}

func TestRedactor(t *testing.T) {
	r := New()
	for _, c := range cases[:5] {
		got := r.Query(c.in)
		for _, secret := range []string{"alice@example.com", "100.50", "it''s", "line"} {
			if strings.Contains(got, secret) {
				t.Errorf("Query(%q) = %q keeps %q", c.in, got, secret)
			}
		}
	}
	if got := r.Query(`SELECT a FROM t WHERE b = 'x' AND c IN (4, 5)`); got != `SELECT a FROM t WHERE b = $1 AND c IN (...)` {
		t.Errorf("IN list: %q", got)
	}
	if got := r.Query(`SELECT broken FROM WHERE x = 'secret`); strings.Contains(got, "secret") {
		t.Errorf("a cut-off query kept the literal: %q", got)
	}
	// The TUI redacts every snapshot, also rows carried from the last one:
	// redacting twice changes nothing.
	for _, c := range cases {
		if once := r.Query(c.in); r.Query(once) != once {
			t.Errorf("redacting %q twice: %q then %q", c.in, once, r.Query(once))
		}
	}
	if r.Query("<insufficient privilege>") != "<insufficient privilege>" {
		t.Error("the privilege placeholder is not a query")
	}
}

func BenchmarkRedactCached(b *testing.B) {
	r := New()
	q := `UPDATE accounts SET balance = balance - 100.50 WHERE id = 7`
	r.Query(q)
	b.ReportAllocs()
	for b.Loop() {
		r.Query(q)
	}
}

// A plan's conditions quote the statement's literals: --redact takes them
// out there too, and from a refusal quoting the server's error.
func TestRedactPlan(t *testing.T) {
	p := &inspect.Plan{Query: "SELECT * FROM users WHERE email = 'alice@example.com'",
		Root: &inspect.PlanNode{NodeType: "Limit", Children: []*inspect.PlanNode{{NodeType: "Seq Scan",
			Condition: "((users.email)::text = 'alice@example.com'::text)"}}},
		Text: []string{"Filter: (id = 4242)"}, Refusal: `EXPLAIN failed: invalid input syntax for type integer: "x"; value 'secret'`}
	New().Plan(p)
	all := p.Query + p.Root.Children[0].Condition + p.Text[0] + p.Refusal
	for _, leak := range []string{"alice", "4242", "secret"} {
		if strings.Contains(all, leak) {
			t.Errorf("%q survived redaction: %q", leak, all)
		}
	}
	if !strings.Contains(p.Root.Children[0].Condition, "users.email") {
		t.Errorf("the condition lost its column: %q", p.Root.Children[0].Condition)
	}
}
