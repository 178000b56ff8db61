package beat

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type impl struct {
	file *os.File        // the timerfd, non-blocking, so reads park in the poller
	raw  syscall.RawConn // to set it without racing Close
	done chan struct{}
}

func (t *Timer) start() error {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("timerfd_create: %w", err)
	}
	t.file, t.done = os.NewFile(uintptr(fd), "beat"), make(chan struct{})
	if t.raw, err = t.file.SyscallConn(); err != nil {
		t.file.Close()
		return fmt.Errorf("timerfd: %w", err)
	}
	go t.loop()
	return nil
}

// loop reads each expiry (an 8-byte count) and calls fire, until the file
// is closed.
func (t *Timer) loop() {
	defer close(t.done)
	var buf [8]byte
	for {
		_, err := t.file.Read(buf[:])
		switch {
		case err == nil:
			t.fire()
		case errors.Is(err, os.ErrClosed):
			return
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			// Re-armed between the poller's wake-up and the read.
		default:
			return
		}
	}
}

// arm sets the relative expiry; 0 disarms. After Close it does nothing.
func (t *Timer) arm(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	// Setting a valid value on an open timerfd cannot fail; Control
	// fails only once the file is closed.
	_ = t.raw.Control(func(fd uintptr) { _ = unix.TimerfdSettime(int(fd), 0, &spec, nil) })
}

func (t *Timer) close() error {
	err := t.file.Close() // wakes the pending read with ErrClosed
	<-t.done
	return err
}
