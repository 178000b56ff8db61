package inspect

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// syntheticActivitySQL returns n rows shaped exactly like the activity
// statement's (backendRows around a generated source), 1 in 5 of them
// waiting on a lock: the decoding benchmark needs thousands of backends,
// more than a test machine can hold open. $1 marks every row but 1 in 50
// as unchanged since the last snapshot; those come without their lock, as
// known waits do, and the unchanged ones that are not waiting are quiet:
// left out and carried, as idle sessions are.
func syntheticActivitySQL(n int) string {
	from := fmt.Sprintf(`(SELECT g AS pid, $1::bool AND g %% 50 <> 0 AS same, $1::bool AND g %% 50 <> 0 AND g %% 5 <> 0 AS quiet,
             0 AS leader_pid, 'client backend' AS backend_type, 'shop' AS datname, 'api' AS usename,
             16384::oid AS usesysid, 'api-' || (g %% 20) AS application_name, ('10.0.' || (g %% 250) || '.7')::inet AS client_addr,
             CASE WHEN g %% 5 = 0 THEN 'active' WHEN g %% 7 = 0 THEN 'idle in transaction' ELSE 'idle' END AS state,
             now() - interval '3 hours' AS backend_start,
             CASE WHEN g %% 5 = 0 THEN now() - interval '40 seconds' END AS xact_start,
             now() - (g %% 60) * interval '1 second' AS query_start, now() - (g %% 60) * interval '1 second' AS state_change,
             'SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1 /* ' || g || ' */' AS query,
             CASE WHEN g %% 5 = 0 THEN 'Lock' ELSE 'Client' END AS wait_event_type,
             CASE WHEN g %% 5 = 0 THEN 'relation' ELSE 'ClientRead' END AS wait_event,
             CASE WHEN g %% 5 = 0 THEN ARRAY[1, g - 1] END AS b,
             CASE WHEN g %% 5 = 0 THEN jsonb_build_array('relation', 'AccessShareLock', 'orders',
                                                         now() - interval '40 seconds', 'relation/16384/16390/////') END AS lock
      FROM generate_series(1, %d) g) a`, n)
	waits := `a.wait_event_type AS wtype, a.wait_event AS wevent, a.b AS blockers, coalesce(cardinality(a.b), 0) AS nblock,
         CASE WHEN NOT a.same THEN a.lock END AS lock, NULL::text AS gid`
	return backendRows(waits, from)
}

// BenchmarkDecodeActivity measures reading 5,000 backends from the
// server into a Snapshot: "first" decodes every row, "steady" is a
// refresh where 1 in 50 rows changed and the rest are carried over (the
// quiet ones without being sent), and
// "wire" reads the same rows without decoding them (the server's and the
// network's share of the others).
func BenchmarkDecodeActivity(b *testing.B) {
	const n = 5000
	ctx, conn := serverConn(b)
	sql := syntheticActivitySQL(n)
	decode := func(b *testing.B, coll *Collector, same bool) *Snapshot {
		s := &Snapshot{}
		batch := &pgx.Batch{}
		batch.Queue(sql, same)
		br := conn.SendBatch(ctx, batch)
		if err := coll.scanBackends(br, s, nil); err != nil {
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
			rows, err := conn.Query(ctx, sql, true)
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
