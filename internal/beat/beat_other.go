//go:build !linux

package beat

import (
	"sync"
	"time"
)

// Elsewhere a Go timer does the job.
type impl struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

func (t *Timer) start() error {
	t.timer = time.AfterFunc(time.Hour, t.fire)
	t.timer.Stop()
	return nil
}

func (t *Timer) arm(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if d == 0 {
		t.timer.Stop()
		return
	}
	t.timer.Reset(d)
}

func (t *Timer) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.timer.Stop()
	return nil
}
