package inspect_test

import (
	"context"
	"strconv"
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

// A quiet primary, then a session loading rows in bulk: the WAL rate is
// a spike, and the loader is named as its likeliest writer.
func TestWALSpikeLive(t *testing.T) {
	inspect.QuickWALBaseline(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := pgtest.Start(t, pgcluster.Options{})
	must(t, c.Exec(ctx, "postgres", "CREATE TABLE big (g int, pad text) WITH (autovacuum_enabled = off)"))
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	must(t, err)
	conn, err := connect.Open(ctx, cfg)
	must(t, err)
	defer conn.Close(context.Background())
	coll, err := inspect.NewCollector(ctx, conn)
	must(t, err)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		s, err := coll.Snapshot(ctx)
		must(t, err)
		if s.Replication != nil && s.Replication.WALSpike != nil {
			t.Fatalf("a spike on a quiet server: %+v", s.Replication.WALSpike)
		}
	}

	loader, err := pgx.Connect(ctx, c.ConnString("postgres", "")+" application_name=bulkload")
	must(t, err)
	defer loader.Close(context.Background())
	loadCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for loadCtx.Err() == nil {
			if _, err := loader.Exec(loadCtx, "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 300000) g"); err != nil {
				return
			}
			if _, err := loader.Exec(loadCtx, "TRUNCATE big"); err != nil {
				return
			}
		}
	}()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		s, err := coll.Snapshot(ctx)
		must(t, err)
		if sp := s.Replication.WALSpike; sp != nil && len(sp.Suspects) > 0 && sp.Suspects[0].PID == int(loader.PgConn().PID()) {
			t.Logf("spike: %.1f MB/s against %.1f MB/s; %+v", sp.BytesPerSecond/(1<<20), sp.BaselineBytesPerSecond/(1<<20), sp.Suspects)
			if sp.Suspects[0].Application != "bulkload" || sp.Suspects[0].Why != "longest write" {
				t.Errorf("suspect %+v", sp.Suspects[0])
			}
			lines := strings.Join(report.ReplicationLines(s.Replication, func(s string) string { return s }), "\n")
			if !strings.Contains(lines, "WAL SPIKE") || !strings.Contains(lines, "likely pid "+strconv.Itoa(sp.Suspects[0].PID)+" (bulkload") {
				t.Errorf("the report does not name the spike's writer:\n%s", lines)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spike naming the loader within a minute: %+v", s.Replication)
		}
	}
}
