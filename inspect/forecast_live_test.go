package inspect_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
)

// The early warning on a real server: a flat minute, then a connection
// every 6 seconds (10 a minute) until the warning fires. It must stay
// quiet while use is flat, and when it fires, two minutes of that growth
// (20 slots) must still be free. It asserts on slot counts, not on the
// clock, so a slow machine makes it slower, not flaky.
func TestForecastLive(t *testing.T) {
	if testing.Short() {
		t.Skip("takes three minutes of real time")
	}
	t.Parallel()
	ctx := context.Background()
	l := newLab(t, map[string]string{"max_connections": "50", "superuser_reserved_connections": "3"})
	conn, _ := l.monitor(t, "postgres", "")
	c, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	var pool []*pgx.Conn
	t.Cleanup(func() {
		for _, p := range pool {
			p.Close(ctx)
		}
	})
	open := func() {
		p, err := pgx.Connect(ctx, l.c.ConnString("postgres", "")+" application_name='app'")
		if err != nil {
			t.Fatalf("connection %d: %v", len(pool)+1, err)
		}
		pool = append(pool, p)
	}
	for range 5 {
		open()
	}
	h := inspect.NewHistory(15 * time.Minute)
	start := time.Now()
	nextOpen := start.Add(time.Minute) // the flat minute
	for {
		s, err := c.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.Add(inspect.SampleOf(s))
		f, ok := inspect.PoolForecast(h.Samples())
		growing := !time.Now().Before(start.Add(time.Minute))
		switch {
		case ok && !growing:
			t.Fatalf("forecast while use was flat at %d: %+v", s.Saturation.Used, f)
		case ok:
			free := s.Saturation.Usable - s.Saturation.Used
			t.Logf("warned with %d of %d slots used (%d free), %.1f/min, full in %s",
				s.Saturation.Used, s.Saturation.Usable, free, f.PerMinute, f.FullIn.Round(time.Second))
			if free < 20 {
				t.Fatalf("the warning came with only %d slots free: less than two minutes at 10 a minute", free)
			}
			if f.PerMinute < 4 || f.PerMinute > 14 { // the window still holds some of the flat minute
				t.Errorf("growth measured at %.1f/min; connections came at 10/min", f.PerMinute)
			}
			return
		case s.Saturation.Used >= s.Saturation.Usable-1:
			t.Fatalf("the pool filled (%d of %d) with no warning", s.Saturation.Used, s.Saturation.Usable)
		}
		if time.Now().After(nextOpen) {
			open()
			nextOpen = nextOpen.Add(6 * time.Second)
		}
		time.Sleep(time.Second)
	}
}
