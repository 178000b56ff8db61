package watch

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// hangBound only stops a broken test from hanging the suite; nothing here
// depends on how fast the machine is.
const hangBound = 60 * time.Second

// stopBackend freezes a backend with SIGSTOP (tests run as root, the
// server as another user) until the test ends: a server that accepted the
// connection, then stopped answering.
func stopBackend(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Skipf("cannot stop backend %d: %v", pid, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// Closing the source does not wait for a refresh stuck on a server that
// stopped answering: the refresh has no deadline of its own here, so
// without Close shutting the socket both would wait for good.
func TestCloseDoesNotWaitForAStuckServer(t *testing.T) {
	c := pgcluster.StartForTest(t, pgcluster.Options{})
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	ctx := context.Background()
	first, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopBackend(t, first.Server.OwnPID)

	refreshed := make(chan error, 1)
	go func() {
		_, err := src.Snapshot(ctx)
		refreshed <- err
	}()
	closed := make(chan struct{})
	go func() {
		src.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(hangBound):
		t.Fatal("Close waited for the stuck refresh")
	}
	select {
	case err := <-refreshed:
		if err == nil {
			t.Error("the refresh against a stopped backend succeeded")
		}
	case <-time.After(hangBound):
		t.Fatal("the stuck refresh never returned after Close")
	}
	if _, err := src.Snapshot(ctx); err == nil {
		t.Error("a closed source reconnected")
	}
}
