package inspect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/report"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// EXPLAIN of real sessions' statements: a running SELECT that scans a
// large table, an UPDATE planned and not run, and every refusal, each
// returning at once with the connection still usable.
func TestExplainLive(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	conn, _ := l.monitor(t, db, "")
	big := scenario.Table{Schema: "public", Name: "big"}
	must(t, st.CreateTable(ctx, big, 1_000_000))
	var version int
	must(t, conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version))

	explain := func(t *testing.T, pid int) *inspect.Plan {
		t.Helper()
		start := time.Now()
		p, err := inspect.ExplainBackend(ctx, conn, pid)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("explaining pid %d took %s", pid, took) // a hang, not a timing check
		}
		// The connection is usable and outside any transaction.
		var status string
		if err := conn.QueryRow(ctx, "SELECT 'ok'").Scan(&status); err != nil || conn.PgConn().TxStatus() != 'I' {
			t.Fatalf("the connection after explaining: %v, transaction status %c", err, conn.PgConn().TxStatus())
		}
		return p
	}
	session := func(t *testing.T, name string, sql ...string) *scenario.Session {
		t.Helper()
		s, err := st.Open(ctx, name)
		must(t, err)
		for _, q := range sql {
			must(t, s.Exec(ctx, q))
		}
		return s
	}
	refused := func(t *testing.T, p *inspect.Plan, want string) {
		t.Helper()
		if p.Refusal == "" || !strings.Contains(p.Refusal, want) || p.Root != nil {
			t.Errorf("refusal %q, want one saying %q (plan %+v)", p.Refusal, want, p.Root)
		}
		lines := report.PlanLines(p)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "No plan for pid") {
			t.Errorf("the refusal in words: %q", lines)
		}
	}

	t.Run("a running SELECT scanning a large table", func(t *testing.T) {
		s := session(t, "report")
		s.Go(`SELECT pg_sleep(60) FROM public.big WHERE v = 7 LIMIT 1`)
		must(t, st.AwaitState(ctx, "active", s.PID))
		p := explain(t, s.PID)
		if p.Refusal != "" || p.Root == nil {
			t.Fatalf("no plan: %q", p.Refusal)
		}
		var scan *inspect.PlanNode
		var walk func(n *inspect.PlanNode)
		walk = func(n *inspect.PlanNode) {
			if n.NodeType == "Seq Scan" {
				scan = n
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(p.Root)
		if scan == nil || scan.Relation != "public.big" || !scan.LargeSeqScan || scan.TableBytes < 10<<20 ||
			!strings.Contains(scan.Condition, "v = 7") || p.Root.NodeType != "Limit" {
			t.Fatalf("the plan: root %+v, scan %+v", p.Root, scan)
		}
		text := strings.Join(report.PlanLines(p), "\n")
		for _, want := range []string{"Plan of pid", "Limit", "└─ Seq Scan on public.big", "SEQUENTIAL SCAN OF A LARGE TABLE", "(big.v = 7)",
			"was not run", "Note: planned now"} {
			if !strings.Contains(text, want) {
				t.Errorf("the plan's text lacks %q:\n%s", want, text)
			}
		}
		must(t, st.Exec(ctx, "SELECT pg_cancel_backend($1)", s.PID))
		<-s.Done()
	})

	t.Run("an UPDATE is planned, never run", func(t *testing.T) {
		s := session(t, "writer", `UPDATE public.big SET v = 4242 WHERE id BETWEEN 10 AND 20`)
		// Its last statement: idle now, the text stays.
		must(t, st.Exec(ctx, "UPDATE public.big SET v = 0 WHERE id BETWEEN 10 AND 20"))
		p := explain(t, s.PID)
		if p.Refusal != "" || p.Root == nil || p.Root.NodeType != "ModifyTable" || p.Root.Operation != "Update" {
			t.Fatalf("the UPDATE's plan: %q %+v", p.Refusal, p.Root)
		}
		var n int
		must(t, conn.QueryRow(ctx, "SELECT count(*) FROM public.big WHERE v = 4242").Scan(&n))
		if n != 0 {
			t.Errorf("explaining the UPDATE changed %d rows", n)
		}
	})

	t.Run("DELETE, MERGE and FOR UPDATE are planned too", func(t *testing.T) {
		s := session(t, "writers")
		for sql, want := range map[string]string{
			"DELETE FROM public.big WHERE id > 999990":                                                 "Delete",
			"SELECT * FROM public.big WHERE id = 1 FOR UPDATE":                                         "LockRows",
			"MERGE INTO public.big b USING (VALUES (1)) v(id) ON b.id = v.id WHEN MATCHED THEN DELETE": "Merge",
		} {
			if strings.HasPrefix(sql, "MERGE") && version < 150000 {
				continue
			}
			must(t, s.Exec(ctx, "BEGIN"))
			must(t, s.Exec(ctx, sql))
			p := explain(t, s.PID)
			if p.Refusal != "" || p.Root == nil || p.Root.Operation != want && p.Root.NodeType != want {
				t.Errorf("%s: refusal %q, root %+v", sql, p.Refusal, p.Root)
			}
			must(t, s.Exec(ctx, "ROLLBACK"))
		}
		var n int
		must(t, conn.QueryRow(ctx, "SELECT count(*) FROM public.big").Scan(&n))
		if n != 1_000_000 {
			t.Errorf("the table holds %d rows after explaining a DELETE and a MERGE", n)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		ddl := session(t, "migrate", `CREATE TABLE public.t2 (x int)`)
		refused(t, explain(t, ddl.PID), "it is not a query (it begins with CREATE)")

		two := session(t, "two", `SELECT 1; SELECT pg_sleep(0)`)
		refused(t, explain(t, two.PID), "more than one statement")

		tricky := session(t, "tricky", `SELECT ';' AS "a;b", $$;$$ /* ; */ -- ;
`)
		if p := explain(t, tricky.PID); p.Refusal != "" {
			t.Errorf("semicolons in strings and comments are not statements: %q", p.Refusal)
		}

		params := session(t, "params")
		must(t, params.Exec(ctx, `SELECT id FROM public.big WHERE id = $1`, 5))
		p := explain(t, params.PID)
		if version < 160000 {
			refused(t, p, "$n parameters")
		} else if p.Refusal != "" || p.Root == nil || !strings.Contains(p.Source, "GENERIC_PLAN") {
			t.Errorf("a generic plan on %d: %q %+v", version, p.Refusal, p.Root)
		}

		refused(t, explain(t, 999_999), "is not running")

		// A role that sees the query but may not read the table.
		must(t, st.Exec(ctx, "CREATE ROLE watcher LOGIN; GRANT pg_read_all_stats TO watcher"))
		watcher, _ := l.monitor(t, db, "watcher")
		reader := session(t, "reader", "SELECT * FROM public.big WHERE id = 3")
		denied, err := inspect.ExplainBackend(ctx, watcher, reader.PID)
		must(t, err)
		refused(t, denied, "pgmedic's role may not read what it uses")

		long := session(t, "long", "SELECT 1 /* "+strings.Repeat("x", 2000)+" */")
		refused(t, explain(t, long.PID), "where the server cuts it")

		// Cut inside a multibyte character, it ends short of the limit.
		longUTF := session(t, "long-utf8", "SELECT 1 /* "+strings.Repeat("é", 1000)+" */")
		refused(t, explain(t, longUTF.PID), "where the server cuts it")

		var checkpointer int
		must(t, conn.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'").Scan(&checkpointer))
		refused(t, explain(t, checkpointer), "not a client session (checkpointer)")

		elsewhere, _ := l.monitor(t, "postgres", "")
		must(t, elsewhere.QueryRow(ctx, "SELECT 1").Scan(new(int)))
		refused(t, explain(t, int(elsewhere.PgConn().PID())), "runs in database postgres")
	})

	t.Run("behind an ACCESS EXCLUSIVE lock, at once", func(t *testing.T) {
		reader := session(t, "reader", `SELECT count(*) FROM public.big WHERE id < 10`)
		holder := session(t, "holder", `BEGIN`, `LOCK TABLE public.big IN ACCESS EXCLUSIVE MODE`)
		start := time.Now()
		p := explain(t, reader.PID)
		refused(t, p, "locked")
		if !strings.Contains(p.Refusal, "by pid") || !strings.Contains(p.Refusal, "big") {
			t.Errorf("the refusal does not name the lock: %q", p.Refusal)
		}
		t.Logf("refused in %s", time.Since(start))
		must(t, holder.Exec(ctx, "COMMIT"))
	})

	t.Run("names with escapes are drawn safely", func(t *testing.T) {
		must(t, st.Exec(ctx, "CREATE TABLE public.\"evil\x1b[31mred\" (id int)"))
		s := session(t, "evil", "SELECT * FROM public.\"evil\x1b[31mred\" WHERE id = 1")
		p := explain(t, s.PID)
		text := strings.Join(report.PlanLines(p), "\n")
		if p.Refusal != "" || strings.ContainsRune(text, 0x1b) || !strings.Contains(text, "evil") {
			t.Errorf("the plan of a table with an escape in its name: %q %q", p.Refusal, text)
		}
	})
}
