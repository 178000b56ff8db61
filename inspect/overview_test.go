package inspect

import "testing"

// A server's line: the furthest standby's lag on a primary, a standby's
// own replay, the invalid indexes but not the builds, the pooler's queue.
func TestOverview(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	f64 := func(f float64) *float64 { return &f }
	s := &Snapshot{Server: Server{Version: "15.18"}, Saturation: Saturation{Percent: 50, Used: 20, Usable: 40},
		Indexes: []Index{{Status: IndexFailedDuringBuild}, {Status: IndexBuilding}, {Status: IndexFailedDuringBuild}},
		Replication: &Replication{Standbys: []Standby{
			{ReplayLagBytes: i64(10), ReplayLag: f64(90)}, {ReplayLagBytes: i64(3 << 30), ReplayLag: f64(2)}}},
		Pooler: &Pooler{Pools: []Pool{{ClientsWaiting: 12}, {ClientsWaiting: 300}}}}
	l := Overview("prod", "app@db1:5432/shop", s)
	if l.Invalid != 2 || *l.LagBytes != 3<<30 || *l.LagSeconds != 90 || *l.PoolerWaiting != 312 || l.Percent != 50 {
		t.Errorf("primary: %+v", l)
	}
	s.Replication = &Replication{Standby: &StandbyState{ReplayLagBytes: i64(5), ReplayDelaySeconds: f64(40)}}
	s.Server.InRecovery = true
	s.Pooler.Error = "down"
	l = Overview("replica", "", s)
	if !l.InRecovery || *l.LagBytes != 5 || *l.LagSeconds != 40 || l.PoolerWaiting != nil {
		t.Errorf("standby: %+v", l)
	}
}
