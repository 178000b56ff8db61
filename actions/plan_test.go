package actions

import (
	"fmt"
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
		{"ccold rebuild", func(ix *inspect.Index) { ix.Name, ix.Status = "ix_ccold1", inspect.IndexReindexOld }, Rebuild, "drop it (D)"},
		{"toast rebuild", func(ix *inspect.Index) { ix.Schema = "pg_toast" }, Rebuild, "TOAST table"},
		{"constraint drop says rebuild", func(ix *inspect.Index) { ix.Constraint, ix.ConstraintType = "orders_pkey", "primary key" }, DropIndex, "rebuild it (R)"},
	}
	for _, c := range cases {
		ix := base
		c.change(&ix)
		var p Plan
		if c.kind == DropIndex {
			p = PlanDropIndex(&ix, false)
		} else {
			p = PlanRebuild(&ix, false)
		}
		if p.Allowed() || !strings.Contains(p.Refusal+" "+p.Alternative, c.refuse) {
			t.Errorf("%s: refusal %q / %q, want it to mention %q", c.name, p.Refusal, p.Alternative, c.refuse)
		}
	}
	ix := base
	ix.Valid, ix.Constraint, ix.ConstraintType = true, "orders_pkey", "primary key"
	if p := PlanRebuild(&ix, false); !p.Allowed() || p.Statements[len(p.Statements)-1].SQL != `REINDEX INDEX CONCURRENTLY "public"."ix"` {
		t.Errorf("valid index rebuild: %+v", p)
	}
}

// A rebuild never drops first: every kind of index, valid or not, is
// rebuilt by REINDEX INDEX CONCURRENTLY, which swaps a finished copy in.
// Its definition is not needed (and may be unreadable or redacted).
func TestRebuildNeverDropsFirst(t *testing.T) {
	for _, ix := range []inspect.Index{
		{Schema: "public", Table: "orders", Name: "uq", OID: 1, Live: true, Ready: true, Unique: true, Status: inspect.IndexFailedAfterBuild, TableBytes: 350 << 20},
		{Schema: "public", Table: "orders", Name: "nr", OID: 2, Live: true, Status: inspect.IndexFailedDuringBuild, Definition: ""},
		{Schema: `s "p"`, Table: "t", Name: `ü x`, OID: 3, Live: true, Ready: true, Valid: true, Definition: "CREATE INDEX ... WHERE (code = $1)"},
	} {
		p := PlanRebuild(&ix, false)
		if !p.Allowed() {
			t.Fatalf("%s: refused: %s", ix.Name, p.Refusal)
		}
		var sqls []string
		for _, st := range p.Statements {
			sqls = append(sqls, st.SQL)
			if strings.Contains(st.SQL, "DROP") || strings.Contains(st.SQL, "CREATE") {
				t.Errorf("%s: the rebuild runs %q", ix.Name, st.SQL)
			}
		}
		if last := sqls[len(sqls)-1]; last != "REINDEX INDEX CONCURRENTLY "+ident(ix.Schema, ix.Name) {
			t.Errorf("%s: last statement %q", ix.Name, last)
		}
		if len(p.Steps) != 4 || !strings.HasPrefix(p.Steps[0], "1 the index ") && !strings.HasPrefix(p.Steps[0], "1 nothing rejects") {
			t.Errorf("%s: steps %q", ix.Name, p.Steps)
		}
		if ix.RejectsDuplicates() && !strings.HasPrefix(p.Steps[0], "1 the index keeps rejecting duplicates") {
			t.Errorf("%s: step 1 should say the old index keeps rejecting duplicates: %q", ix.Name, p.Steps[0])
		}
	}
	if !strings.Contains(PlanRebuild(&inspect.Index{Schema: "public", Name: "x", TableBytes: 350 << 20}, false).Statements[0].SQL, "statement_timeout = '33min'") {
		t.Error("a 350 MB table's rebuild should be bounded by 30 min + 3 min")
	}
	if got := RebuildTimeout(1 << 50); got != 48*time.Hour {
		t.Errorf("RebuildTimeout is capped at 48h, got %s", got)
	}
}

func TestStringLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"pay-17":      "'pay-17'",
		"pay-'17":     "'pay-''17'",
		`pay\17'x`:    `E'pay\\17''x'`,
		`\`:           `E'\\'`,
		"ünï code 名前": "'ünï code 名前'",
	} {
		if got := stringLiteral(in); got != want {
			t.Errorf("stringLiteral(%q) = %s, want %s", in, got, want)
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
	p := PlanSignal(s, Cancel, 7)
	if !p.Allowed() {
		t.Errorf("cancel of an active app query refused: %s", p.Refusal)
	}
	// What is shown and copied runs as is, with its pid-reuse guard.
	if want := "WHERE pid = 7 AND backend_start = '2026-11-23 01:00:00.000000+00' AND pid <> pg_backend_pid()"; !strings.Contains(p.Statements[0].Display, want) ||
		strings.Contains(p.Statements[0].Display, "\n") {
		t.Errorf("cancel display %q, want one line with %q", p.Statements[0].Display, want)
	}
	if d := PlanSignal(s, Terminate, 7).Statements[0].Display; !strings.HasPrefix(d, "SELECT pg_terminate_backend(pid, 3000) FROM pg_stat_activity WHERE pid = 7") {
		t.Errorf("terminate display %q", d)
	}
	// A parallel worker is refused, naming its leader: signalling the
	// leader instead would hit a whole statement or session.
	s.Backends = append(s.Backends, inspect.Backend{PID: 8, BackendType: "parallel worker", LeaderPID: 7, State: "active", User: "app", BackendStart: &start})
	for _, kind := range []Kind{Cancel, Terminate} {
		if p := PlanSignal(s, kind, 8); p.Allowed() || !strings.Contains(p.Refusal, "parallel worker of pid 7") ||
			!strings.Contains(p.Alternative, fmt.Sprintf("pgmedic %s 7", kind)) || p.Backend == nil || p.Backend.PID != 8 {
			t.Errorf("%s of a parallel worker: %q / %q", kind, p.Refusal, p.Alternative)
		}
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

// On a standby every action that writes is refused before anything is
// asked, pointing at the primary; signals are not writes, and stay.
func TestStandbyRefusals(t *testing.T) {
	ix := inspect.Index{Schema: "public", Table: "orders", Name: "ix", OID: 1, Live: true, Ready: true, Status: inspect.IndexFailedAfterBuild}
	for _, p := range []Plan{PlanDropIndex(&ix, true), PlanRebuild(&ix, true)} {
		if p.Allowed() || !strings.Contains(p.Refusal, "standby") || !strings.Contains(p.Refusal+p.Alternative, "primary") {
			t.Errorf("%s on a standby: refusal %q / %q", p.Kind, p.Refusal, p.Alternative)
		}
		if len(p.Statements) > 0 && p.Kind == Rebuild {
			t.Errorf("a refused rebuild has statements: %+v", p.Statements)
		}
	}
	start := time.Now()
	s := &inspect.Snapshot{ServerTime: start,
		Server:   inspect.Server{InRecovery: true, User: "postgres", Role: inspect.RolePrivileges{Superuser: true}},
		Backends: []inspect.Backend{{PID: 7, BackendType: "client backend", State: "active", User: "app", BackendStart: &start}},
		Prepared: []inspect.PreparedXact{{GID: "g1", Owner: "postgres", Database: "postgres", Prepared: start}},
	}
	if p := PlanRollbackPrepared(s, "g1"); p.Allowed() || !strings.Contains(p.Refusal, "standby") {
		t.Errorf("rollback prepared on a standby: refusal %q", p.Refusal)
	}
	for _, k := range []Kind{Cancel, Terminate} {
		if p := PlanSignal(s, k, 7); !p.Allowed() {
			t.Errorf("%s on a standby refused: %s", k, p.Refusal)
		}
	}
}

// The drop dialog's effect speaks of maintenance in the words the index's
// own status uses on the same screen.
func TestDropEffectAgreesWithStatus(t *testing.T) {
	for _, c := range []struct {
		status inspect.IndexStatus
		ready  bool
	}{
		{inspect.IndexFailedDuringBuild, false},
		{inspect.IndexFailedAfterBuild, true},
		{inspect.IndexReindexNew, true},
		{inspect.IndexReindexNew, false},
		{inspect.IndexDropInterrupted, false},
	} {
		ix := inspect.Index{Schema: "public", Table: "orders", Name: "ix", OID: 1, Ready: c.ready, Status: c.status}
		effect, status := PlanDropIndex(&ix, false).Effect, c.status.Describe()
		if c.ready != strings.Contains(effect, "maintain it today") || !c.ready != strings.Contains(effect, "not maintained") {
			t.Errorf("%s, ready %v: effect %q", c.status, c.ready, effect)
		}
		if strings.Contains(status, "not maintained") && c.ready || strings.Contains(status, "still maintains") && !c.ready {
			t.Errorf("%s: the status says %q of an index that is ready: %v", c.status, status, c.ready)
		}
	}
}
