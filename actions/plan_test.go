package actions

import (
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

func TestIndexRefusals(t *testing.T) {
	base := inspect.Index{Schema: "public", Table: "orders", Name: "ix", OID: 1, Live: true, Ready: true,
		Status: inspect.IndexFailedAfterBuild, Definition: "CREATE INDEX ix ON public.orders USING btree (v)"}
	cases := []struct {
		name   string
		change func(*inspect.Index)
		kind   Kind
		refuse string
	}{
		{"constraint", func(ix *inspect.Index) { ix.Constraint, ix.ConstraintType = "orders_pkey", "primary key" }, DropIndex, "implements the primary key constraint"},
		{"foreign key", func(ix *inspect.Index) { ix.ReferencedBy = []string{"lines_order_fk"} }, DropIndex, "foreign keys depend on it"},
		{"exclusion", func(ix *inspect.Index) { ix.Exclusion = true }, Rebuild, "exclusion constraint"},
		{"partitioned drop", func(ix *inspect.Index) { ix.Partitioned = true }, DropIndex, "partitioned index"},
		{"partitioned rebuild", func(ix *inspect.Index) { ix.Partitioned = true }, Rebuild, "ATTACH PARTITION"},
		{"valid drop", func(ix *inspect.Index) { ix.Valid = true }, DropIndex, "it is valid"},
		{"being built", func(ix *inspect.Index) { ix.Status, ix.BuildPID = inspect.IndexBuilding, 42 }, DropIndex, "being built right now (pid 42)"},
		{"ccnew rebuild", func(ix *inspect.Index) { ix.Name, ix.Status = "ix_ccnew", inspect.IndexReindexNew }, Rebuild, "leftover of REINDEX CONCURRENTLY"},
		{"definition locked", func(ix *inspect.Index) { ix.Definition = "" }, Rebuild, "definition could not be read"},
		{"ON ONLY", func(ix *inspect.Index) { ix.Definition = "CREATE INDEX ix ON ONLY public.events USING btree (k)" }, Rebuild, "not a plain CREATE INDEX"},
	}
	for _, c := range cases {
		ix := base
		c.change(&ix)
		var p Plan
		if c.kind == DropIndex {
			p = PlanDropIndex(&ix)
		} else {
			p = PlanRebuild(&ix)
		}
		if p.Allowed() || !strings.Contains(p.Refusal+" "+p.Alternative, c.refuse) {
			t.Errorf("%s: refusal %q / %q, want it to mention %q", c.name, p.Refusal, p.Alternative, c.refuse)
		}
	}
	ix := base
	ix.Valid, ix.Constraint, ix.ConstraintType = true, "orders_pkey", "primary key"
	if p := PlanRebuild(&ix); !p.Allowed() || p.Statements[len(p.Statements)-1].SQL != `REINDEX INDEX CONCURRENTLY "public"."ix"` {
		t.Errorf("valid index rebuild: %+v", p)
	}
}

func TestConcurrentCreate(t *testing.T) {
	for def, want := range map[string]string{
		"CREATE UNIQUE INDEX a ON public.t USING btree (x)":        "CREATE UNIQUE INDEX CONCURRENTLY a ON public.t USING btree (x)",
		"CREATE INDEX a ON public.t USING gin (doc) WHERE (x > 1)": "CREATE INDEX CONCURRENTLY a ON public.t USING gin (doc) WHERE (x > 1)",
		`CREATE INDEX "idx ""q"" ü" ON "s p"."t" USING btree (v)`:  `CREATE INDEX CONCURRENTLY "idx ""q"" ü" ON "s p"."t" USING btree (v)`,
	} {
		if got, ok := concurrentCreate(def); !ok || got != want {
			t.Errorf("concurrentCreate(%q) = %q, %v", def, got, ok)
		}
	}
}

func TestSignalRefusals(t *testing.T) {
	start := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	s := &inspect.Snapshot{ServerTime: start.Add(time.Hour)}
	s.Server = inspect.Server{VersionNum: 150000, User: "monitor", OwnPID: 1, Role: inspect.RolePrivileges{SignalBackend: true}}
	s.Backends = []inspect.Backend{
		{PID: 1, BackendType: "client backend", Own: true, BackendStart: &start},
		{PID: 2, BackendType: "autovacuum worker", State: "active", Query: "autovacuum: VACUUM public.t", BackendStart: &start},
		{PID: 3, BackendType: "autovacuum worker", State: "active", Query: "autovacuum: VACUUM public.t (to prevent wraparound)", BackendStart: &start},
		{PID: 4, BackendType: "checkpointer", BackendStart: &start},
		{PID: 5, BackendType: "client backend", State: "idle", User: "app", BackendStart: &start},
		{PID: 6, BackendType: "client backend", State: "active", User: "app"}, // start time hidden
		{PID: 7, BackendType: "client backend", State: "active", User: "app", BackendStart: &start},
	}
	for pid, want := range map[int]string{
		1: "own session", 2: "cancels itself after deadlock_timeout", 3: "prevents transaction ID wraparound",
		4: "not a client session", 5: "no running statement", 6: "start time is hidden", 99: "no backend with pid 99",
	} {
		if p := PlanSignal(s, Cancel, pid); p.Allowed() || !strings.Contains(p.Refusal, want) {
			t.Errorf("cancel %d: refusal %q, want %q", pid, p.Refusal, want)
		}
	}
	if p := PlanSignal(s, Cancel, 7); !p.Allowed() {
		t.Errorf("cancel of an active app query refused: %s", p.Refusal)
	}
	s.Server.VersionNum = 130010
	if p := PlanSignal(s, Terminate, 7); strings.Contains(p.Statements[0].SQL, "$3") {
		t.Error("PostgreSQL 13 has no pg_terminate_backend(pid, timeout)")
	}
	s.Server.Role.SignalBackend = false
	if p := PlanSignal(s, Terminate, 7); p.Allowed() || !strings.Contains(p.Alternative, "GRANT pg_signal_backend TO monitor") {
		t.Errorf("without pg_signal_backend: %q / %q", p.Refusal, p.Alternative)
	}
}
