package tui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/inspect"
)

var fixedNow = time.Date(2026, 11, 23, 2, 14, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time { t := fixedNow.Add(-d); return &t }

// fixture is a snapshot of the migration incident, built from plain
// values with inspect's pure functions: an idle transaction holds a row,
// the migration's ALTER waits for it, readers queue behind the ALTER; a
// failed unique build; a build in progress; a forgotten console.
func fixture(readers int) *inspect.Snapshot {
	s := &inspect.Snapshot{TakenAt: fixedNow, ServerTime: fixedNow}
	s.Server = inspect.Server{Version: "15.18", VersionNum: 150018, Database: "shop", User: "postgres",
		MaxConnections: 40, SuperuserReserved: 3, Reserved: 3, Usable: 37, OwnPID: 999,
		Role: inspect.RolePrivileges{Superuser: true}}
	client := func(pid int, app, state string) inspect.Backend {
		return inspect.Backend{PID: pid, BackendType: "client backend", Database: "shop", User: "app",
			ApplicationName: app, ClientAddr: "10.0.3.7", State: state,
			BackendStart: ago(time.Hour), QueryStart: ago(5 * time.Minute), StateChange: ago(5 * time.Minute)}
	}
	root := client(4101, "api", "idle in transaction")
	root.XactStart, root.StateChange = ago(7*time.Minute), ago(6*time.Minute+30*time.Second)
	root.Query = "UPDATE users SET last_seen = now() WHERE id = 42"
	ddl := client(4102, "migrate", "active")
	ddl.User, ddl.XactStart = "deploy", ago(6*time.Minute)
	ddl.WaitEventType, ddl.WaitEvent = "Lock", "relation"
	ddl.BlockedBy, ddl.BlockersTotal = []int{4101}, 1
	ddl.Waiting = &inspect.LockWait{LockType: "relation", Mode: "AccessExclusiveLock", Relation: "users", Since: ago(6 * time.Minute)}
	ddl.Query = "ALTER TABLE users ADD COLUMN referral_code text"
	s.Backends = append(s.Backends, root, ddl)
	for i := range readers {
		r := client(4200+i, "api", "active")
		r.XactStart, r.QueryStart = ago(time.Duration(300-i)*time.Second), ago(time.Duration(300-i)*time.Second)
		r.WaitEventType, r.WaitEvent = "Lock", "relation"
		r.BlockedBy, r.BlockersTotal, r.QueuedBehind = []int{4102}, 1, []int{4102}
		r.Waiting = &inspect.LockWait{LockType: "relation", Mode: "AccessShareLock", Relation: "users", Since: r.QueryStart}
		r.Query = "SELECT id, email FROM users WHERE id = $1"
		s.Backends = append(s.Backends, r)
	}
	console := client(4300, "psql", "idle in transaction")
	console.User, console.XactStart, console.StateChange = "alice", ago(25*time.Minute), ago(20*time.Minute)
	console.Query = "SELECT count(*) FROM orders"
	idle := client(4301, "api", "idle")
	idle.Query = "COMMIT"
	own := client(999, "pgmedic", "active")
	own.Own = true
	av := inspect.Backend{PID: 77, BackendType: "autovacuum worker", Database: "shop", State: "active", Query: "autovacuum: VACUUM public.orders"}
	builder := client(4400, "migrate", "active")
	builder.User, builder.Query = "deploy", "CREATE INDEX CONCURRENTLY events_created_idx ON events (created_at)"
	s.Backends = append(s.Backends, console, idle, own, av, builder)

	size := int64(16384)
	s.Indexes = []inspect.Index{
		{Database: "shop", Schema: "public", Table: "accounts", Name: "accounts_email_uq", OID: 16501, Unique: true, Ready: true, Live: true,
			SizeBytes: &size, Definition: "CREATE UNIQUE INDEX accounts_email_uq ON public.accounts USING btree (email)", ReferencedBy: []string{}},
		{Database: "shop", Schema: "public", Table: "events", Name: "events_created_idx", OID: 16502, Live: true, BuildPID: 4400,
			SizeBytes: new(int64), Definition: "CREATE INDEX events_created_idx ON public.events USING btree (created_at)", ReferencedBy: []string{}},
		{Database: "shop", Schema: "public", Table: "orders", Name: "orders_total_idx_ccnew", OID: 16503, Live: true,
			Unavailable: []string{"size", "definition"}, ReferencedBy: []string{}},
	}
	for i := range s.Indexes {
		s.Indexes[i].Status = inspect.ClassifyIndex(&s.Indexes[i])
	}
	pct, eta := 45.0, 12.0
	s.Builds = []inspect.IndexBuild{{PID: 4400, Database: "shop", Table: "events", Index: "events_created_idx",
		Command: "CREATE INDEX CONCURRENTLY", Phase: "building index: scanning table", Step: 3, Steps: 8,
		BlocksDone: 4500, BlocksTotal: 10000, Percent: &pct, ETASeconds: &eta, Started: ago(40 * time.Second)}}
	s.Databases = []string{"shop"}
	s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, fixedNow)
	s.LockForest = inspect.BuildForest(s.Backends, fixedNow)
	return s
}

// fakeSource answers with whatever the test put in it.
type fakeSource struct {
	snap  *inspect.Snapshot
	err   error
	calls int
}

func (f *fakeSource) Snapshot(context.Context) (*inspect.Snapshot, error) {
	f.calls++
	return f.snap, f.err
}

func (f *fakeSource) Target() string { return "app@db1.internal:5432/shop" }

// newTestModel is a model sized w×h that has received one snapshot.
func newTestModel(t testing.TB, s *inspect.Snapshot, w, h int) *Model {
	t.Helper()
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.fetch()
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	return m
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

// keyMsg builds the key message a terminal would send for k.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+y":
		return tea.KeyPressMsg{Code: 'y', Mod: tea.ModCtrl}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	if r >= 'A' && r <= 'Z' {
		return tea.KeyPressMsg{Code: r + ('a' - 'A'), ShiftedCode: r, Text: k, Mod: tea.ModShift}
	}
	return tea.KeyPressMsg{Code: r, Text: k}
}

func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// screen is the stripped frame.
func screen(m *Model) string { return ansi.Strip(m.View().Content) }

// fitsWidth fails t for each line of frame wider than w.
func fitsWidth(t *testing.T, frame string, w int) {
	t.Helper()
	for i, line := range strings.Split(frame, "\n") {
		if n := len([]rune(line)); n > w {
			t.Errorf("line %d is %d wide, the terminal %d: %q", i, n, w, line)
		}
	}
}

func mustContain(t *testing.T, frame string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(frame, w) {
			t.Errorf("screen lacks %q:\n%s", w, frame)
		}
	}
}

var errGone = errors.New("lost the connection to the server while reading (unexpected EOF)")

func inspectSaturation(s *inspect.Snapshot) inspect.Saturation {
	return inspect.ComputeSaturation(s.Server, s.Backends, fixedNow)
}

func inspectForest(s *inspect.Snapshot) inspect.LockForest {
	return inspect.BuildForest(s.Backends, fixedNow)
}

// progressFixture is fixture(12) with long operations running: the
// migration's rewrite of payments, a COPY, and autovacuum for 12 minutes.
func progressFixture() *inspect.Snapshot {
	s := fixture(12)
	client := func(pid int, app string) inspect.Backend {
		return inspect.Backend{PID: pid, BackendType: "client backend", Database: "shop", User: "deploy",
			ApplicationName: app, ClientAddr: "10.0.3.9", State: "active", BackendStart: ago(time.Hour)}
	}
	rewriter := client(4500, "schema-change")
	rewriter.XactStart, rewriter.QueryStart, rewriter.StateChange = ago(3*time.Minute), ago(3*time.Minute), ago(3*time.Minute)
	rewriter.Query = "ALTER TABLE payments ALTER COLUMN amount TYPE numeric(12,2)"
	loader := client(4501, "etl")
	loader.QueryStart, loader.StateChange, loader.Query = ago(90*time.Second), ago(90*time.Second), "COPY staging.events FROM STDIN"
	s.Backends = append(s.Backends, rewriter, loader)
	for i := range s.Backends {
		if s.Backends[i].PID == 77 {
			s.Backends[i].XactStart = ago(12 * time.Minute)
		}
	}
	third, copyRate := 100.0/3, 1.5e6
	tableSize, rows := int64(4_500_000_000), int64(47_000_000)
	s.Operations = []inspect.Operation{
		{PID: 77, Kind: "autovacuum", Database: "shop", Table: "orders", Phase: "vacuuming indexes", Step: 3, Steps: 7,
			Unit: "indexes", Done: 1, Total: 3, Percent: &third, Detail: "1 index pass so far", Started: ago(12 * time.Minute)},
		{PID: 4501, Kind: "COPY FROM", Database: "shop", Table: "staging.events", Unit: "bytes", Done: 120_000_000,
			PerSecond: &copyRate, Detail: "80000 rows, from pipe", Started: ago(90 * time.Second)},
	}
	s.Rewrites = []inspect.Rewrite{{PID: 4500, Database: "shop", Table: "payments", TableOID: 16600, Rewrites: true,
		Action:    "changes a column's type (a rewrite unless the new type is binary-compatible, e.g. varchar to text)",
		SizeBytes: &tableSize, Rows: &rows, Started: ago(3 * time.Minute),
		Meaning: "It holds ACCESS EXCLUSIVE on the table until it ends: every read and write of the table waits. " +
			"Cancelling it is safe: the new copy is thrown away and the table stays as it was; the lock goes at once.",
		Unknown: "PostgreSQL reports no progress for this statement: how far it has got, and when it will end, cannot be known."}}
	s.Saturation = inspect.ComputeSaturation(s.Server, s.Backends, fixedNow)
	s.LockForest = inspect.BuildForest(s.Backends, fixedNow)
	return s
}
