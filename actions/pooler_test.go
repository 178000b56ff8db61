package actions

import (
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/inspect"
)

func TestPlanPooler(t *testing.T) {
	p := &inspect.Pooler{Target: "admin@pool:6432", Pools: []inspect.Pool{
		{Database: "shop", User: "app", ClientsWaiting: 3, ServersActive: 2},
		{Database: "shop", User: "report", ClientsActive: 1},
		{Database: `my "db"`, User: "app"},
		{Database: "ünï cödé db", User: "app", Paused: true},
	}}
	cases := []struct {
		kind    Kind
		db      string
		sql     []string
		refusal string
	}{
		{PoolerPause, "shop", []string{`PAUSE "shop"`}, ""},
		{PoolerResume, "shop", nil, "not paused"},
		{PoolerKill, "shop", []string{`KILL "shop"`, `RESUME "shop"`}, ""},
		{PoolerReconnect, "shop", []string{`RECONNECT "shop"`}, ""},
		{PoolerPause, `my "db"`, nil, "cannot be written"},
		{PoolerResume, "ünï cödé db", []string{`RESUME "ünï cödé db"`}, ""},
		{PoolerPause, "ünï cödé db", nil, "already paused"},
		{PoolerPause, "nosuch", nil, "no pool for database"},
	}
	for _, c := range cases {
		plan := PlanPooler(p, c.kind, c.db)
		if c.refusal != "" {
			if !strings.Contains(plan.Refusal, c.refusal) {
				t.Errorf("%s %q: refusal %q, want it to say %q", c.kind, c.db, plan.Refusal, c.refusal)
			}
			continue
		}
		if !plan.Allowed() {
			t.Errorf("%s %q refused: %s", c.kind, c.db, plan.Refusal)
			continue
		}
		var got []string
		for _, st := range plan.Statements {
			got = append(got, st.Display)
		}
		if strings.Join(got, ";") != strings.Join(c.sql, ";") || plan.Effect == "" || len(plan.Risks) == 0 {
			t.Errorf("%s %q: statements %q, effect %q, risks %q", c.kind, c.db, got, plan.Effect, plan.Risks)
		}
	}
	// Both pools of the database count.
	if pl := PlanPooler(p, PoolerPause, "shop"); pl.Pooler.ClientsActive != 1 || pl.Pooler.ClientsWaiting != 3 || pl.Pooler.ServersActive != 2 {
		t.Errorf("target %+v", pl.Pooler)
	}
	if pl := PlanPooler(nil, PoolerPause, "shop"); pl.Allowed() {
		t.Errorf("a plan without a pooler was allowed")
	}
	stale := *p
	stale.Error = "connection refused"
	if pl := PlanPooler(&stale, PoolerResume, "ünï cödé db"); pl.Allowed() {
		t.Errorf("a plan on a pooler that cannot be read was allowed")
	}
}
