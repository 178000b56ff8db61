// Package beat is a one-shot timer that can be re-armed, for the refresh
// loop: it calls a function at the armed time, from its own goroutine.
//
// On Linux it is a timerfd read through Go's network poller rather than a
// Go timer. The poller sleeps for timers in whole milliseconds
// (epoll_wait), so a Go timer wakes the process up to a millisecond late,
// and Go's system monitor, which wakes on time, polls every 20 µs until
// the program catches up. On a 2-core VM, where a wake-up costs 20-30 µs,
// the monitor's CPU at one refresh a second fell from 340-360 to 220-260
// µs a second with a timerfd, which wakes the poller at its time.
//
// Elsewhere, or where the timerfd cannot be had or stops working, it is a
// Go timer: the refreshes never stop for want of a timer.
package beat

import (
	"sync"
	"time"
)

// Timer calls fire each time it goes off. Arm, Stop and Close may be
// called from any goroutine.
type Timer struct {
	fire func()

	mu     sync.Mutex
	sys    *sysTimer   // the timerfd; nil where there is none, or once it failed
	timer  *time.Timer // otherwise
	closed bool
}

// New starts a timer that calls fire each time it goes off; it is stopped
// until armed. Close releases it.
func New(fire func()) *Timer {
	t := &Timer{fire: fire}
	t.sys = newSysTimer(fire, t.sysFailed) // nil when there is none
	return t
}

// Arm sets the timer to go off once, d from now, replacing any earlier
// setting; d <= 0 goes off at once.
func (t *Timer) Arm(d time.Duration) { t.set(max(d, time.Nanosecond)) }

// Stop keeps the timer from going off until it is armed again.
func (t *Timer) Stop() { t.set(0) }

// set arms the timer for d, or stops it when d is 0.
func (t *Timer) set(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
	case t.sys != nil:
		t.sys.set(d)
	case t.timer == nil && d > 0:
		t.timer = time.AfterFunc(d, t.fire)
	case t.timer == nil:
	case d == 0:
		t.timer.Stop()
	default:
		t.timer.Reset(d)
	}
}

// sysFailed is called, from the timerfd's goroutine, when reading it
// failed: it has ended, and what it was armed for is lost, so the timer
// goes off now and goes on as a Go timer from the next arming.
func (t *Timer) sysFailed() {
	t.mu.Lock()
	closed := t.closed
	t.sys = nil
	t.mu.Unlock()
	if !closed {
		t.fire()
	}
}

// Close stops the timer for good and ends its goroutine.
func (t *Timer) Close() error {
	t.mu.Lock()
	t.closed = true
	sys := t.sys
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	if sys != nil {
		return sys.close()
	}
	return nil
}
