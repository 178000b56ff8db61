package inspect

import (
	"testing"
	"time"
)

func TestClassifyIndex(t *testing.T) {
	cases := []struct {
		name string
		ix   Index
		want IndexStatus
	}{
		{"failed during build", Index{Name: "users_email_uq", Live: true}, IndexFailedDuringBuild},
		{"failed after build", Index{Name: "users_email_uq", Live: true, Ready: true}, IndexFailedAfterBuild},
		{"building wins over leftover name", Index{Name: "users_email_idx_ccnew", Live: true, BuildPID: 42}, IndexBuilding},
		{"ccnew leftover", Index{Name: "users_email_idx_ccnew", Live: true}, IndexReindexNew},
		{"ccnew with digit", Index{Name: "users_email_idx_ccnew12", Live: true}, IndexReindexNew},
		{"ccold leftover", Index{Name: "orders_pkey_ccold1", Live: true, Ready: true}, IndexReindexOld},
		{"not a suffix", Index{Name: "ccold_users", Live: true, Ready: true}, IndexFailedAfterBuild},
		{"partitioned", Index{Name: "events_kind_idx", Live: true, Partitioned: true}, IndexPartitionedIncomplete},
		{"dead", Index{Name: "x_idx"}, IndexDropInterrupted},
	}
	for _, c := range cases {
		if got := ClassifyIndex(&c.ix); got != c.want {
			t.Errorf("%s: ClassifyIndex = %s, want %s", c.name, got, c.want)
		}
	}
	if ix := (Index{Unique: true, Ready: true, Live: true}); !ix.RejectsDuplicates() {
		t.Error("a ready invalid unique index still rejects duplicates")
	}
	if ix := (Index{Unique: true, Live: true}); ix.RejectsDuplicates() {
		t.Error("an unready unique index enforces nothing")
	}
}

func TestSaturation(t *testing.T) {
	srv := Server{MaxConnections: 10, Usable: 7}
	backends := []Backend{
		{PID: 1, BackendType: "client backend", State: "active", ApplicationName: "api", User: "app", Database: "shop"},
		{PID: 2, BackendType: "client backend", State: "active", ApplicationName: "api", WaitEventType: "Lock", User: "app", Database: "shop"},
		{PID: 3, BackendType: "client backend", State: "idle in transaction", ApplicationName: "migrate", StateChange: at(time.Minute), XactStart: at(2 * time.Minute)},
		{PID: 4, BackendType: "client backend", State: "idle in transaction (aborted)", ApplicationName: "api"},
		{PID: 5, BackendType: "client backend", State: "idle", ApplicationName: "api"},
		{PID: 6, BackendType: "client backend", State: "active", Own: true, ApplicationName: "pgmedic"},
		{PID: 7, BackendType: "autovacuum worker"},
		{PID: 8, BackendType: "parallel worker", State: "active"},
	}
	s := ComputeSaturation(srv, backends, t0)
	if s.Used != 6 || s.Free != 1 || s.Percent < 85.7 || s.Percent > 85.8 {
		t.Errorf("used %d free %d pct %.2f, want 6 (own included), 1, 85.71", s.Used, s.Free, s.Percent)
	}
	if s.Active != 2 || s.Idle != 1 || s.IdleInTx != 1 || s.IdleInTxAborted != 1 || s.WaitingOnLock != 1 {
		t.Errorf("breakdown %+v", s)
	}
	if s.LongestIdleInTx != time.Minute || s.OldestXact != 2*time.Minute {
		t.Errorf("ages: idle in tx %v, oldest xact %v", s.LongestIdleInTx, s.OldestXact)
	}
	if len(s.ByApplication) != 2 || s.ByApplication[0] != (Count{"api", 4}) || s.ByApplication[1] != (Count{"migrate", 1}) {
		t.Errorf("by application = %v, want api 4, migrate 1 (pgmedic left out)", s.ByApplication)
	}
}

// Builds get their step, percent and an ETA at the rate of the last
// RateWindow, as every operation does.
func TestEstimateBuilds(t *testing.T) {
	r := newRates()
	est := func(bs []IndexBuild, at time.Time) { r.estimateBuilds(bs, at); r.sweep() }
	est([]IndexBuild{{PID: 9, IndexOID: 5, Command: "CREATE INDEX CONCURRENTLY", Phase: "building index: scanning table", BlocksDone: 100, BlocksTotal: 1000}}, t0)
	cur := []IndexBuild{
		{PID: 9, IndexOID: 5, Command: "CREATE INDEX CONCURRENTLY", Phase: "building index: scanning table", BlocksDone: 300, BlocksTotal: 1000},
		{PID: 10, Command: "CREATE INDEX CONCURRENTLY", Phase: "waiting for writers before build", LockersTotal: 1},
	}
	est(cur, t0.Add(2*time.Second))
	b := cur[0]
	if b.Step != 3 || b.Steps != 8 {
		t.Errorf("step %d of %d, want 3 of 8", b.Step, b.Steps)
	}
	if b.Percent == nil || *b.Percent != 30 {
		t.Errorf("percent = %v, want 30", b.Percent)
	}
	// 200 blocks in 2 s = 100 blocks/s; 700 left = 7 s.
	if b.ETASeconds == nil || *b.ETASeconds != 7 {
		t.Errorf("eta = %v, want 7", b.ETASeconds)
	}
	if w := cur[1]; w.Percent != nil || w.ETASeconds != nil || w.Step != 2 {
		t.Errorf("waiting phase: percent %v eta %v step %d, want none, none, 2", w.Percent, w.ETASeconds, w.Step)
	}
	// A counter that went backwards (it reads total/total for a moment
	// when a scan starts) gives no rate.
	back := []IndexBuild{{PID: 9, IndexOID: 5, Command: "CREATE INDEX CONCURRENTLY", Phase: "building index: scanning table", BlocksDone: 50, BlocksTotal: 1000}}
	est(back, t0.Add(3*time.Second))
	if back[0].ETASeconds != nil {
		t.Errorf("eta from a counter that went backwards = %v, want none", *back[0].ETASeconds)
	}
	// A new phase has no rate yet.
	next := []IndexBuild{{PID: 9, IndexOID: 5, Command: "CREATE INDEX CONCURRENTLY", Phase: "index validation: scanning index", BlocksDone: 10, BlocksTotal: 500}}
	est(next, t0.Add(4*time.Second))
	if next[0].ETASeconds != nil || next[0].Step != 5 {
		t.Errorf("new phase: eta %v step %d, want none and 5", next[0].ETASeconds, next[0].Step)
	}
}

func TestVersions(t *testing.T) {
	for in, want := range map[string]int{
		"15.18 (Debian 15.18-0+deb12u1)": 150018,
		"17beta2":                        170000,
		"13.23":                          130023,
		"9.6.24":                         0,
		"":                               0,
	} {
		if got := parseServerVersion(in); got != want {
			t.Errorf("parseServerVersion(%q) = %d, want %d", in, got, want)
		}
	}
	if _, err := CapabilitiesFor(120010); err == nil {
		t.Error("PostgreSQL 12 must be refused")
	} else if want := "PostgreSQL 12.10 is not supported"; err.Error()[:len(want)] != want {
		t.Errorf("error = %q", err)
	}
	c, err := CapabilitiesFor(150018)
	if err != nil || !c.WaitStart || c.ReservedConnections || c.BackendWAL {
		t.Errorf("15.18 capabilities = %+v, %v", c, err)
	}
	if c, _ := CapabilitiesFor(180004); !c.BackendWAL {
		t.Errorf("18 has pg_stat_get_backend_wal(): %+v", c)
	}
	if c, _ := CapabilitiesFor(130023); c.WaitStart || c.TerminateTimeout {
		t.Errorf("13 has no waitstart or terminate timeout: %+v", c)
	}
}

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{
		"users":    "users",
		"Users":    `"Users"`,
		"my table": `"my table"`,
		`we"ird`:   `"we""ird"`,
		"größe":    `"größe"`,
		"1abc":     `"1abc"`,
		"a$1":      "a$1",
	} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSaturationLevel(t *testing.T) {
	for pct, want := range map[float64]string{10: "ok", 74.9: "ok", 75: "HIGH", 89.9: "HIGH", 90: "CRITICAL", 100: "FULL", 130: "FULL"} {
		s := Saturation{Percent: pct}
		if got := s.Level(DefaultWarnPercent); got != want {
			t.Errorf("Level at %.1f%% = %s, want %s", pct, got, want)
		}
	}
	if s := (Saturation{Percent: 80}); s.Level(85) != "ok" {
		t.Error("a raised --warn-at must move the HIGH threshold")
	}
}
