package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// poolerFixture is the seed incident seen from PgBouncer: the app's pool
// has every server connection busy, 18 of them behind pid 4101, and 312
// clients queued; the report pool is fine; a batch database is paused.
func poolerFixture() *inspect.Snapshot {
	s := fixture(12)
	p := &inspect.Pooler{Target: "admin@pool1:6432", Version: "PgBouncer 1.18.0", ReadAt: fixedNow,
		Pools: []inspect.Pool{
			{Database: "shop", User: "app", Mode: "transaction", ClientsActive: 20, ClientsWaiting: 312, MaxWaitSeconds: 14.2,
				ServersActive: 20, PoolSize: 20, ServersWaitingOnLock: 18, Behind: []inspect.PoolBlocker{{PID: 4101, Servers: 18}}},
			{Database: "shop", User: "report", Mode: "session", ClientsActive: 2, ServersActive: 2, ServersIdle: 3, PoolSize: 10},
			{Database: "batch\x1b[31m", User: "etl", Mode: "transaction", PoolSize: 5, Paused: true},
		}}
	for i := 0; i < 20; i++ {
		sv := inspect.PoolConn{User: "app", Database: "shop", State: "active", RemotePID: 4200 + i,
			Backend: &inspect.PoolBackend{State: "active", WaitEvent: "Lock:relation", Root: 4101}}
		if i >= 18 {
			sv.Backend = &inspect.PoolBackend{State: "active"}
		}
		p.Servers = append(p.Servers, sv)
	}
	for i := 0; i < 312; i++ {
		p.Clients = append(p.Clients, inspect.PoolConn{User: "app", Database: "shop", State: "waiting",
			Addr: "10.0.3.7", Port: 40000 + i, WaitSeconds: 14.2 - float64(i)/100, Application: "api"})
	}
	s.Pooler = p
	return s
}

// The pool in trouble is a Triage line that names the queue and its
// cause, and points at the blocker; a paused pool is one too.
func TestPoolerFindings(t *testing.T) {
	s := poolerFixture()
	var texts []string
	var toBlocker bool
	keys := DefaultKeyMap()
	for _, f := range findings(s, 75, &keys) {
		if f.label == "PGBOUNCER" {
			texts = append(texts, f.text)
			toBlocker = toBlocker || f.target.pid == 4101
		}
	}
	all := strings.Join(texts, "\n")
	mustContain(t, all, "312 clients wait up to 14s for pool shop/app; all 20 server connections busy, 18 of them behind pid 4101",
		"is PAUSED")
	if strings.Contains(all, "report") || strings.Contains(all, "\x1b") {
		t.Errorf("a pool that is fine, or a raw escape, in the findings:\n%q", all)
	}
	if !toBlocker {
		t.Errorf("the finding does not point at the blocker")
	}
}

// The PgBouncer view at every size: no line wider than the terminal.
func TestGoldenPooler(t *testing.T) {
	for _, size := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := newTestModel(t, poolerFixture(), size[0], size[1])
			press(m, "7")
			out := screen(m)
			fitsWidth(t, out, size[0])
			golden.RequireEqual(t, out)
		})
	}
}

// Without --pgbouncer there is no tab; its key says how to get one.
func TestPoolerViewWithout(t *testing.T) {
	m := newTestModel(t, fixture(3), 120, 40)
	if strings.Contains(m.tabs(), "PgBouncer") {
		t.Errorf("a PgBouncer tab without a pooler: %q", m.tabs())
	}
	press(m, "tab", "tab", "tab", "tab", "tab", "tab")
	if m.active != 0 {
		t.Errorf("tab went to view %d, want back to Triage past the hidden view", m.active+1)
	}
	press(m, "7")
	mustContain(t, screen(m), "No PgBouncer: start pgmedic with --pgbouncer DSN")
}

// P on a pool opens the dialog with the admin command; y runs it. The
// keys do nothing read-only, and say where they apply elsewhere.
func TestPoolerActionKeys(t *testing.T) {
	exec := &fakeExecutor{}
	m := withExecutor(t, poolerFixture(), exec, false)
	press(m, "2", "P")
	mustContain(t, screen(m), "P: select a pool first")
	press(m, "7", "P")
	if m.life.stage != confirming {
		t.Fatalf("P opens no dialog:\n%s", screen(m))
	}
	mustContain(t, screen(m), `PAUSE "shop"`, "clients stay connected", "[y] yes, run it")
	runAll(m, press(m, "y"))
	if len(exec.ran) != 1 || exec.ran[0].Kind != actions.PoolerPause || exec.ran[0].Pooler.Database != "shop" {
		t.Fatalf("ran %+v", exec.ran)
	}
	press(m, "U") // shop is not paused
	mustContain(t, screen(m), "REFUSED:", "is not paused")
	press(m, "esc", "X")
	mustContain(t, screen(m), `KILL "shop"`, `RESUME "shop"`)
	press(m, "esc")

	ro := withExecutor(t, poolerFixture(), exec, true)
	k := &ro.c.keys
	press(ro, "7")
	for _, b := range []string{k.PoolerPause.Keys()[0], k.PoolerResume.Keys()[0], k.PoolerKill.Keys()[0], k.PoolerReconnect.Keys()[0]} {
		press(ro, b)
		if ro.life.stage != idle {
			t.Fatalf("read-only: %s opened a dialog", b)
		}
		mustContain(t, screen(ro), b+": read-only")
	}
}

// A PgBouncer pool whose server connections fill steadily is forecast in
// the header and on Triage, where P can act on its database.
func TestPoolerForecastOnScreen(t *testing.T) {
	m := New(&fakeSource{snap: fixture(3)}, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 30})
	for sec := 0; sec <= 240; sec++ {
		s := fixture(3)
		s.ServerTime = fixedNow.Add(time.Duration(sec) * time.Second)
		s.Pooler = &inspect.Pooler{Pools: []inspect.Pool{{Database: "shop", User: "app", PoolSize: 40, ServersActive: 10 + sec/12}}}
		m.Update(snapshotMsg{gen: m.gen, snap: s})
	}
	frame := screen(m)
	mustContain(t, frame, "pgbouncer full in ~2m (+5/min)",
		"FILLING", "PgBouncer pool shop/app: every server connection busy in ~2m (+5/min); 30 of 40 in use")
	for _, f := range m.panes[0].(*triage).rows {
		if f.key == "forecast:pgbouncer" && f.target.poolDB != "shop" {
			t.Errorf("the forecast points at %+v, want the database shop", f.target)
		}
	}
}
