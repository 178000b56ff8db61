package tui

import (
	"strings"
	"testing"
)

// gist reads the command and its table from the first words, quoted
// names whole, and nothing from text it does not know.
func TestGist(t *testing.T) {
	for q, want := range map[string]string{
		"UPDATE users SET last_seen = now() WHERE id = 42":                        "UPDATE users",
		"update only public.users set x=1":                                        "UPDATE users",
		`UPDATE "public"."users" SET v = v + 1 WHERE id = 1`:                      "UPDATE users",
		`BEGIN; UPDATE "public"."users" SET v = 1`:                                "UPDATE users",
		"begin isolation level serializable; set lock_timeout = 0; delete from t": "DELETE t",
		"BEGIN;":                              "BEGIN",
		`SELECT 1 FROM "Audit"."Log Entries"`: `SELECT "Audit"."Log Entries"`,
		"INSERT INTO orders(id, total) VALUES (1, 2)": "INSERT orders",
		"DELETE FROM \"Order Items\" WHERE id = 1":    "DELETE \"Order Items\"",
		"SELECT id, email FROM users WHERE id = $1":   "SELECT users",
		"  (SELECT 1)": "SELECT",
		"ALTER TABLE users ADD COLUMN nickname text":                         "ALTER TABLE users",
		"alter table if exists only users add column x int":                  "ALTER TABLE users",
		"CREATE INDEX CONCURRENTLY events_created_idx ON events (created)":   "CREATE INDEX ON events",
		"CREATE UNIQUE INDEX accounts_email_uq ON public.accounts (email)":   "CREATE INDEX ON accounts",
		"REINDEX INDEX CONCURRENTLY orders_total_idx":                        "REINDEX INDEX orders_total_idx",
		"LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE":                       "LOCK accounts",
		"TRUNCATE TABLE ONLY audit":                                          "TRUNCATE audit",
		"VACUUM (VERBOSE) big":                                               "VACUUM big",
		"COMMIT":                                                             "COMMIT",
		"<insufficient privilege>":                                           "",
		"":                                                                   "",
		"WITH x AS (SELECT 1) SELECT * FROM t":                               "WITH … FROM t",
		"DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"accounts_email_uq\"": "DROP INDEX accounts_email_uq",
	} {
		if got := gist(q); got != want {
			t.Errorf("gist(%q) = %q, want %q", q, got, want)
		}
	}
}

// A statement wraps between words, never inside a quoted literal or name.
func TestWrapSQL(t *testing.T) {
	sql := `SELECT pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid = 4101 AND ` +
		`backend_start = '2026-11-23 01:14:00.000000+00' AND pid <> pg_backend_pid() AND "odd name" = 'x y z';`
	for w := 20; w <= 120; w++ {
		lines := wrapSQL(sql, w)
		if got := strings.Join(lines, " "); got != sql {
			t.Fatalf("width %d: the words changed: %q", w, got)
		}
		for _, l := range lines {
			if strings.Count(l, "'")%2 != 0 || strings.Count(l, `"`)%2 != 0 {
				t.Errorf("width %d: a quote is cut: %q", w, l)
			}
			if ansiWidth(l) > w && len(sqlWords(l, -1)) > 1 {
				t.Errorf("width %d: %q is wider and could have broken", w, l)
			}
		}
	}
}
