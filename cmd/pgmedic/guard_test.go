package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// handMadeSnapshot is a server as pgmedic would read it, with one client
// session whose query holds customer data.
func handMadeSnapshot() *inspect.Snapshot {
	start := time.Date(2026, 12, 2, 9, 19, 23, 123456000, time.UTC)
	xact := start.Add(time.Minute)
	return &inspect.Snapshot{
		ServerTime: start.Add(10 * time.Minute),
		Server: inspect.Server{VersionNum: 150004, Database: "shop", User: "postgres", OwnPID: 4000,
			Role: inspect.RolePrivileges{Superuser: true}},
		Backends: []inspect.Backend{{PID: 4101, BackendType: "client backend", Database: "shop", User: "app",
			ApplicationName: "api", ClientAddr: "10.0.0.5", State: "active", BackendStart: &start, XactStart: &xact,
			Query: "UPDATE users SET email = 'alice@example.com' WHERE id = 98765"}},
	}
}

// --redact hides the literals of what is shown and recorded, and changes
// nothing of what runs.
func TestRedactKeepsWhatRuns(t *testing.T) {
	snap := handMadeSnapshot()
	want := actions.PlanSignal(snap, actions.Terminate, 4101)
	plan := actions.PlanSignal(snap, actions.Terminate, 4101)
	guard(&plan, &flags{redact: true})

	var out bytes.Buffer
	printPlan(&out, &plan)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	env := actions.Env{Audit: &actions.Audit{Path: audit},
		Monitor: func(context.Context, func(*pgx.Conn) error) error { return errors.New("no server in this test") }}
	actions.Run(context.Background(), env, plan, snap)
	raw, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"printout": out.String(), "audit record": string(raw)} {
		if strings.Contains(text, "alice@example.com") || strings.Contains(text, "98765") {
			t.Errorf("the %s shows a literal of the query:\n%s", name, text)
		}
		if !strings.Contains(text, "UPDATE users SET email = $1 WHERE id = $2") {
			t.Errorf("the %s lacks the redacted query:\n%s", name, text)
		}
	}
	var rec struct {
		Target actions.BackendTarget `json:"target"`
	}
	first, _, _ := bytes.Cut(raw, []byte("\n")) // started, then the final record
	if err := json.Unmarshal(first, &rec); err != nil || rec.Target.PID != 4101 || !rec.Target.BackendStart.Equal(*snap.Backends[0].BackendStart) {
		t.Errorf("the audit record's target is %+v (%v), want pid 4101 and its start time", rec.Target, err)
	}
	for i := range want.Statements {
		if plan.Statements[i].SQL != want.Statements[i].SQL || !reflect.DeepEqual(plan.Statements[i].Args, want.Statements[i].Args) {
			t.Errorf("statement %d runs %q %v, want %q %v", i, plan.Statements[i].SQL, plan.Statements[i].Args,
				want.Statements[i].SQL, want.Statements[i].Args)
		}
	}
	if !strings.Contains(snap.Backends[0].Query, "alice@example.com") {
		t.Error("planning redacted the snapshot itself")
	}

	// A partial index's predicate is a literal in its definition: hidden
	// when shown; the rebuild runs REINDEX by name, never the definition.
	ix := &inspect.Index{OID: 16390, Database: "shop", Schema: "public", Table: "orders", Name: "orders_open", Live: true,
		Status: inspect.IndexFailedAfterBuild, Definition: "CREATE INDEX orders_open ON public.orders USING btree (id) WHERE (status = 'open-secret'::text)"}
	want = actions.PlanRebuild(ix, false)
	plan = actions.PlanRebuild(ix, false)
	guard(&plan, &flags{redact: true})
	out.Reset()
	printPlan(&out, &plan)
	if strings.Contains(out.String(), "open-secret") || strings.Contains(plan.Index.Definition, "open-secret") {
		t.Errorf("the rebuild plan shows the predicate's literal:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "SET lock_timeout = 0;") || !strings.Contains(out.String(), `REINDEX INDEX CONCURRENTLY "public"."orders_open";`) {
		t.Errorf("pgmedic's own statements should read as they run:\n%s", out.String())
	}
	last := plan.Statements[len(plan.Statements)-1]
	if !reflect.DeepEqual(plan.Statements, want.Statements) || last.SQL != `REINDEX INDEX CONCURRENTLY "public"."orders_open"` {
		t.Errorf("the rebuild runs %q, want REINDEX by name", last.SQL)
	}
}
