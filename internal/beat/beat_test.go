package beat

import (
	"testing"
	"time"
)

func newTimer(t *testing.T) (*Timer, chan time.Time) {
	t.Helper()
	fired := make(chan time.Time, 10)
	tm, err := New(func() { fired <- time.Now() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tm.Close() })
	return tm, fired
}

// wentOff waits for the timer to go off and says how long after start.
func wentOff(t *testing.T, fired chan time.Time, start time.Time) time.Duration {
	t.Helper()
	select {
	case at := <-fired:
		return at.Sub(start)
	case <-time.After(5 * time.Second):
		t.Fatal("did not go off")
		return 0
	}
}

// quiet fails if the timer goes off within d.
func quiet(t *testing.T, fired chan time.Time, d time.Duration, why string) {
	t.Helper()
	select {
	case <-fired:
		t.Error("went off " + why)
	case <-time.After(d):
	}
}

func TestGoesOffOnceWhenArmed(t *testing.T) {
	tm, fired := newTimer(t)
	start := time.Now()
	tm.Arm(30 * time.Millisecond)
	if d := wentOff(t, fired, start); d < 30*time.Millisecond {
		t.Errorf("went off after %v, armed for 30ms", d)
	}
	quiet(t, fired, 100*time.Millisecond, "twice for one arming")
}

func TestArmReplacesAndStopCancels(t *testing.T) {
	tm, fired := newTimer(t)
	start := time.Now()
	tm.Arm(20 * time.Millisecond)
	tm.Arm(200 * time.Millisecond) // replaces the first
	if d := wentOff(t, fired, start); d < 200*time.Millisecond {
		t.Errorf("went off after %v: the first arming was not replaced", d)
	}
	tm.Arm(30 * time.Millisecond)
	tm.Stop()
	quiet(t, fired, 150*time.Millisecond, "after Stop")
}

func TestArmNowAndAfterClose(t *testing.T) {
	tm, fired := newTimer(t)
	tm.Arm(0)
	wentOff(t, fired, time.Now())
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	tm.Arm(time.Millisecond) // must not panic or touch a reused descriptor
	quiet(t, fired, 50*time.Millisecond, "after Close")
}
