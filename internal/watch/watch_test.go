package watch

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// A disconnect is reported in words, and the next refresh reconnects:
// pgmedic keeps running through it.
func TestReconnectAfterTermination(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	ctx := context.Background()
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	defer src.Close()
	if err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(src.Target(), "postgres@socket ") || !strings.HasSuffix(src.Target(), "/postgres") {
		t.Errorf("target = %q", src.Target())
	}
	// Someone terminates pgmedic's session.
	if err := c.Exec(ctx, "postgres", "SELECT pg_terminate_backend("+itoa(first.Server.OwnPID)+")"); err != nil {
		t.Fatal(err)
	}
	_, err = src.Snapshot(ctx)
	if err == nil {
		t.Fatal("a snapshot over a terminated session should fail")
	}
	if msg := err.Error(); !strings.Contains(msg, "our session was terminated") && !strings.Contains(msg, "lost the connection") {
		t.Errorf("error = %q, want it explained", msg)
	}
	again, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatalf("the next refresh should reconnect: %v", err)
	}
	if again.Server.OwnPID == first.Server.OwnPID {
		t.Error("reconnected with the same backend pid")
	}
	// pg_terminate_backend() only signals: the old backend can still be
	// on its way out when the new one connects. Count once it has left.
	for deadline := time.Now().Add(time.Minute); again.Backend(first.Server.OwnPID) != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("the terminated session %d never left pg_stat_activity", first.Server.OwnPID)
		}
		time.Sleep(20 * time.Millisecond)
		if again, err = src.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var ours int
	for _, b := range again.Backends {
		if b.ApplicationName == "pgmedic" && b.IsClient() {
			ours++
		}
	}
	if ours != 1 {
		t.Errorf("%d pgmedic sessions after reconnecting, want exactly 1", ours)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
