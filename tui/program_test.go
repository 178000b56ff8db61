package tui

import (
	"context"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
)

// In a real Bubble Tea program, with the terminal replaced by a counter:
// each refresh writes one frame, and nothing else does. The renderer
// skips a frame equal to the last, so this counts frames that changed.
func TestOneFramePerRefreshInAProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a program for two seconds")
	}
	out := &countingWriter{}
	src := &clockedSource{}
	m := New(src, Options{Interval: minInterval, Theme: "dark"})
	p := tea.NewProgram(m, tea.WithInput(nil), tea.WithOutput(out), tea.WithWindowSize(200, 60),
		tea.WithEnvironment([]string{"TERM=xterm-256color"}))
	done := make(chan struct{})
	var writes, refreshes int
	go func() {
		defer close(done)
		time.Sleep(500 * time.Millisecond) // the first frames, before and after the first snapshot
		w0, r0 := out.count(), src.count()
		time.Sleep(2 * time.Second)
		writes, refreshes = out.count()-w0, src.count()-r0
		p.Quit()
	}()
	if _, err := p.Run(); err != nil {
		t.Fatal(err)
	}
	<-done
	if refreshes < 2 || writes > refreshes+1 {
		t.Errorf("%d frames written for %d refreshes, want at most one each", writes, refreshes)
	}
}

type countingWriter struct {
	mu     sync.Mutex
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return len(p), nil
}

func (c *countingWriter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// clockedSource is the incident at 600 backends, the server's clock a
// second later at each refresh, so every age on screen changes.
type clockedSource struct {
	mu sync.Mutex
	n  int
}

func (s *clockedSource) Snapshot(context.Context) (*inspect.Snapshot, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	f := fixture(600)
	f.ServerTime = f.ServerTime.Add(time.Duration(n) * time.Second)
	return f, nil
}

func (s *clockedSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *clockedSource) Target() string { return "app@db1.internal:5432/shop" }
