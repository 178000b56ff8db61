package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults for --timeout. A concurrent build of a big index can take
// hours, and the limit shuts the build's connection too, so the DDL
// actions get a limit that only a wedged server or network reaches.
const (
	defaultTimeout    = 30 * time.Second
	defaultDDLTimeout = 12 * time.Hour
)

// interruptGrace is how long a command that changes nothing on the
// server (a snapshot, a signal) lets a cancel request work after an
// interrupt before it shuts its sockets: a server that answers cancels in
// milliseconds, one that stopped answering never does, and the pgx
// handler's own delay (5s, for the full-screen view) is too long to wait
// at a prompt.
const interruptGrace = time.Second

var errTimedOut = errors.New("the --timeout ran out")

// deadline bounds a command from the outside. A context deadline alone is
// not enough: on a query it only sends a cancel request, which a server
// that stopped answering never acts on. So when the limit passes, every
// socket the command opened is shut, and the error says what the command
// was waiting for, not what pgx made of the closed socket.
type deadline struct {
	limit  time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	grace  time.Duration // after an interrupt; 0: leave it to pgx

	mu      sync.Mutex
	timer   *time.Timer
	left    time.Duration // while paused
	started time.Time
	stage   string
	socks   []net.Conn
}

func newDeadline(parent context.Context, limit, grace time.Duration) *deadline {
	d := &deadline{limit: limit, grace: grace, stage: "the server to accept the connection and set up pgmedic's session"}
	d.ctx, d.cancel = context.WithCancelCause(parent)
	if limit > 0 {
		d.started = time.Now()
		d.timer = time.AfterFunc(limit, func() { d.cancel(errTimedOut) })
	}
	context.AfterFunc(d.ctx, func() {
		switch {
		case d.timedOut():
			d.shut()
		case d.grace > 0:
			time.AfterFunc(d.grace, d.shut)
		}
	})
	return d
}

// stop releases the timer; the command is over.
func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.cancel(nil)
}

// pause stops the clock while pgmedic waits for the user, not the server.
func (d *deadline) pause() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && d.timer.Stop() {
		d.left = d.limit - time.Since(d.started)
	}
}

func (d *deadline) resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && d.left > 0 {
		d.started = time.Now().Add(d.left - d.limit)
		d.timer.Reset(d.left)
		d.left = 0
	}
}

// waitingFor names what the command waits for from now on.
func (d *deadline) waitingFor(what string) {
	d.mu.Lock()
	d.stage = what
	d.mu.Unlock()
}

func (d *deadline) timedOut() bool { return errors.Is(context.Cause(d.ctx), errTimedOut) }

// track makes cfg's connections, and those of its copies, known to d.
func (d *deadline) track(cfg *pgx.ConnConfig) {
	prev := cfg.AfterNetConnect
	cfg.AfterNetConnect = func(ctx context.Context, pc *pgconn.Config, nc net.Conn) (net.Conn, error) {
		if prev != nil {
			var err error
			if nc, err = prev(ctx, pc, nc); err != nil {
				return nil, err
			}
		}
		d.mu.Lock()
		d.socks = append(d.socks, nc)
		d.mu.Unlock()
		if d.timedOut() {
			d.shut()
		}
		return nc, nil
	}
}

func (d *deadline) shut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.socks {
		_ = s.Close() // the read stuck on it is what gets the error
	}
}

// explain replaces whatever a timed-out command failed with by what it
// was waiting for.
func (d *deadline) explain(err error) error {
	if err == nil || !d.timedOut() {
		return err
	}
	d.mu.Lock()
	stage := d.stage
	d.mu.Unlock()
	return fmt.Errorf("timed out after %s waiting for %s; --timeout sets the limit", d.limit, stage)
}
