package watch

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// Index actions are refused through a pooler, saying why, and nothing is
// done; the refusal holds on the dedicated connection even when the
// snapshot passed in did not say.
func TestIndexActionRefusedBehindPooler(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (1)`); err != nil {
		t.Fatal(err)
	}
	// A unique build over duplicates fails and leaves an invalid index.
	_ = c.Exec(ctx, "postgres", `CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v)`)
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction"})
	cfg, err := connect.Config(connect.Options{DBName: b.ConnString("", "")})
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(snap.Indexes, func(ix inspect.Index) bool { return ix.Name == "t_v" })
	if i < 0 {
		t.Fatalf("invalid index t_v not in the snapshot: %+v", snap.Indexes)
	}
	ex := &Executor{Source: src}
	for _, plan := range []actions.Plan{actions.PlanDropIndex(&snap.Indexes[i], false), actions.PlanRebuild(&snap.Indexes[i], false)} {
		if !plan.Allowed() {
			t.Fatalf("%s: refused by the plan already: %s", plan.Kind, plan.Refusal)
		}
		for _, before := range []*inspect.Snapshot{snap, nil} {
			r := ex.Execute(ctx, plan, before, nil)
			if r.Outcome != "refused" || r.Message != actions.PoolerRefusal {
				t.Errorf("%s (snapshot passed: %v): %s, %q, %v; want refused because of the pooler",
					plan.Kind, before != nil, r.Outcome, r.Message, r.Err)
			}
		}
	}
	after, err := src.fullSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(after.Indexes, func(ix inspect.Index) bool { return ix.Name == "t_v" }) {
		t.Error("the index is gone: the refused action ran")
	}
	if !strings.Contains(actions.PoolerRefusal, "directly") {
		t.Error("the refusal should say to connect to PostgreSQL directly")
	}
}

// Terminate is one statement with its guard (pid and backend_start) in it,
// so it runs through a transaction pooler on whichever server connection
// it gets: the backend goes, and a second run of the same plan, whose
// backend has gone, signals nothing.
func TestTerminateThroughPooler(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", `CREATE TABLE t (v int)`); err != nil {
		t.Fatal(err)
	}
	holder := appConn(t, c.ConnString("", ""))
	var pid int
	if _, err := holder.Exec(ctx, "BEGIN; LOCK TABLE t"); err != nil {
		t.Fatal(err)
	}
	if err := holder.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	b := pgtest.StartBouncer(t, c, pgcluster.BouncerOptions{PoolMode: "transaction"})
	cfg, err := connect.Config(connect.Options{DBName: b.ConnString("", "")})
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	defer src.Close()
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := actions.PlanSignal(snap, actions.Terminate, pid)
	if !plan.Allowed() {
		t.Fatalf("terminate refused: %s", plan.Refusal)
	}
	ex := &Executor{Source: src}
	if r := ex.Execute(ctx, plan, snap, nil); r.Outcome != "done" {
		t.Fatalf("terminate through the pooler: %s, %q, %v", r.Outcome, r.Message, r.Err)
	}
	after, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Backend(pid) != nil {
		t.Errorf("backend %d is still there", pid)
	}
	r := ex.Execute(ctx, plan, snap, nil)
	t.Logf("the same plan again: %s, %q", r.Outcome, r.Message)
	if r.Outcome == "done" {
		t.Errorf("the same plan again, its backend gone: %s, %q; want nothing signalled", r.Outcome, r.Message)
	}
}
