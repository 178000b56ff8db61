package inspect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/report"
)

// A real streaming standby whose replay is paused while the primary writes,
// and a slot nobody uses: the primary sees the standby's replay lag in
// bytes, the slot's retained WAL and its own WAL rate; the standby sees
// its paused replay, what it received and has not replayed, and its
// receiver streaming.
func TestReplicationLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary := pgtest.Start(t, pgcluster.Options{})
	standby := pgtest.StartStandby(t, primary)
	collector := func(c *pgcluster.Cluster) *inspect.Collector {
		cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
		must(t, err)
		conn, err := connect.Open(ctx, cfg)
		must(t, err)
		t.Cleanup(func() { conn.Close(context.Background()) })
		coll, err := inspect.NewCollector(ctx, conn)
		must(t, err)
		return coll
	}
	onPrimary, onStandby := collector(primary), collector(standby)

	must(t, primary.Exec(ctx, "postgres", "SELECT pg_create_physical_replication_slot('stuck_slot', true)"))
	must(t, standby.Exec(ctx, "postgres", "SELECT pg_wal_replay_pause()"))
	_, err := onPrimary.Snapshot(ctx) // the WAL position before the writes
	must(t, err)
	time.Sleep(100 * time.Millisecond)
	must(t, primary.Exec(ctx, "postgres", "CREATE TABLE w AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 100000) g"))

	var s *inspect.Snapshot
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		s, err = onPrimary.Snapshot(ctx)
		must(t, err)
		r := s.Replication
		if r != nil && len(r.Standbys) == 1 && r.Standbys[0].FlushLagBytes != nil && *r.Standbys[0].FlushLagBytes == 0 &&
			r.Standbys[0].ReplayLagBytes != nil && *r.Standbys[0].ReplayLagBytes > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the primary never saw its standby flushed and behind in replay: %+v", r)
		}
	}
	r := s.Replication
	sb := r.Standbys[0]
	if sb.State != "streaming" || sb.SyncState != "async" || sb.SentLagBytes == nil || *sb.SentLagBytes != 0 || r.LSN == "" {
		t.Errorf("the standby as the primary sees it: %+v (lsn %q)", sb, r.LSN)
	}
	if r.WALBytesPerSecond == nil || *r.WALBytesPerSecond <= 0 {
		t.Errorf("WAL rate across 10 MB of writes: %v", r.WALBytesPerSecond)
	}
	if len(r.Slots) != 1 || r.Slots[0].Name != "stuck_slot" || r.Slots[0].Active || r.Slots[0].Type != "physical" ||
		r.Slots[0].RetainedBytes == nil || *r.Slots[0].RetainedBytes < 1<<20 || r.Slots[0].WALStatus == "" {
		t.Errorf("the unused slot: %+v", r.Slots)
	}
	if r.Standby != nil {
		t.Errorf("the primary reads as a standby: %+v", r.Standby)
	}
	var text strings.Builder
	must(t, report.Text(&text, s, report.Options{}))
	for _, want := range []string{"REPLICATION: 1 standby(s), 1 slot(s), WAL written at", "streaming async: behind by sent 0 bytes",
		"slot stuck_slot (physical) INACTIVE: retains"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}

	ss, err := onStandby.Snapshot(ctx)
	must(t, err)
	st := ss.Replication.Standby
	if !ss.Server.InRecovery || st == nil || !st.ReplayPaused || st.ReplayLagBytes == nil || *st.ReplayLagBytes < 1<<20 ||
		st.Receiver != "streaming" || st.HotStandbyFeedback || st.ReceiveLSN == "" || len(ss.Replication.Standbys) != 0 {
		t.Fatalf("the standby's replay: in recovery %v, %+v", ss.Server.InRecovery, st)
	}
	text.Reset()
	must(t, report.Text(&text, ss, report.Options{}))
	if !strings.Contains(text.String(), "REPLICATION: this server is a standby: replay PAUSED") ||
		!strings.Contains(text.String(), "receiver streaming") {
		t.Errorf("the standby's report:\n%s", text.String())
	}
	// The slot is the primary's: a standby's own list is its own.
	if len(ss.Replication.Slots) != 0 {
		t.Errorf("slots on the standby: %+v", ss.Replication.Slots)
	}

	must(t, standby.Exec(ctx, "postgres", "SELECT pg_wal_replay_resume()"))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		ss, err = onStandby.Snapshot(ctx)
		must(t, err)
		if st := ss.Replication.Standby; !st.ReplayPaused && st.ReplayLagBytes != nil && *st.ReplayLagBytes == 0 {
			if st.ReplayDelaySeconds != nil {
				t.Errorf("a caught-up standby has a replay delay: %v", *st.ReplayDelaySeconds)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay never caught up: %+v", ss.Replication.Standby)
		}
	}
}

// A standby whose replay waits for its own sessions, as when a report
// runs on a replica that lets it (max_standby_streaming_delay = -1). A
// vacuum's cleanup waits for the report's snapshot: its holder is the
// oldest transaction there. The primary's ACCESS EXCLUSIVE lock waits for
// a session's lock: the server names the holder, though an older
// transaction is open.
func TestReplayHeldByStandbySession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary := pgtest.Start(t, pgcluster.Options{Settings: map[string]string{"max_standby_streaming_delay": "-1"}})
	must(t, primary.Exec(ctx, "postgres", "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, 0 FROM generate_series(1, 1000) g"))
	standby := pgtest.StartStandby(t, primary)
	cfg, err := connect.Config(connect.Options{DBName: standby.ConnString("postgres", "")})
	must(t, err)
	conn, err := connect.Open(ctx, cfg)
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	onStandby, err := inspect.NewCollector(ctx, conn)
	must(t, err)
	session := func(sql string) (*pgx.Conn, int) {
		c, err := pgx.Connect(ctx, standby.ConnString("postgres", "")+" application_name=reporting")
		must(t, err)
		t.Cleanup(func() { c.Close(context.Background()) })
		_, err = c.Exec(ctx, sql)
		must(t, err)
		time.Sleep(20 * time.Millisecond) // distinct transaction starts
		return c, int(c.PgConn().PID())
	}
	waitFor := func(what string, pid int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			s, err := onStandby.Snapshot(ctx)
			must(t, err)
			// A lock's holders are read in the refresh after the wait
			// is first seen.
			if st := s.Replication.Standby; st != nil && st.ReplayWaits == what && (what == "" || len(st.ReplayHeldBy) > 0) {
				if what != "" && st.ReplayHeldBy[0] != pid {
					t.Errorf("replay waits on a %s held by %v, want pid %d first", what, st.ReplayHeldBy, pid)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("replay never waited on a %s (want held by %d): %+v", what, pid, s.Replication.Standby)
			}
		}
	}

	old, oldPID := session("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t")
	session("BEGIN; SELECT 1") // younger than old, older than the lock's holder
	must(t, primary.Exec(ctx, "postgres", "UPDATE t SET v = v + 1"))
	must(t, primary.Exec(ctx, "postgres", "VACUUM t"))
	waitFor("snapshot", oldPID)
	_, err = old.Exec(ctx, "COMMIT")
	must(t, err)
	waitFor("", 0)

	_, holderPID := session("BEGIN; SELECT count(*) FROM t")
	must(t, primary.Exec(ctx, "postgres", "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; COMMIT"))
	waitFor("lock", holderPID)
}
