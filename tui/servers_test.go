package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
)

type fakeServers struct {
	names []string
	reads int
	skip  string
}

func (f *fakeServers) Servers() []string { return f.names }

func (f *fakeServers) Overview(_ context.Context, skip string) []inspect.ServerLine {
	f.reads++
	f.skip = skip
	lag := int64(3 << 30)
	pgb := 312
	return []inspect.ServerLine{
		{Name: "prod-primary"},
		{Name: "prod-replica", Version: "15.18", InRecovery: true, Percent: 12, Used: 5, Usable: 40, LagBytes: &lag},
		{Name: "billing\x1b[2J", Error: "cannot connect to billing:5432: the connection was refused"},
		{Name: "analytics", Percent: 96, Used: 48, Usable: 50, RootBlockers: 1, Waiting: 40, LongestWait: 125, Invalid: 2, PoolerWaiting: &pgb},
		{Name: "audit", Error: "the password was rejected", NeedsPassword: true},
	}
}

// c lists the servers with a line each, the one on screen from its own
// snapshot and never read twice; enter on another ends the program for
// the caller to switch; without other servers c says how to add some.
func TestServerList(t *testing.T) {
	list := &fakeServers{names: []string{"prod-primary", "prod-replica", "billing\x1b[2J", "analytics", "audit"}}
	s := fixture(12)
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Servers: list, ServerName: "prod-primary"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	cmd := press(m, "c")
	if m.servers == nil || cmd == nil {
		t.Fatal("c opened no list, or read nothing")
	}
	m.Update(cmd())
	if list.reads != 1 || list.skip != "prod-primary" {
		t.Errorf("read %d times, skipping %q", list.reads, list.skip)
	}
	out := screen(m)
	mustContain(t, out, "SERVERS  5", "audit          PASSWORD enter asks for it · the password was rejected", "● prod-primary", "primary", "prod-replica", "standby", "3.0 GB", "DOWN", "connection was refused",
		"analytics", "96% 48/50", "1·40·2m05s", "312", `billing\x1b[2J`)
	for i, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 120 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
	press(m, "enter") // on the server on screen: nothing
	mustContain(t, screen(m), "this is the server on screen")
	press(m, "down")
	_, quit := m.Update(keyMsg("enter"))
	if m.SwitchTo() != "prod-replica" || quit == nil {
		t.Fatalf("enter on prod-replica: switch to %q", m.SwitchTo())
	}
	if _, ok := quit().(tea.QuitMsg); !ok {
		t.Errorf("switching does not end the program")
	}

	one := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Servers: &fakeServers{names: []string{"prod"}}, ServerName: "prod"})
	one.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	one.Update(snapshotMsg{gen: one.gen, snap: s})
	press(one, "c")
	mustContain(t, screen(one), "c: no other server: give --server")
}

// The notice a session opens with (a switch that did not happen) is on
// screen, made safe, for as long as an action's result.
func TestSessionNotice(t *testing.T) {
	s := fixture(12)
	now := fixedNow
	m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return now }, Notice: "could not switch to bad\x1b[2J: invalid port"})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Init()
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	mustContain(t, screen(m), `could not switch to bad\x1b[2J: invalid port`)
	now = now.Add(59 * time.Second)
	m.Update(snapshotMsg{gen: m.gen, snap: s})
	mustContain(t, screen(m), "could not switch to")
}
