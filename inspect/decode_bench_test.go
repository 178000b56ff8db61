package inspect

import (
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// syntheticActivitySQL returns n rows shaped exactly like the activity
// statement's (backendRows around a generated source), 1 in 5 of them
// running: the decoding benchmark needs thousands of backends,
// more than a test machine can hold open. $1 marks every row but 1 in 50
// as unchanged since the last snapshot, and those of them that are idle
// are still: left out and carried. $2 is how many rows the
// client holds as still: when the server leaves out as many, it does not
// list them.
func syntheticActivitySQL(n int) string {
	from := fmt.Sprintf(`(SELECT g AS pid, $1::bool AND g %% 50 <> 0 AS same, $1::bool AND g %% 50 <> 0 AND g %% 5 <> 0 AS quiet,
             0 AS leader_pid, 'client backend' AS backend_type, 'shop' AS datname, 'api' AS usename,
             16384::oid AS usesysid, 'api-' || (g %% 20) AS application_name, ('10.0.' || (g %% 250) || '.7')::inet AS client_addr,
             CASE WHEN g %% 5 = 0 THEN 'active' WHEN g %% 7 = 0 THEN 'idle in transaction' ELSE 'idle' END AS state,
             now() - interval '3 hours' AS backend_start,
             CASE WHEN g %% 5 = 0 THEN now() - interval '40 seconds' END AS xact_start,
             now() - (g %% 60) * interval '1 second' AS query_start, now() - (g %% 60) * interval '1 second' AS state_change,
             'SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1 /* ' || g || ' */' AS query,
             CASE WHEN g %% 5 = 0 THEN 'IO' ELSE 'Client' END AS wait_event_type,
             CASE WHEN g %% 5 = 0 THEN 'DataFileRead' ELSE 'ClientRead' END AS wait_event
      FROM generate_series(1, %d) g) a`, n)
	waits := `coalesce(a.wait_event_type, '') AS wtype, coalesce(a.wait_event, '') AS wevent`
	return backendRows(waits, from, "$2::int")
}

// BenchmarkDecodeActivity measures reading 5,000 backends from the
// server into a Snapshot: "first" decodes every row, "steady" is a
// refresh where 1 in 50 rows changed and the rest are carried over (the
// quiet ones without being sent; the next refresh's parameters made), and
// "wire" reads the same rows without decoding them (the server's and the
// network's share of the others).
func BenchmarkDecodeActivity(b *testing.B) {
	const n = 5000
	ctx, conn := serverConn(b)
	sql := syntheticActivitySQL(n)
	decode := func(b *testing.B, coll *Collector, same bool) *Snapshot {
		s := &Snapshot{}
		held := 0 // quiet rows the client holds, from the parameters it would send
		if coll.prev != nil {
			coll.activityArgs()
			held = len(coll.quiet)
		}
		batch := &pgx.Batch{}
		batch.Queue(sql, same, held)
		br := conn.SendBatch(ctx, batch)
		if err := coll.scanBackends(br, s, nil, int(conn.PgConn().PID())); err != nil {
			b.Fatal(err)
		}
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
		if len(s.Backends) != n {
			b.Fatalf("decoded %d backends, want %d", len(s.Backends), n)
		}
		return s
	}
	b.Run("first", func(b *testing.B) {
		coll := &Collector{conn: conn}
		b.ReportAllocs()
		for b.Loop() {
			decode(b, coll, false)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/backend")
	})
	b.Run("steady", func(b *testing.B) {
		coll := &Collector{conn: conn}
		coll.prev = decode(b, coll, false)
		b.ReportAllocs()
		for b.Loop() {
			coll.prev = decode(b, coll, true)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/backend")
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := conn.Query(ctx, sql, true, n-n/5) // as steady: all the still rows held
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
		}
	})
}

// The row with pid 0 lists the quiet pids only when the server left out
// fewer than the client holds; when it left out as many, the client's own
// list stands, and decoding carries exactly those rows.
func TestQuietPIDsListedOnlyWhenSomeLeft(t *testing.T) {
	const n = 100
	ctx, conn := serverConn(t)
	sql := syntheticActivitySQL(n)
	quietN := n - n/5 // rows with g % 5 <> 0
	carrier := func(held int) (rows int, pids []int32) {
		t.Helper()
		r, err := conn.Query(ctx, sql, true, held)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			rows++
			if rows == 1 { // the pid 0 row; its last column lists the pids
				dest := make([]any, len(r.FieldDescriptions()))
				dest[len(dest)-1] = &pids
				if err := r.Scan(dest...); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		return rows, pids
	}
	if rows, pids := carrier(quietN); pids != nil || rows != n-quietN+1 {
		t.Errorf("all %d held rows left out: %d rows, pids %v; want %d rows and no list", quietN, rows, pids, n-quietN+1)
	}
	if rows, pids := carrier(quietN + 1); len(pids) != quietN || rows != n-quietN+1 {
		t.Errorf("one held row gone: %d rows, %d pids; want %d rows and the %d left out", rows, len(pids), n-quietN+1, quietN)
	}

	// Decoding: the client's own list is carried whole.
	coll := &Collector{conn: conn}
	first := &Snapshot{}
	batch := &pgx.Batch{}
	batch.Queue(sql, false, 0)
	br := conn.SendBatch(ctx, batch)
	if err := coll.scanBackends(br, first, nil, int(conn.PgConn().PID())); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	coll.prev = first
	coll.activityArgs()
	if len(coll.quiet) != quietN {
		t.Fatalf("the client holds %d rows as quiet, want %d", len(coll.quiet), quietN)
	}
	steady := &Snapshot{}
	batch = &pgx.Batch{}
	batch.Queue(sql, true, len(coll.quiet))
	br = conn.SendBatch(ctx, batch)
	if err := coll.scanBackends(br, steady, nil, int(conn.PgConn().PID())); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(first.Backends, steady.Backends, func(a, b Backend) bool { return a.PID == b.PID }) {
		t.Errorf("steady snapshot has %d backends, want the %d of the first, in order", len(steady.Backends), len(first.Backends))
	}
}
