package inspect_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// watchOps polls snapshots every 100 ms, as a fast refresh would, until
// an operation satisfies want, and returns it with its snapshot.
func watchOps(t *testing.T, c *inspect.Collector, what string, want func(*inspect.Operation) bool) (*inspect.Operation, *inspect.Snapshot) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := c.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.Operations {
			op := &s.Operations[i]
			seen = append(seen, fmt.Sprintf("%s %s %q %d/%d %s", op.Kind, op.Table, op.Phase, op.Done, op.Total, op.Unit))
			if want(op) {
				return op, s
			}
		}
	}
	if len(seen) > 20 {
		seen = seen[len(seen)-20:]
	}
	t.Fatalf("never saw %s; the last operations seen:\n%s", what, strings.Join(seen, "\n"))
	return nil, nil
}

// throttle stops the backend nine tenths of the time, as cpulimit would,
// until the returned function is called.
func throttle(t *testing.T, pid int) func() {
	t.Helper()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		defer syscall.Kill(pid, syscall.SIGCONT)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if syscall.Kill(pid, syscall.SIGSTOP) != nil {
				return // it has exited
			}
			time.Sleep(45 * time.Millisecond)
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	return func() { close(done); <-stopped }
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// plausibleETA: an ETA once the phase has moved, and not absurd for a
// phase of a few seconds.
func plausibleETA(t *testing.T, op *inspect.Operation) {
	t.Helper()
	if op.PerSecond == nil || *op.PerSecond <= 0 || op.ETASeconds == nil || *op.ETASeconds < 0 || *op.ETASeconds > 600 {
		t.Fatalf("%s %s: rate %v, ETA %v", op.Kind, op.Phase, op.PerSecond, op.ETASeconds)
	}
	if op.Percent == nil || *op.Percent < 0 || *op.Percent > 100 {
		t.Fatalf("%s %s: percent %v", op.Kind, op.Phase, op.Percent)
	}
	t.Logf("%s %s at %.0f%%: %.0f %s/s, %.1fs left", op.Kind, op.Phase, *op.Percent, *op.PerSecond, op.Unit, *op.ETASeconds)
}

// Every progress view pgmedic reads, each on a command slowed down to be
// watched: VACUUM and ANALYZE by the cost delay, CLUSTER and VACUUM FULL
// by an index on a function that sleeps, COPY by feeding it slowly.
func TestProgressLive(t *testing.T) {
	l := newLab(t, nil)
	st, db := l.stage(t)
	ctx := context.Background()
	conn, _ := l.monitor(t, db, "")
	c, err := inspect.NewCollector(ctx, conn)
	must(t, err)

	slow := scenario.Table{Schema: "public", Name: "slow"}
	must(t, st.CreateSlowTable(ctx, slow, 1500, 0))

	// phase runs statement on a new session (after setup, throttled if
	// asked) until it is seen in phase with a rate, and checks what the
	// operation says of itself.
	type want struct {
		kind, table, phase, unit string
		step, steps              int
	}
	phase := func(t *testing.T, setup, statement string, throttled bool, w want) (*scenario.Session, *inspect.Operation) {
		t.Helper()
		s, err := st.Open(ctx, strings.ToLower(w.kind))
		must(t, err)
		if setup != "" {
			must(t, s.Exec(ctx, setup))
		}
		if throttled {
			t.Cleanup(throttle(t, s.PID))
		}
		s.Go(statement)
		// A positive rate: two refreshes close together on a busy
		// machine may see the same count, a rate of 0 and so no ETA.
		op, _ := watchOps(t, c, w.kind+" in "+w.phase+" with a rate", func(op *inspect.Operation) bool {
			return op.PID == s.PID && op.Phase == w.phase && op.PerSecond != nil && *op.PerSecond > 0 && op.Done > 0
		})
		if op.Kind != w.kind || op.Table != w.table || op.Unit != w.unit || op.Step != w.step || op.Steps != w.steps ||
			op.Database != db {
			t.Errorf("%s: %+v", w.kind, op)
		}
		plausibleETA(t, op)
		return s, op
	}

	t.Run("BASE BACKUP", func(t *testing.T) {
		// pg_basebackup's own --max-rate makes it last seconds; it is
		// stopped once seen.
		// The server packages of other versions carry no pg_basebackup;
		// the system's reads older servers too.
		bin := filepath.Join(l.c.BinDir, "pg_basebackup")
		if _, err := os.Stat(bin); err != nil {
			found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_basebackup")
			if len(found) == 0 {
				t.Fatalf("no pg_basebackup in %s nor in /usr/lib/postgresql", l.c.BinDir)
			}
			bin = found[len(found)-1]
			// pg_basebackup refuses servers newer than itself: only the
			// version matrix meets one, and the main suite runs this.
			if major, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(bin)))); major*10000 < c.Capabilities().VersionNum/10000*10000 {
				t.Skipf("the system's pg_basebackup (%d) refuses PostgreSQL %d; the main suite runs this on the system's version",
					major, c.Capabilities().VersionNum/10000)
			}
		}
		cmd := exec.Command(bin, "-D", t.TempDir(), "-h", l.c.SocketDir,
			"-p", strconv.Itoa(l.c.Port), "-U", "postgres", "-X", "none", "--checkpoint=fast", "--no-sync", "--max-rate=2M")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		must(t, cmd.Start())
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		op, _ := watchOps(t, c, "a base backup streaming with a rate", func(op *inspect.Operation) bool {
			return op.Kind == "BASE BACKUP" && op.Phase == "streaming database files" && op.PerSecond != nil && *op.PerSecond > 0 && op.Done > 0
		})
		if op.Unit != "bytes" || op.Step != 4 || op.Steps != 6 || op.Table != "" || op.Total < 1<<20 {
			t.Errorf("BASE BACKUP: %+v\n%s", op, out.String())
		}
		plausibleETA(t, op)
	})

	t.Run("VACUUM", func(t *testing.T) {
		s, _ := phase(t, `SET vacuum_cost_delay = 5; SET vacuum_cost_limit = 1`, `VACUUM (DISABLE_PAGE_SKIPPING) public.slow`,
			false, want{"VACUUM", "slow", "scanning heap", "blocks", 2, 7})
		must(t, s.Wait(2*time.Minute))
	})

	t.Run("ANALYZE", func(t *testing.T) {
		s, _ := phase(t, `SET vacuum_cost_delay = 10; SET vacuum_cost_limit = 1`, `ANALYZE public.slow`,
			false, want{"ANALYZE", "slow", "acquiring sample rows", "blocks", 2, 6})
		must(t, s.Wait(2*time.Minute))
	})

	// CLUSTER and VACUUM FULL honour no cost delay, and copy 1M rows in
	// a third of a second here: the backend is throttled instead, stopped
	// nine tenths of the time, so the phases last seconds.
	big := scenario.Table{Schema: "public", Name: "big"}
	must(t, st.CreateTable(ctx, big, 1_000_000))

	t.Run("CLUSTER", func(t *testing.T) {
		s, _ := phase(t, `SET enable_indexscan = off`, `CLUSTER public.big USING big_pkey`, // a seq scan and a sort
			true, want{"CLUSTER", "big", "seq scanning heap", "blocks", 2, 8})
		must(t, s.Wait(2*time.Minute))
	})

	t.Run("VACUUM FULL blocks readers", func(t *testing.T) {
		s, op := phase(t, "", `VACUUM FULL public.big`, true, want{"VACUUM FULL", "big", "seq scanning heap", "blocks", 2, 8})
		// A reader queues behind its ACCESS EXCLUSIVE lock.
		reader, err := st.Open(ctx, "reader")
		must(t, err)
		reader.Go(`SELECT count(*) FROM public.big`)
		must(t, st.AwaitLockWait(ctx, reader.PID))
		op, _ = watchOps(t, c, "VACUUM FULL blocking the reader", func(op *inspect.Operation) bool {
			return op.PID == s.PID && op.Blocking == 1
		})
		if op.Started == nil {
			t.Errorf("VACUUM FULL's start is unknown: %+v", op)
		}
		must(t, s.Wait(2*time.Minute))
		must(t, reader.Wait(time.Minute))
	})

	t.Run("ALTER TABLE rewrite", func(t *testing.T) {
		holder, err := st.Open(ctx, "holder")
		must(t, err)
		must(t, holder.Exec(ctx, `BEGIN; SELECT count(*) FROM public.big WHERE id = 1`))
		s, err := st.Open(ctx, "migrate")
		must(t, err)
		defer throttle(t, s.PID)()
		s.Go(`ALTER TABLE public.big ALTER COLUMN v TYPE bigint`)
		must(t, st.AwaitLockWait(ctx, s.PID))
		// Waiting for its lock it has not begun: the forest shows it, and
		// the rewrite list does not.
		snap, err := c.Snapshot(ctx)
		must(t, err)
		if len(snap.Rewrites) != 0 {
			t.Errorf("a rewrite still waiting for its lock is listed: %+v", snap.Rewrites)
		}
		must(t, holder.Exec(ctx, `COMMIT`))
		reader, err := st.Open(ctx, "reader")
		must(t, err)
		var rw *inspect.Rewrite
		for deadline := time.Now().Add(time.Minute); rw == nil; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the rewrite was never seen with its table; last: %+v", snap.Rewrites)
			}
			snap, err = c.Snapshot(ctx)
			must(t, err)
			for i := range snap.Rewrites {
				if r := &snap.Rewrites[i]; r.PID == s.PID && r.Table != "" {
					rw = r
				}
			}
			if rw == nil && len(snap.Rewrites) > 0 && reader.Done() == nil {
				reader.Go(`SELECT count(*) FROM public.big`)
			}
		}
		if rw.Table != "big" || !rw.Rewrites || !strings.HasPrefix(rw.Action, "changes a column's type") ||
			rw.SizeBytes == nil || *rw.SizeBytes < 10<<20 || rw.Rows == nil || *rw.Rows < 900_000 || *rw.Rows > 1_100_000 ||
			rw.Started == nil || rw.Database != db || !strings.Contains(rw.Unknown, "cannot be known") {
			t.Errorf("the rewrite: %+v (size %v, rows %v)", rw, deref(rw.SizeBytes), deref(rw.Rows))
		}
		must(t, st.AwaitLockWait(ctx, reader.PID))
		snap, err = c.Snapshot(ctx)
		must(t, err)
		if len(snap.Rewrites) != 1 || snap.Rewrites[0].Blocking != 1 {
			t.Errorf("the rewrite blocking the reader: %+v", snap.Rewrites)
		}
		must(t, s.Wait(2*time.Minute))
		must(t, reader.Wait(time.Minute))
		snap, err = c.Snapshot(ctx)
		must(t, err)
		if len(snap.Rewrites) != 0 {
			t.Errorf("rewrites after it ended: %+v", snap.Rewrites)
		}
	})

	t.Run("COPY FROM STDIN", func(t *testing.T) {
		if c.Capabilities().VersionNum < 140000 {
			t.Skip("pg_stat_progress_copy is PostgreSQL 14+")
		}
		must(t, st.Exec(ctx, `CREATE TABLE public."copy target" (id int, note text)`))
		copier, _ := l.monitor(t, db, "")
		pid := int(copier.PgConn().PID())
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the connection closes
		done := make(chan error, 1)
		go func() {
			_, err := copier.PgConn().CopyFrom(ctx, pr, `COPY public."copy target" FROM STDIN`)
			done <- err
		}()
		// Rows at a steady pace: the rate is what was fed.
		feed := make(chan struct{})
		go func() {
			defer close(feed)
			for i := 0; i < 40; i++ {
				fmt.Fprintf(pw, "%02d\trow %02d\n", i, i) // 10 bytes
				time.Sleep(100 * time.Millisecond)
			}
		}()
		op, _ := watchOps(t, c, "COPY with a rate", func(op *inspect.Operation) bool {
			return op.PID == pid && op.Done >= 100 && op.PerSecond != nil && *op.PerSecond > 0
		})
		if op.Kind != "COPY FROM" || op.Table != `"copy target"` || op.Unit != "bytes" || op.Total != 0 ||
			op.Percent != nil || op.ETASeconds != nil || !strings.Contains(op.Detail, "from pipe") {
			t.Errorf("COPY: %+v", op)
		}
		// Fed about 100 bytes a second: the rate reads it back, roughly
		// (the server may read a row's bytes late, never early).
		if r := *op.PerSecond; r < 20 || r > 500 {
			t.Errorf("COPY fed about 100 bytes a second, the rate reads %.1f", r)
		}
		<-feed
		pw.Close()
		must(t, <-done)
		s, err := c.Snapshot(ctx)
		must(t, err)
		if len(s.Operations) != 0 {
			t.Errorf("operations after the COPY ended: %+v", s.Operations)
		}
	})

	t.Run("COPY FROM a file", func(t *testing.T) {
		if c.Capabilities().VersionNum < 140000 {
			t.Skip("pg_stat_progress_copy is PostgreSQL 14+")
		}
		// The server writes the file into its data directory and reads
		// it back: its size is the total, so there is a percent and an
		// ETA. Throttled, as the load takes a fraction of a second.
		file := "'" + filepath.Join(l.c.DataDir, "copy-source.tsv") + "'"
		must(t, st.Exec(ctx, `COPY (SELECT g, 'row ' || g FROM generate_series(1, 300000) g) TO `+file))
		must(t, st.Exec(ctx, `CREATE TABLE public.loaded (id int, note text)`))
		s, op := phase(t, "", `COPY public.loaded FROM `+file, true,
			want{kind: "COPY FROM", table: "loaded", unit: "bytes"})
		if op.Total < 3<<20 || !strings.Contains(op.Detail, "from file") {
			t.Errorf("COPY from a file: %+v", op)
		}
		must(t, s.Wait(2*time.Minute))
	})
}
