package tui

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/colorprofile"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/terminal"
)

// In the real program (Bubble Tea reading keys, internal/terminal
// drawing), with the terminal replaced by a counter: each refresh writes
// one frame and nothing else writes, and a source whose data never
// changes costs no write at all after the first frame.
func TestOneFramePerRefreshInAProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a program for two seconds")
	}
	for _, tc := range []struct {
		name     string
		src      countedSource
		min, max func(refreshes int) int
	}{
		{"ages change", &clockedSource{}, func(r int) int { return r - 1 }, func(r int) int { return r + 1 }},
		{"nothing changes", &clockedSource{still: true}, func(int) int { return 0 }, func(int) int { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &countingWriter{}
			m := New(tc.src, Options{Interval: MinInterval, Theme: "dark"})
			scr := terminal.New(out, colorprofile.ANSI256)
			if err := scr.Open(200, 60); err != nil {
				t.Fatal(err)
			}
			p, _ := program(m, scr, nil, 200, 60, colorprofile.ANSI256, []string{"TERM=xterm-256color"})
			done := make(chan struct{})
			var writes, refreshes int
			go func() {
				defer close(done)
				// Counted in refreshes, not seconds, so that a busy machine
				// changes only how long it takes. A second snapshot is
				// asked for only after the first one's frame is drawn.
				refreshed := func(n int) {
					for i := 0; i < 6000 && tc.src.count() < n; i++ { // a minute bounds a hang
						time.Sleep(10 * time.Millisecond)
					}
				}
				refreshed(2)
				w0, r0 := out.count(), tc.src.count()
				refreshed(r0 + 6)
				writes, refreshes = out.count()-w0, tc.src.count()-r0
				p.Quit()
			}()
			if _, err := p.Run(); err != nil {
				t.Fatal(err)
			}
			<-done
			if refreshes < 2 || writes < tc.min(refreshes) || writes > tc.max(refreshes) {
				t.Errorf("%d frames written for %d refreshes, want %d to %d", writes, refreshes, tc.min(refreshes), tc.max(refreshes))
			}
		})
	}
}

type countedSource interface {
	Source
	count() int
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
// second later at each refresh, so every age on screen changes; or, still,
// the same snapshot every time.
type clockedSource struct {
	mu    sync.Mutex
	n     int
	still bool
}

func (s *clockedSource) Snapshot(context.Context) (*inspect.Snapshot, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	f := fixture(600)
	if !s.still {
		f.ServerTime = f.ServerTime.Add(time.Duration(n) * time.Second)
	}
	return f, nil
}

func (s *clockedSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *clockedSource) Target() string { return "app@db1.internal:5432/shop" }
