package beat

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysTimer is a timerfd, read by its own goroutine through the poller.
type sysTimer struct {
	file *os.File        // non-blocking, so its reads park in the poller
	raw  syscall.RawConn // to set it without racing Close
	done chan struct{}
}

// newSysTimer returns a timerfd that calls fire each time it expires and
// failed if reading it ever fails, or nil when none can be had (a
// sandbox that forbids timerfd_create).
func newSysTimer(fire, failed func()) *sysTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	s := &sysTimer{file: os.NewFile(uintptr(fd), "beat"), done: make(chan struct{})}
	if s.raw, err = s.file.SyscallConn(); err != nil {
		s.file.Close()
		return nil
	}
	go s.loop(fire, failed)
	return s
}

// loop reads each expiry (an 8-byte count) and calls fire, until the file
// is closed or a read fails.
func (s *sysTimer) loop(fire, failed func()) {
	defer close(s.done)
	var buf [8]byte
	for {
		_, err := s.file.Read(buf[:])
		switch {
		case err == nil:
			fire()
		case errors.Is(err, os.ErrClosed):
			return
		default:
			s.file.Close()
			failed()
			return
		}
	}
}

// set sets the relative expiry; 0 disarms. After close it does nothing.
func (s *sysTimer) set(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	// Setting a valid value on an open timerfd cannot fail; Control
	// fails only once the file is closed.
	_ = s.raw.Control(func(fd uintptr) { _ = unix.TimerfdSettime(int(fd), 0, &spec, nil) })
}

func (s *sysTimer) close() error {
	err := s.file.Close() // wakes the pending read with ErrClosed
	<-s.done
	return err
}
