package inspect

import (
	"context"
	"strings"
	"testing"
)

// The scanner counts statements as the server's lexer would: a ; inside a
// string, a quoted name, a comment or a dollar quote ends nothing.
func TestScanStatement(t *testing.T) {
	for q, want := range map[string]statementShape{
		"SELECT 1": {1, "SELECT", false},
		"  -- why\n /* a /* nested */ comment */ select 1;": {1, "SELECT", false},
		"SELECT 1; SELECT 2":                             {2, "SELECT", false},
		"SELECT 1;;  ; ":                                 {1, "SELECT", false},
		"SELECT ';' AS \"a;b\"":                          {1, "SELECT", false},
		"SELECT 'it''s; fine'":                           {1, "SELECT", false},
		"SELECT E'a\\'; DROP TABLE x; --'":               {1, "SELECT", false},
		"SELECT 'a\\'; DROP TABLE x; --'":                {2, "SELECT", false}, // standard strings: \ is not an escape
		"SELECT $$;$$, $tag$ ; $$ ; $tag$":               {1, "SELECT", false},
		"SELECT $1, $2":                                  {1, "SELECT", true},
		"SELECT '$1'":                                    {1, "SELECT", false},
		"SELECT a$1 FROM t":                              {1, "SELECT", false}, // an identifier may hold $
		"WITH x AS (DELETE FROM t RETURNING *) SELECT 1": {1, "WITH", false},
		"CREATE TABLE t (x int)":                         {1, "CREATE", false},
		"/* only a comment */":                           {0, "", false},
		"(SELECT 1)":                                     {1, "", false},
		"SELECT 1 /* unterminated ; ":                    {1, "SELECT", false},
	} {
		if got := scanStatement(q); got != want {
			t.Errorf("%q: %+v, want %+v", q, got, want)
		}
	}
}

// Should the scanner ever be fooled, the server's parser still refuses a
// second statement before anything runs: explain parses through the
// extended protocol first.
func TestExplainParseGuard(t *testing.T) {
	ctx, conn := serverConn(t)
	p := &Plan{PID: 1, Query: "SELECT 1; CREATE TABLE pwned (x int)"}
	if err := explain(ctx, conn, p, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Refusal, "cannot parse it as one statement") || p.Root != nil {
		t.Errorf("two statements got through the guard: refusal %q", p.Refusal)
	}
	var exists bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass('pwned') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Errorf("the second statement ran: %v %v", exists, err)
	}
}
