package inspect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/report"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// lab is one throwaway cluster; each scenario gets a database of its own.
type lab struct {
	c  *pgcluster.Cluster
	db atomic.Int32
}

func newLab(t *testing.T, settings map[string]string) *lab {
	return &lab{c: pgtest.Start(t, pgcluster.Options{Settings: settings})}
}

// stage creates a fresh database and a Stage of sessions in it, closed
// when the test ends.
func (l *lab) stage(t *testing.T) (*scenario.Stage, string) {
	t.Helper()
	ctx := context.Background()
	db := fmt.Sprintf("scenario_%d", l.db.Add(1))
	if err := l.c.Exec(ctx, "postgres", "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	st, err := scenario.NewStage(ctx, func(app string) string {
		return l.c.ConnString(db, "") + " application_name='" + app + "'"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the scenario: %v", err)
		}
	})
	return st, db
}

// monitor opens pgmedic's own connection the way the binary does.
func (l *lab) monitor(t *testing.T, db, user string) (*pgx.Conn, *pgx.ConnConfig) {
	t.Helper()
	cfg, err := connect.Config(connect.Options{DBName: l.c.ConnString(db, user)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := connect.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, cfg
}

func (l *lab) snapshot(t *testing.T, db string) *inspect.Snapshot {
	t.Helper()
	conn, _ := l.monitor(t, db, "")
	c, err := inspect.NewCollector(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func node(t *testing.T, s *inspect.Snapshot, pid int) *inspect.LockNode {
	t.Helper()
	f := &s.LockForest
	for i := range f.Nodes {
		if f.Nodes[i].PID == pid && f.Nodes[i].Backend >= 0 {
			return &f.Nodes[i]
		}
	}
	t.Fatalf("pid %d is not in the lock forest", pid)
	return nil
}

func parentPID(s *inspect.Snapshot, n *inspect.LockNode) int {
	if n.Parent < 0 {
		return -1
	}
	return s.LockForest.Nodes[n.Parent].PID
}

func rootPIDs(s *inspect.Snapshot) []int {
	var out []int
	for _, r := range s.LockForest.Roots {
		out = append(out, s.LockForest.Nodes[r].PID)
	}
	return out
}

func index(t *testing.T, s *inspect.Snapshot, name string) *inspect.Index {
	t.Helper()
	for i := range s.Indexes {
		if s.Indexes[i].Name == name {
			return &s.Indexes[i]
		}
	}
	var names []string
	for _, ix := range s.Indexes {
		names = append(names, ix.Name)
	}
	t.Fatalf("index %q not listed; listed: %q", name, names)
	return nil
}

func pids(ss []*scenario.Session) []int {
	var out []int
	for _, s := range ss {
		out = append(out, s.PID)
	}
	return out
}

var orders = scenario.Table{Schema: "public", Name: "orders"}

func TestSnapshotScenarios(t *testing.T) {
	// A long deadlock_timeout keeps a deadlock on screen for the test.
	l := newLab(t, map[string]string{"max_connections": "60", "deadlock_timeout": "60s"})
	ctx := context.Background()

	t.Run("exclusive holder with readers and DDL queued", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 100))
		// An invalid index on the very table that gets locked: listing it
		// must not wait for the lock.
		must(t, st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
		p, err := st.ExclusiveHolder(ctx, orders, 2, 3)
		must(t, err)

		s := l.snapshot(t, db)
		if got := rootPIDs(s); !slices.Equal(got, []int{p.Root.PID}) {
			t.Fatalf("roots = %v, want only the holder %d", got, p.Root.PID)
		}
		root := node(t, s, p.Root.PID)
		if root.BlockedTotal != 6 {
			t.Errorf("root blocks %d sessions, want 6 (2 early readers, the DDL, 3 late readers)", root.BlockedTotal)
		}
		ddl := node(t, s, p.DDL.PID)
		if parentPID(s, ddl) != p.Root.PID || ddl.Queued {
			t.Errorf("DDL: parent %d queued=%v, want held by root %d", parentPID(s, ddl), ddl.Queued, p.Root.PID)
		}
		for _, r := range p.Early {
			if n := node(t, s, r.PID); parentPID(s, n) != p.Root.PID || n.Queued || len(n.OtherBlockers) != 0 {
				t.Errorf("early reader %d: parent %d queued=%v others=%v", r.PID, parentPID(s, n), n.Queued, n.OtherBlockers)
			}
		}
		for _, r := range p.Late {
			n := node(t, s, r.PID)
			if parentPID(s, n) != p.Root.PID || n.Queued {
				t.Errorf("late reader %d: parent %d queued=%v, want held by root", r.PID, parentPID(s, n), n.Queued)
			}
			if !slices.Contains(n.OtherBlockers, p.DDL.PID) {
				t.Errorf("late reader %d: other blockers %v lack the DDL %d", r.PID, n.OtherBlockers, p.DDL.PID)
			}
			if b := s.Backend(r.PID); !slices.Equal(b.QueuedBehind, []int{p.DDL.PID}) {
				t.Errorf("late reader %d queued behind %v, want only the DDL (the root holds the lock)", r.PID, b.QueuedBehind)
			}
			// pg_locks.waitstart is 14+: before it the wait has no start.
			if w := s.Backend(r.PID).Waiting; w == nil || w.Mode != "AccessShareLock" || w.Relation != "orders" ||
				(w.Since == nil) != (s.Server.VersionNum < 140000) {
				t.Errorf("late reader %d waits for %+v, want AccessShareLock on orders, with a start time on 14+", r.PID, w)
			}
		}
		ix := index(t, s, "orders_code_uq")
		if ix.Definition != "" || ix.SizeBytes != nil || !slices.Contains(ix.Unavailable, "definition") {
			t.Errorf("index on the locked table: definition %q size %v unavailable %v, want both unread", ix.Definition, ix.SizeBytes, ix.Unavailable)
		}
		if ix.Status != inspect.IndexFailedDuringBuild || !ix.Unique {
			t.Errorf("index status %s unique %v, want a failed unique build", ix.Status, ix.Unique)
		}
		if sat := s.Saturation; sat.WaitingOnLock != 6 || sat.IdleInTx < 1 {
			t.Errorf("saturation: %d waiting on locks, %d idle in tx; want 6 and the root", sat.WaitingOnLock, sat.IdleInTx)
		}
		// What the root holds, read on demand for the detail pane.
		conn, _ := l.monitor(t, db, "")
		held, err := inspect.ReadLocks(ctx, conn, p.Root.PID)
		must(t, err)
		if !slices.Contains(held, inspect.Lock{LockType: "relation", Mode: "AccessExclusiveLock", Granted: true, Object: "orders"}) {
			t.Errorf("root's locks = %+v, want AccessExclusiveLock on orders granted", held)
		}
		waits, err := inspect.ReadLocks(ctx, conn, p.DDL.PID)
		must(t, err)
		if len(waits) == 0 || waits[0].Granted || waits[0].Mode != "AccessExclusiveLock" {
			t.Errorf("the DDL's locks = %+v, want the awaited one first", waits)
		}
		if !strings.Contains(strings.Join(s.Warnings, "\n"), "locked ACCESS EXCLUSIVE") {
			t.Errorf("warnings %q do not say why the definition is missing", s.Warnings)
		}
	})

	t.Run("migration queued behind an idle transaction", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 100))
		p, err := st.MigrationBehindIdleTx(ctx, orders, 4)
		must(t, err)
		s := l.snapshot(t, db)
		if got := rootPIDs(s); !slices.Equal(got, []int{p.Root.PID}) {
			t.Fatalf("roots = %v, want the idle transaction %d", got, p.Root.PID)
		}
		if b := s.Backend(p.Root.PID); b.State != "idle in transaction" || b.XactStart == nil {
			t.Errorf("root state %q xact_start %v", b.State, b.XactStart)
		}
		// Rows are scanned into reused targets: each must keep its own
		// values (the sessions started one after another).
		rootStart, ddlStart, readerStart := s.Backend(p.Root.PID).QueryStart, s.Backend(p.DDL.PID).QueryStart, s.Backend(p.Late[0].PID).QueryStart
		if !rootStart.Before(*ddlStart) || !ddlStart.Before(*readerStart) {
			t.Errorf("query starts root %v, DDL %v, reader %v: want strictly increasing", rootStart, ddlStart, readerStart)
		}
		if n := node(t, s, p.Root.PID); n.BlockedTotal != 5 {
			t.Errorf("root blocks %d, want 5 (the DDL and 4 readers behind it)", n.BlockedTotal)
		}
		ddl := node(t, s, p.DDL.PID)
		if parentPID(s, ddl) != p.Root.PID || ddl.Queued || ddl.BlockedTotal != 4 {
			t.Errorf("DDL: parent %d queued=%v blocks %d", parentPID(s, ddl), ddl.Queued, ddl.BlockedTotal)
		}
		for _, r := range p.Late {
			if n := node(t, s, r.PID); parentPID(s, n) != p.DDL.PID || !n.Queued || n.Depth != 2 {
				t.Errorf("reader %d: parent %d queued=%v depth %d, want queued behind the DDL", r.PID, parentPID(s, n), n.Queued, n.Depth)
			}
		}
	})

	t.Run("row lock chain two deep", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 10))
		c, err := st.RowLockChain(ctx, orders, 3)
		must(t, err)
		s := l.snapshot(t, db)
		if got := rootPIDs(s); !slices.Equal(got, []int{c.Holder.PID}) {
			t.Fatalf("roots = %v, want %d", got, c.Holder.PID)
		}
		first := node(t, s, c.First.PID)
		if parentPID(s, first) != c.Holder.PID || s.Backend(c.First.PID).Waiting.LockType != "transactionid" {
			t.Errorf("first waiter: parent %d, lock %+v", parentPID(s, first), s.Backend(c.First.PID).Waiting)
		}
		for i, w := range c.Tail {
			n := node(t, s, w.PID)
			if parentPID(s, n) != c.First.PID || n.Depth != 2 || s.Backend(w.PID).Waiting.LockType != "tuple" {
				t.Errorf("tail %d: parent %d depth %d lock %+v, want the tuple lock of %d", i, parentPID(s, n), n.Depth, s.Backend(w.PID).Waiting, c.First.PID)
			}
			// Every later waiter is also queued behind the earlier ones.
			for _, ahead := range pids(c.Tail[:i]) {
				if !slices.Contains(n.OtherBlockers, ahead) {
					t.Errorf("tail %d: other blockers %v lack %d queued ahead", i, n.OtherBlockers, ahead)
				}
			}
		}
		if n := node(t, s, c.Holder.PID); n.BlockedTotal != 4 {
			t.Errorf("holder blocks %d, want 4", n.BlockedTotal)
		}
	})

	t.Run("deadlock not detected yet", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 10))
		a, b, err := st.Deadlock(ctx, orders)
		must(t, err)
		s := l.snapshot(t, db)
		low := min(a.PID, b.PID)
		if got := rootPIDs(s); !slices.Equal(got, []int{low}) {
			t.Fatalf("roots = %v, want the cycle cut at its lowest pid %d", got, low)
		}
		for _, pid := range []int{a.PID, b.PID} {
			if !node(t, s, pid).Cycle {
				t.Errorf("pid %d not marked as part of the cycle", pid)
			}
		}
		var out bytes.Buffer
		must(t, report.Text(&out, s, report.Options{}))
		if !strings.Contains(out.String(), "CYCLE pid "+fmt.Sprint(low)) || !strings.Contains(out.String(), "deadlock") {
			t.Errorf("report does not show the cycle:\n%s", out.String())
		}
	})

	t.Run("advisory lock holder idle outside a transaction", func(t *testing.T) {
		st, db := l.stage(t)
		holder, waiter, err := st.AdvisoryLock(ctx, 4242)
		must(t, err)
		s := l.snapshot(t, db)
		if got := rootPIDs(s); !slices.Equal(got, []int{holder.PID}) {
			t.Fatalf("roots = %v, want %d", got, holder.PID)
		}
		if b := s.Backend(holder.PID); b.State != "idle" {
			t.Errorf("holder state %q, want idle", b.State)
		}
		if w := s.Backend(waiter.PID).Waiting; w == nil || w.LockType != "advisory" {
			t.Errorf("waiter waits for %+v, want an advisory lock", w)
		}
	})

	t.Run("prepared transaction holding a lock", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 10))
		waiter, err := st.PreparedHolder(ctx, orders, "pay-batch-17")
		must(t, err)
		s := l.snapshot(t, db)
		if len(s.LockForest.Roots) != 1 {
			t.Fatalf("roots = %v, want the prepared transaction only", rootPIDs(s))
		}
		root := &s.LockForest.Nodes[s.LockForest.Roots[0]]
		if root.PID != 0 || root.PreparedGID != "pay-batch-17" || root.Backend != -1 {
			t.Errorf("root = pid %d gid %q backend %d, want the prepared transaction", root.PID, root.PreparedGID, root.Backend)
		}
		if n := node(t, s, waiter.PID); parentPID(s, n) != 0 {
			t.Errorf("waiter's parent is %d, want 0", parentPID(s, n))
		}
		if len(s.Prepared) != 1 || s.Prepared[0].GID != "pay-batch-17" || s.Prepared[0].Database != db {
			t.Errorf("prepared = %+v", s.Prepared)
		}
		var out bytes.Buffer
		must(t, report.Text(&out, s, report.Options{}))
		if !strings.Contains(out.String(), "PREPARED TRANSACTION 'pay-batch-17'") || !strings.Contains(out.String(), "ROLLBACK PREPARED") {
			t.Errorf("report does not explain the prepared holder:\n%s", out.String())
		}
	})

	t.Run("invalid indexes classified", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 200))
		must(t, st.FailedUniqueIndex(ctx, orders, "orders_code_uq"))
		must(t, st.ReindexLeftoverNew(ctx, orders, "orders_code_uq"))
		items := scenario.Table{Schema: "public", Name: "items"}
		must(t, st.CreateTable(ctx, items, 200))
		must(t, st.ReindexLeftoverOld(ctx, items, "items_v_idx"))
		must(t, st.Exec(ctx, `CREATE TABLE events (id int, k int) PARTITION BY RANGE (id);
			CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);
			CREATE INDEX events_k_idx ON ONLY events (k)`))

		s := l.snapshot(t, db)
		uq := index(t, s, "orders_code_uq")
		if uq.Status != inspect.IndexFailedDuringBuild || !uq.Unique || uq.Valid || uq.Table != "orders" || uq.Schema != "public" {
			t.Errorf("orders_code_uq = %+v", uq)
		}
		if !strings.HasPrefix(uq.Definition, "CREATE UNIQUE INDEX orders_code_uq ON public.orders") || uq.SizeBytes == nil || len(uq.Unavailable) != 0 {
			t.Errorf("orders_code_uq definition %q size %v unavailable %v", uq.Definition, uq.SizeBytes, uq.Unavailable)
		}
		if ix := index(t, s, "orders_code_uq_ccnew"); ix.Status != inspect.IndexReindexNew {
			t.Errorf("_ccnew status %s", ix.Status)
		}
		if ix := index(t, s, "items_v_idx_ccold"); ix.Status != inspect.IndexReindexOld || !ix.Ready {
			t.Errorf("_ccold status %s ready %v, want a ready leftover", ix.Status, ix.Ready)
		}
		if ix := index(t, s, "events_k_idx"); ix.Status != inspect.IndexPartitionedIncomplete || !ix.Partitioned {
			t.Errorf("events_k_idx status %s partitioned %v", ix.Status, ix.Partitioned)
		}
		if len(s.Indexes) != 4 {
			t.Errorf("%d invalid indexes listed, want 4", len(s.Indexes))
		}
	})

	t.Run("index build in progress", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 100))
		writer, builder, err := st.BuildWaitingForWriters(ctx, orders, "orders_v_idx")
		must(t, err)
		s := l.snapshot(t, db)
		if len(s.Builds) != 1 {
			t.Fatalf("builds = %+v, want one", s.Builds)
		}
		b := s.Builds[0]
		if b.PID != builder.PID || b.Command != "CREATE INDEX CONCURRENTLY" || b.Phase != "waiting for writers before build" ||
			b.Index != "orders_v_idx" || b.Table != "orders" || b.Database != db || b.Step != 2 || b.Steps != 8 {
			t.Errorf("build = %+v", b)
		}
		if b.CurrentLockerPID != writer.PID || b.LockersTotal < 1 {
			t.Errorf("build waits for locker %d of %d, want the writer %d", b.CurrentLockerPID, b.LockersTotal, writer.PID)
		}
		if ix := index(t, s, "orders_v_idx"); ix.Status != inspect.IndexBuilding || ix.BuildPID != builder.PID {
			t.Errorf("index being built: status %s build pid %d", ix.Status, ix.BuildPID)
		}
		if got := rootPIDs(s); !slices.Equal(got, []int{writer.PID}) {
			t.Errorf("roots = %v, want the writer %d that the build waits for", got, writer.PID)
		}
	})

	t.Run("build progress with percent and ETA", func(t *testing.T) {
		st, db := l.stage(t)
		slow := scenario.Table{Schema: "public", Name: "slow"}
		builder, err := st.SlowBuild(ctx, slow, "slow_key_idx", 1500, 4*time.Millisecond)
		must(t, err)
		conn, _ := l.monitor(t, db, "")
		c, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		// At the very start of the scan the block counter briefly reads
		// total/total before it restarts from 0 (seen on 15): sample once
		// the scan is under way.
		time.Sleep(300 * time.Millisecond)
		first, err := c.Snapshot(ctx)
		must(t, err)
		time.Sleep(time.Second)
		s, err := c.Snapshot(ctx)
		must(t, err)
		if len(first.Builds) != 1 || len(s.Builds) != 1 {
			t.Fatalf("builds: %d then %d, want 1", len(first.Builds), len(s.Builds))
		}
		b := s.Builds[0]
		if b.PID != builder.PID || b.Phase != "building index: scanning table" || b.Step != 3 {
			t.Fatalf("build = %+v", b)
		}
		if b.BlocksTotal == 0 || b.BlocksDone <= first.Builds[0].BlocksDone {
			t.Fatalf("blocks %d -> %d of %d: the scan did not advance", first.Builds[0].BlocksDone, b.BlocksDone, b.BlocksTotal)
		}
		want := float64(b.BlocksDone) * 100 / float64(b.BlocksTotal)
		if b.Percent == nil || *b.Percent != want {
			t.Errorf("percent = %v, want %.1f", b.Percent, want)
		}
		// 1,500 rows at 4 ms is 6 s of scanning; one second in, the rest
		// of the phase is a few seconds away.
		if b.ETASeconds == nil || *b.ETASeconds <= 0 || *b.ETASeconds > 30 {
			t.Errorf("eta = %v, want a few seconds", b.ETASeconds)
		}
	})

	t.Run("idle in transaction sessions", func(t *testing.T) {
		st, db := l.stage(t)
		_, err := st.IdleInTransaction(ctx, "forgotten-console", 3)
		must(t, err)
		s := l.snapshot(t, db)
		if s.Saturation.IdleInTx != 3 {
			t.Errorf("idle in transaction = %d, want 3", s.Saturation.IdleInTx)
		}
		if !slices.Contains(s.Saturation.ByApplication, inspect.Count{Key: "forgotten-console", N: 3}) {
			t.Errorf("by application = %v", s.Saturation.ByApplication)
		}
		if len(s.LockForest.Roots) != 0 {
			t.Errorf("idle transactions that block nobody are not roots: %v", rootPIDs(s))
		}
	})

	t.Run("quotes spaces and unicode in names", func(t *testing.T) {
		st, db := l.stage(t)
		weird := scenario.Table{Schema: `Ünï "sch ema"`, Name: `my "tbl" 名前`}
		must(t, st.CreateTable(ctx, weird, 20))
		must(t, st.FailedUniqueIndex(ctx, weird, `idx "q" ü`))
		s := l.snapshot(t, db)
		ix := index(t, s, `idx "q" ü`)
		if ix.Schema != weird.Schema || ix.Table != weird.Name {
			t.Errorf("names read back as %q.%q", ix.Schema, ix.Table)
		}
		if want := `"Ünï ""sch ema"""."idx ""q"" ü"`; ix.QualifiedName() != want {
			t.Errorf("qualified name %s, want %s", ix.QualifiedName(), want)
		}
		if !strings.Contains(ix.Definition, `"idx ""q"" ü"`) || !strings.Contains(ix.Definition, `"my ""tbl"" 名前"`) {
			t.Errorf("definition %q", ix.Definition)
		}
	})

	t.Run("hostile query text never reaches the terminal raw", func(t *testing.T) {
		st, db := l.stage(t)
		// Identifiers may hold any character: a role name can carry an
		// escape sequence too (the server rewrites application_name, but
		// not names).
		role := "evil\x1b]0;pwned\x07\x1b[2J"
		must(t, st.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN"))
		evil, err := scenario.NewStage(ctx, func(app string) string {
			return l.c.ConnString(db, role) + " application_name='" + app + "'"
		})
		must(t, err)
		t.Cleanup(func() { evil.Close() })
		must(t, st.CreateTable(ctx, orders, 10))
		must(t, st.Exec(ctx, "GRANT ALL ON "+orders.Ident()+" TO "+pgx.Identifier{role}.Sanitize()))
		hostile, _, err := evil.RunHostileQuery(ctx, orders)
		must(t, err)
		s := l.snapshot(t, db)
		if got := rootPIDs(s); !slices.Equal(got, []int{hostile.PID}) {
			t.Fatalf("roots = %v, want the hostile session %d", got, hostile.PID)
		}
		if b := s.Backend(hostile.PID); b == nil || b.User != role {
			t.Fatalf("the role name must be read intact, got %+v", b)
		}
		if b := s.Backend(hostile.PID); b == nil || !strings.HasSuffix(b.Query, scenario.HostileQuery) {
			t.Fatalf("the query text must be read intact, got %+v", b)
		}
		var text, js bytes.Buffer
		must(t, report.Text(&text, s, report.Options{QueryWidth: 1000}))
		must(t, report.JSON(&js, s))
		// Both are on screen, escaped: the query and the role.
		for _, want := range []string{`\x1b[2J\x1b]0;pwned\x07`, `\u202edesrever`, `user=evil\x1b]0;pwned\x07\x1b[2J`} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("text report lacks %q:\n%s", want, text.String())
			}
		}
		for name, out := range map[string][]byte{"text": text.Bytes(), "json": js.Bytes()} {
			for _, bad := range []string{"\x1b", "\x07", "\u202e"} {
				if bytes.Contains(out, []byte(bad)) {
					t.Errorf("%s output contains %q raw", name, bad)
				}
			}
		}
		var decoded struct {
			Connections []struct {
				PID   int    `json:"pid"`
				Query string `json:"query"`
			} `json:"connections"`
		}
		must(t, json.Unmarshal(js.Bytes(), &decoded))
		found := false
		for _, c := range decoded.Connections {
			found = found || (c.PID == hostile.PID && strings.HasSuffix(c.Query, scenario.HostileQuery))
		}
		if !found {
			t.Error("JSON must carry the exact query text, escaped, for programs")
		}
	})

	t.Run("ordinary role without pg_read_all_stats still sees the pile-up", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 10))
		must(t, st.Exec(ctx, "DO $$ BEGIN CREATE ROLE plain LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
		must(t, st.Exec(ctx, "DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
		p, err := st.MigrationBehindIdleTx(ctx, orders, 2)
		must(t, err)
		// A session of an ordinary role: plain could signal it with
		// pg_signal_backend, and cannot without.
		app, err := pgx.Connect(ctx, l.c.ConnString(db, "app"))
		must(t, err)
		t.Cleanup(func() { app.Close(context.Background()) })
		conn, _ := l.monitor(t, db, "plain")
		c, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		s, err := c.Snapshot(ctx)
		must(t, err)
		if s.Server.Role.ReadAllStats || s.Server.Role.Superuser {
			t.Fatalf("role = %+v, want an ordinary role", s.Server.Role)
		}
		if got := rootPIDs(s); !slices.Equal(got, []int{p.Root.PID}) {
			t.Errorf("roots = %v, want %d: pg_locks and pg_blocking_pids are open to every role", got, p.Root.PID)
		}
		if n := node(t, s, p.Root.PID); n.BlockedTotal != 3 {
			t.Errorf("root blocks %d, want 3", n.BlockedTotal)
		}
		if s.Saturation.WaitingOnLock != 3 {
			t.Errorf("waiting on lock = %d, want 3", s.Saturation.WaitingOnLock)
		}
		// Other roles' rows hide backend_type; the slot count must not
		// shrink for it.
		var clients int
		must(t, st.Admin().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&clients))
		if s.Saturation.Used != clients {
			t.Errorf("an ordinary role counts %d slots used, the server %d", s.Saturation.Used, clients)
		}
		if b := s.Backend(p.DDL.PID); b.Query != "<insufficient privilege>" || b.Waiting == nil || b.Waiting.Mode != "AccessExclusiveLock" {
			t.Errorf("DDL as seen by plain: query %q waiting %+v", b.Query, b.Waiting)
		}
		// Each missing privilege has its own warning, saying what it
		// hides or prevents.
		var stats, signal string
		for _, w := range s.Warnings {
			switch {
			case strings.Contains(w, "lacks pg_read_all_stats"):
				stats = w
			case strings.Contains(w, "lacks pg_signal_backend"):
				signal = w
			}
		}
		if !strings.Contains(stats, `role "plain" lacks pg_read_all_stats (GRANT pg_monitor TO plain`) || !strings.Contains(stats, "show no query or state") {
			t.Errorf("warnings = %q, want the missing pg_read_all_stats explained", s.Warnings)
		}
		if !strings.HasPrefix(signal, "1 session(s) of other roles cannot be cancelled or terminated") ||
			!strings.Contains(signal, "GRANT pg_signal_backend TO plain") {
			t.Errorf("warnings = %q, want the missing pg_signal_backend explained, counting app's session only", s.Warnings)
		}
	})

	t.Run("own backend flagged and left out", func(t *testing.T) {
		_, db := l.stage(t)
		conn, _ := l.monitor(t, db, "")
		c, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		s, err := c.Snapshot(ctx)
		must(t, err)
		own := s.Backend(int(conn.PgConn().PID()))
		if own == nil || !own.Own || own.ApplicationName != "pgmedic" || s.Server.OwnPID != own.PID {
			t.Fatalf("own backend = %+v, server own pid %d", own, s.Server.OwnPID)
		}
		clients := 0
		for _, b := range s.Backends {
			if b.IsClient() && !b.Own {
				clients++
			}
		}
		if s.Server.ClientConnections != clients || s.Saturation.Used != clients+1 {
			t.Errorf("client connections %d, slots used %d; want %d and %d (ours holds a slot)", s.Server.ClientConnections, s.Saturation.Used, clients, clients+1)
		}
		if slices.ContainsFunc(s.Saturation.ByApplication, func(c inspect.Count) bool { return c.Key == "pgmedic" }) {
			t.Error("our own session is counted in the breakdown by application")
		}
		srv := s.Server
		if srv.MaxConnections != 60 || srv.SuperuserReserved != 3 || srv.Reserved != 3 || srv.Usable != 57 || !srv.Role.Superuser || srv.VersionNum < 130000 {
			t.Errorf("server = %+v", srv)
		}
	})

	t.Run("all databases one connection at a time", func(t *testing.T) {
		st, db := l.stage(t)
		must(t, st.CreateTable(ctx, orders, 20))
		must(t, st.FailedUniqueIndex(ctx, orders, "here_uq"))
		st2, db2 := l.stage(t)
		must(t, st2.CreateTable(ctx, orders, 20))
		must(t, st2.FailedUniqueIndex(ctx, orders, "elsewhere_uq"))

		conn, cfg := l.monitor(t, db, "")
		c, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		s, err := c.Snapshot(ctx)
		must(t, err)
		opened := 0
		must(t, c.CheckOtherDatabases(ctx, s, func(ctx context.Context, name string) (*pgx.Conn, error) {
			opened++
			other := cfg.Copy()
			other.Database = name
			return connect.Open(ctx, other)
		}))
		if !slices.Contains(s.Databases, db) || !slices.Contains(s.Databases, db2) {
			t.Errorf("databases checked = %v, want %s and %s", s.Databases, db, db2)
		}
		if ix := index(t, s, "elsewhere_uq"); ix.Database != db2 {
			t.Errorf("elsewhere_uq found in %q", ix.Database)
		}
		if index(t, s, "here_uq").Database != db {
			t.Error("here_uq in the wrong database")
		}
		if opened != len(s.Databases)-1 {
			t.Errorf("opened %d connections for %d other databases", opened, len(s.Databases)-1)
		}
	})
}

// A pool filled to the brim: the snapshot (taken as a superuser, in a
// reserved slot) shows it, and --all-databases refuses to take the last
// slots.
func TestSnapshotFullPool(t *testing.T) {
	l := newLab(t, map[string]string{"max_connections": "10", "superuser_reserved_connections": "3"})
	ctx := context.Background()
	st, db := l.stage(t) // the stage's admin connection takes one slot
	must(t, st.Exec(ctx, "CREATE ROLE app LOGIN"))
	appStage, err := scenario.NewStage(ctx, func(app string) string {
		return l.c.ConnString(db, "app") + " application_name='" + app + "'"
	})
	must(t, err)
	t.Cleanup(func() { appStage.Close() })
	// 7 usable slots: the two admin sessions hold 2, the app the other 5.
	_, err = appStage.Fill(ctx, "api", 5)
	must(t, err)
	if _, err := appStage.Fill(ctx, "api", 1); err == nil {
		t.Fatal("an eighth ordinary connection should have been refused")
	}

	s := l.snapshot(t, db) // a superuser gets in through a reserved slot
	sat := s.Saturation
	if sat.Used != 8 || sat.Usable != 7 || sat.Free != -1 || sat.Percent <= 100 {
		t.Errorf("saturation used %d of %d usable, free %d, %.0f%%; want 8 of 7, -1, over 100%%", sat.Used, sat.Usable, sat.Free, sat.Percent)
	}
	if !slices.Contains(sat.ByApplication, inspect.Count{Key: "api", N: 5}) {
		t.Errorf("by application = %v", sat.ByApplication)
	}
	if free := s.FreeSlotsForUs(); free != 2 {
		t.Errorf("free slots for a superuser = %d, want 2", free)
	}

	conn, _ := l.monitor(t, db, "") // takes one more reserved slot
	c, err := inspect.NewCollector(ctx, conn)
	must(t, err)
	s, err = c.Snapshot(ctx)
	must(t, err)
	must(t, c.CheckOtherDatabases(ctx, s, func(ctx context.Context, name string) (*pgx.Conn, error) {
		t.Errorf("opened a connection to %s with only %d slots free", name, s.FreeSlotsForUs())
		return nil, fmt.Errorf("refused by test")
	}))
	if !strings.Contains(strings.Join(s.Warnings, "\n"), "not checked: only 1 connection slot(s) free") {
		t.Errorf("warnings = %q, want the skipped databases explained", s.Warnings)
	}
}
