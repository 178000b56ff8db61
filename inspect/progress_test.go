package inspect

import (
	"strings"
	"testing"
	"time"
)

// Rows as to_jsonb writes them, from several versions: 17 renamed
// vacuum's dead-tuple counters and added index counts; oids are strings.
func TestParseProgress(t *testing.T) {
	raw := `[
	 ["vacuum", {"pid": 11, "datid": "5", "datname": "shop", "relid": "16400", "phase": "scanning heap",
	   "heap_blks_total": 1000, "heap_blks_scanned": 250, "heap_blks_vacuumed": 0, "index_vacuum_count": 2,
	   "max_dead_tuples": 100, "num_dead_tuples": 7}, "users"],
	 ["vacuum", {"pid": 12, "datname": "shop", "relid": "16401", "phase": "vacuuming indexes",
	   "heap_blks_total": 10, "index_vacuum_count": 1, "indexes_total": 4, "indexes_processed": 1,
	   "dead_tuple_bytes": 0, "max_dead_tuple_bytes": 65536, "num_dead_item_ids": 0}, null],
	 ["cluster", {"pid": 13, "datname": "shop", "relid": "16402", "command": "VACUUM FULL", "phase": "writing new heap",
	   "heap_tuples_scanned": 400, "heap_tuples_written": 100, "heap_blks_total": 9, "heap_blks_scanned": 9}, "public.\"Big Table\""],
	 ["analyze", {"pid": 14, "datname": "shop", "relid": "16403", "phase": "acquiring inherited sample rows",
	   "sample_blks_total": 0, "child_tables_total": 8, "child_tables_done": 2}, "events"],
	 ["copy", {"pid": 15, "datname": "shop", "relid": "16404", "command": "COPY FROM", "type": "FILE",
	   "bytes_processed": 512, "bytes_total": 2048, "tuples_processed": 30, "tuples_excluded": 3}, "staging"],
	 ["copy", {"pid": 16, "datname": "shop", "relid": "0", "command": "COPY TO", "type": "PIPE",
	   "bytes_processed": 99, "bytes_total": 0, "tuples_processed": 12}, null],
	 ["basebackup", {"pid": 17, "phase": "streaming database files", "backup_total": 4000, "backup_streamed": 1000,
	   "tablespaces_total": 2, "tablespaces_streamed": 0}, null],
	 ["something new", {"pid": 18}, null]
	]`
	ops, err := parseProgress([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 7 {
		t.Fatalf("%d operations: %+v", len(ops), ops)
	}
	pct := func(op Operation) float64 {
		if op.Percent == nil {
			return -1
		}
		return *op.Percent
	}
	for i, want := range []struct {
		kind, table, unit string
		done, total       int64
		percent           float64
		detail            string
	}{
		{"VACUUM", "users", "blocks", 250, 1000, 25, "2 index passes so far"},
		{"VACUUM", "oid 16401", "indexes", 1, 4, 25, "1 index pass so far"},
		{"VACUUM FULL", `public."Big Table"`, "tuples", 100, 400, 25, "400 tuples read"},
		{"ANALYZE", "events", "child tables", 2, 8, 25, ""},
		{"COPY FROM", "staging", "bytes", 512, 2048, 25, "30 rows, from file, 3 rows left out by WHERE"},
		{"COPY TO", "", "bytes", 99, 0, -1, "12 rows, to pipe"},
		{"BASE BACKUP", "", "bytes", 1000, 4000, 25, "tablespace 1 of 2"},
	} {
		op := ops[i]
		if op.Kind != want.kind || op.Table != want.table || op.Unit != want.unit || op.Done != want.done ||
			op.Total != want.total || pct(op) != want.percent || op.Detail != want.detail {
			t.Errorf("operation %d: %s %q %s %d/%d %.0f%% %q, want %+v", i, op.Kind, op.Table, op.Unit, op.Done, op.Total,
				pct(op), op.Detail, want)
		}
	}
	if ops, err := parseProgress(nil); err != nil || ops != nil {
		t.Errorf("no operations: %v %v", ops, err)
	}
	if _, err := parseProgress([]byte(`[["vacuum", {"pid": "x"}, null]]`)); err == nil || !strings.Contains(err.Error(), "progress views") {
		t.Errorf("a bad row: %v", err)
	}
}

// Phases place an operation in its command's sequence; autovacuum's is
// VACUUM's, VACUUM FULL's is CLUSTER's. Blocking comes from the forest.
func TestFillOperations(t *testing.T) {
	now := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	start := now.Add(-time.Minute)
	s := &Snapshot{ServerTime: now,
		Backends: []Backend{
			{PID: 21, BackendType: "autovacuum worker", XactStart: &start},
			{PID: 22, BackendType: "client backend", QueryStart: &start, State: "active"},
			{PID: 23, BackendType: "client backend", State: "active", WaitEventType: "Lock", WaitEvent: "relation",
				BlockedBy: []int{22}, BlockersTotal: 1, Waiting: &LockWait{LockType: "relation", Mode: "AccessShareLock", Since: &start}},
		},
		Operations: []Operation{
			{PID: 21, Kind: "VACUUM", Phase: "vacuuming heap"},
			{PID: 22, Kind: "VACUUM FULL", Phase: "rebuilding index"},
			{PID: 24, Kind: "COPY FROM"},
		}}
	s.LockForest = BuildForest(s.Backends, now)
	fillOperations(s)
	av, full, cp := s.Operations[0], s.Operations[1], s.Operations[2]
	if av.Kind != "autovacuum" || av.Step != 4 || av.Steps != 7 || av.Started == nil || !av.Started.Equal(start) {
		t.Errorf("autovacuum: %+v", av)
	}
	if full.Step != 7 || full.Steps != 8 || full.Blocking != 1 || full.Started == nil {
		t.Errorf("VACUUM FULL: %+v", full)
	}
	if cp.Step != 0 || cp.Steps != 0 || cp.Started != nil || cp.Blocking != 0 {
		t.Errorf("COPY without a session row: %+v", cp)
	}
}

// The rate is the recent one: a slowdown shows within RateWindow, not
// averaged into the start; a new phase starts its own rate; a stall
// leaves no ETA; operations that ended are forgotten.
func TestRates(t *testing.T) {
	r := newRates()
	estimate := func(ops []Operation, at time.Time) { r.estimate(ops, at); r.sweep() }
	t0 := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	op := func(phase string, done int64) []Operation {
		return []Operation{{PID: 7, Kind: "VACUUM", Phase: phase, Unit: "blocks", Done: done, Total: 100_000}}
	}
	var last []Operation
	done := int64(0)
	for sec := 0; sec <= 120; sec++ {
		if sec <= 60 {
			done += 1000 // 1,000 blocks a second for a minute
		} else {
			done += 100 // then ten times slower
		}
		last = op("scanning heap", done)
		estimate(last, t0.Add(time.Duration(sec)*time.Second))
		if sec == 0 && (last[0].PerSecond != nil || last[0].ETASeconds != nil) {
			t.Fatalf("a rate from one refresh: %+v", last[0])
		}
		if sec == 60 && (*last[0].PerSecond != 1000 || *last[0].ETASeconds != float64(100_000-61_000)/1000) {
			t.Fatalf("steady: %v/s, ETA %v", *last[0].PerSecond, *last[0].ETASeconds)
		}
	}
	// 30 s after the slowdown the window holds only the slow pace.
	if got := *last[0].PerSecond; got != 100 {
		t.Errorf("a minute after slowing down the rate reads %v/s, want 100", got)
	}
	// A new phase: no rate until it moves twice.
	next := op("vacuuming heap", 10)
	estimate(next, t0.Add(121*time.Second))
	if next[0].PerSecond != nil {
		t.Errorf("a new phase inherits a rate: %v", *next[0].PerSecond)
	}
	stalled := op("vacuuming heap", 10)
	estimate(stalled, t0.Add(125*time.Second))
	if stalled[0].PerSecond == nil || *stalled[0].PerSecond != 0 || stalled[0].ETASeconds != nil {
		t.Errorf("a stall: rate %v ETA %v", stalled[0].PerSecond, stalled[0].ETASeconds)
	}
	if len(r.points) != 1 {
		t.Errorf("%d keys kept: the old phase should be gone", len(r.points))
	}
	// A counter that went back (a scan's new pass) starts afresh.
	back := op("vacuuming heap", 5)
	estimate(back, t0.Add(126*time.Second))
	if back[0].PerSecond != nil {
		t.Errorf("a rate across a counter that went back: %v", *back[0].PerSecond)
	}
	estimate(nil, t0.Add(130*time.Second))
	if len(r.points) != 0 {
		t.Errorf("an ended operation is remembered: %v", r.points)
	}
}

// Statements that rewrite or scan a table without a progress view are
// recognised from their text, whatever the case, spacing and comments;
// the cheap ones are not.
func TestRewriteAction(t *testing.T) {
	for q, want := range map[string]string{
		"ALTER TABLE users ALTER COLUMN id TYPE bigint":                                     "changes a column's type",
		"alter table public.\"Users\"\n  alter   id set data type bigint; ":                 "changes a column's type",
		"/* migrate 42 */ ALTER TABLE users ALTER id TYPE bigint USING id::bigint":          "changes a column's type",
		"ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid()":                 "adds a column with a volatile default",
		"ALTER TABLE users ADD seen timestamptz NOT NULL DEFAULT clock_timestamp()":         "adds a column with a volatile default",
		"ALTER TABLE users ADD COLUMN n bigserial":                                          "adds a serial column",
		"ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS IDENTITY":                   "adds an identity column",
		"ALTER TABLE users ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED":         "adds a stored generated column",
		"ALTER TABLE users SET LOGGED":                                                      "changes whether the table is logged",
		"ALTER TABLE users SET UNLOGGED":                                                    "changes whether the table is logged",
		"ALTER TABLE users SET TABLESPACE fast":                                             "moves the table's files",
		"REFRESH MATERIALIZED VIEW daily_totals":                                            "refreshes a materialized view",
		"ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (u) REFERENCES users": "adds a constraint and checks every row",
		"ALTER TABLE orders ALTER COLUMN u SET NOT NULL":                                    "sets NOT NULL",
		// Not rewrites: metadata only, or with their own progress view.
		"ALTER TABLE users ADD COLUMN note text":                                          "",
		"ALTER TABLE users ADD COLUMN n int DEFAULT 0":                                    "",
		"ALTER TABLE users ADD COLUMN at timestamptz DEFAULT now()":                       "",
		"ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users NOT VALID": "",
		"REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals":                             "",
		"CREATE INDEX CONCURRENTLY i ON users (email)":                                    "",
		"SELECT 'ALTER TABLE users ALTER COLUMN id TYPE bigint'":                          "",
		"VACUUM FULL users":                         "",
		"-- ALTER TABLE users SET LOGGED\nSELECT 1": "",
	} {
		action, _, ok := rewriteAction(q)
		if ok != (want != "") || !strings.HasPrefix(action, want) {
			t.Errorf("%q: %q %v, want %q", q, action, ok, want)
		}
	}
	if _, rewrites, _ := rewriteAction("ALTER TABLE t SET TABLESPACE x"); rewrites {
		t.Error("SET TABLESPACE copies files, it does not rewrite")
	}
}
