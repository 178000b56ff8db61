package beat

import (
	"testing"
	"time"
)

// kinds are the two ways a Timer goes off: New's (a timerfd on Linux)
// and the Go timer it falls back to.
var kinds = []struct {
	name string
	make func(fire func()) *Timer
}{
	{"New", New},
	{"Go timer", func(fire func()) *Timer { return &Timer{fire: fire} }},
}

// each runs test on a timer of every kind.
func each(t *testing.T, test func(t *testing.T, tm *Timer, fired chan time.Time)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			fired := make(chan time.Time, 10)
			tm := k.make(func() { fired <- time.Now() })
			t.Cleanup(func() { tm.Close() })
			test(t, tm, fired)
		})
	}
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
	each(t, func(t *testing.T, tm *Timer, fired chan time.Time) {
		start := time.Now()
		tm.Arm(30 * time.Millisecond)
		if d := wentOff(t, fired, start); d < 30*time.Millisecond {
			t.Errorf("went off after %v, armed for 30ms", d)
		}
		quiet(t, fired, 100*time.Millisecond, "twice for one arming")
	})
}

func TestArmReplacesAndStopCancels(t *testing.T) {
	each(t, func(t *testing.T, tm *Timer, fired chan time.Time) {
		// The armings that must not go off are a second ahead, so that
		// only a stall of a second between two calls could let them.
		start := time.Now()
		tm.Arm(time.Second)
		tm.Arm(1500 * time.Millisecond) // replaces the first
		if d := wentOff(t, fired, start); d < 1500*time.Millisecond {
			t.Errorf("went off after %v: the first arming was not replaced", d)
		}
		tm.Arm(time.Second)
		tm.Stop()
		quiet(t, fired, 1500*time.Millisecond, "after Stop")
	})
}

func TestArmNowAndAfterClose(t *testing.T) {
	each(t, func(t *testing.T, tm *Timer, fired chan time.Time) {
		tm.Arm(0)
		wentOff(t, fired, time.Now())
		if err := tm.Close(); err != nil {
			t.Fatal(err)
		}
		tm.Arm(time.Millisecond) // must not panic or touch a reused descriptor
		quiet(t, fired, 50*time.Millisecond, "after Close")
	})
}

// When the timerfd fails, what it was armed for goes off at once, and the
// timer goes on as a Go timer: the refreshes do not stop.
func TestTimerfdFailureFallsBack(t *testing.T) {
	fired := make(chan time.Time, 10)
	tm := New(func() { fired <- time.Now() })
	t.Cleanup(func() { tm.Close() })
	sys := tm.sys
	if sys == nil {
		t.Skip("no timerfd here: New is a Go timer already, tested above")
	}
	t.Cleanup(func() { sys.close() })
	tm.Arm(time.Hour)
	tm.sysFailed() // as its goroutine does when a read fails
	wentOff(t, fired, time.Now())
	start := time.Now()
	tm.Arm(30 * time.Millisecond)
	if d := wentOff(t, fired, start); d < 30*time.Millisecond {
		t.Errorf("went off after %v, armed for 30ms", d)
	}
	if tm.sys != nil || tm.timer == nil {
		t.Error("after the failure the timer should be a Go timer")
	}
}
