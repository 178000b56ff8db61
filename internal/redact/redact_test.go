package redact

import (
	"strings"
	"testing"
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

func TestRedactorUsesTheParserAndFallsBack(t *testing.T) {
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
		t.Errorf("parser path: %q", got)
	}
	if got := r.Query(`SELECT broken FROM WHERE x = 'secret`); strings.Contains(got, "secret") {
		t.Errorf("fallback path kept the literal: %q", got)
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
