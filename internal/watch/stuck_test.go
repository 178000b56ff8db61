package watch

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
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
	c := pgtest.Start(t, pgcluster.Options{})
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

// pendingSignal reports whether sig waits for a stopped process.
func pendingSignal(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("cannot read the backend's pending signals: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	t.Skip("no ShdPnd in /proc/PID/status")
	return false
}

// When pgmedic's backend stops answering, the refresh gives up and the
// next one reconnects; the stuck session, which still holds a slot, is
// terminated before the new session reads anything, and the pool gauge
// counts it as pgmedic's, not as the application's.
func TestReconnectEndsTheStuckSession(t *testing.T) {
	c := pgtest.Start(t, pgcluster.Options{})
	cfg, err := connect.Config(connect.Options{DBName: c.ConnString("postgres", "")})
	if err != nil {
		t.Fatal(err)
	}
	src := New(cfg, false)
	defer src.Close()
	first, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stuck := first.Server.OwnPID
	stopBackend(t, stuck)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err = src.Snapshot(ctx)
	cancel()
	if err == nil {
		t.Fatal("a refresh against a stopped backend succeeded")
	}
	ctx, cancel = context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	again, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatalf("the next refresh should reconnect: %v", err)
	}
	if again.Server.OwnPID == stuck {
		t.Fatal("still on the stopped backend")
	}
	// Stopped, it cannot act on the signal yet; it must have been sent.
	if !pendingSignal(t, stuck, syscall.SIGTERM) {
		t.Error("the stuck session was not terminated before the new one read")
	}
	old := again.Backend(stuck)
	if old == nil {
		t.Fatal("the stopped backend is not in pg_stat_activity")
	}
	if !old.Own {
		t.Error("the stuck session is not counted as pgmedic's own")
	}
	for _, b := range again.Backends {
		if b.ApplicationName == "pgmedic" && b.IsClient() && !b.Own {
			t.Errorf("pgmedic session %d counted as the application's", b.PID)
		}
	}
	for _, a := range again.Saturation.ByApplication {
		if a.Key == "pgmedic" {
			t.Errorf("the pool gauge counts %d pgmedic session(s) as the application's", a.N)
		}
	}
}
