package tui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
)

// planSource is a source that plans: what the test gives it.
type planSource struct {
	fakeSource
	plan  *inspect.Plan
	err   error
	asked []int
}

func (p *planSource) Explain(_ context.Context, pid int) (*inspect.Plan, error) {
	p.asked = append(p.asked, pid)
	return p.plan, p.err
}

// x in a backend's details plans its statement through the source and
// shows the tree there; a refusal and an error say why; without a plan
// source x says why it does nothing.
func TestExplainKey(t *testing.T) {
	src := &planSource{fakeSource: fakeSource{snap: fixture(3)}, plan: &inspect.Plan{PID: 4101, Source: "EXPLAIN on pgmedic's connection",
		Root: &inspect.PlanNode{NodeType: "Limit", Rows: 1, TotalCost: 2, Children: []*inspect.PlanNode{{NodeType: "Seq Scan",
			Relation: "public.users", Rows: 3_000_000, TotalCost: 58_000, LargeSeqScan: true, TableBytes: 1 << 30,
			Condition: "(users.email = 'a\x1b[31m')"}}}}}
	m := New(src, Options{Now: func() time.Time { return fixedNow }})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(snapshotMsg{gen: m.gen, snap: src.snap})
	press(m, "enter") // the root blocker's details
	if m.detail == nil || m.detail.sel.pid != 4101 {
		t.Fatal("enter did not open the root's details")
	}
	cmd := press(m, "x")
	if cmd == nil {
		t.Fatalf("x did nothing:\n%s", screen(m))
	}
	mustContain(t, m.detail.text, "PLAN", "(planning…)")
	var msg tea.Msg
	for _, c := range flatten(cmd) {
		if pm, ok := c().(planMsg); ok {
			msg = pm
		}
	}
	if msg == nil {
		t.Fatal("x did not ask for a plan")
	}
	m.Update(msg)
	if len(src.asked) != 1 || src.asked[0] != 4101 {
		t.Errorf("asked for %v", src.asked)
	}
	out := screen(m)
	mustContain(t, m.detail.text, "Plan of pid 4101", "Limit  rows≈1", "└─ Seq Scan on public.users  rows≈3.0M",
		"SEQUENTIAL SCAN OF A LARGE TABLE (about 1.0 GB)")
	if strings.ContainsRune(m.detail.text, 0x1b) || strings.ContainsRune(out, 0x1b) {
		t.Errorf("an escape from the plan reached the screen")
	}
	for i, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 120 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}

	// A refusal, and an error, in words.
	src.plan = &inspect.Plan{PID: 4101, Refusal: "it is not a query (it begins with ALTER)"}
	for _, c := range flatten(press(m, "x")) {
		if pm, ok := c().(planMsg); ok {
			m.Update(pm)
		}
	}
	mustContain(t, m.detail.text, "No plan for pid 4101: it is not a query (it begins with ALTER).")
	src.plan, src.err = nil, errors.New("the connection is down")
	for _, c := range flatten(press(m, "x")) {
		if pm, ok := c().(planMsg); ok {
			m.Update(pm)
		}
	}
	mustContain(t, m.detail.text, "(not planned: the connection is down)")

	// A source that cannot plan: x says so, and asks nothing.
	plain := newTestModel(t, fixture(3), 120, 40)
	press(plain, "enter")
	if cmd := press(plain, "x"); cmd != nil || !strings.Contains(screen(plain), "this source cannot plan statements") {
		t.Errorf("x without a plan source:\n%s", screen(plain))
	}
}

// flatten is the command x returned, as a list to run.
func flatten(cmd tea.Cmd) []tea.Cmd {
	if cmd == nil {
		return nil
	}
	return []tea.Cmd{cmd}
}
