package tui

import (
	"fmt"
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/terminal"
)

// benchModel is a 200×60 model of the incident with n queued readers,
// showing view v.
func benchModel(b *testing.B, n int, keys []string) *Model {
	m := newTestModel(b, fixture(n), 200, 60)
	press(m, keys...)
	return m
}

// View must cost the same for 50 rows as for 5,000: only the visible
// window is drawn.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{50, 5000} {
		for _, v := range views {
			b.Run(fmt.Sprintf("%s/%d", v.name, n), func(b *testing.B) {
				m := benchModel(b, n, v.keys)
				b.ReportAllocs()
				for b.Loop() {
					_ = m.View()
				}
			})
		}
	}
}

// A key press is one Update and one View; moving down and up keeps the
// cursor inside a 5,000-row list however long the loop runs.
func BenchmarkKeyToFrame(b *testing.B) {
	for _, v := range views[:4] {
		b.Run(v.name, func(b *testing.B) {
			m := benchModel(b, 5000, v.keys)
			keys := [2]tea.KeyPressMsg{keyMsg("down"), keyMsg("up")}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m.Update(keys[i%2])
				_ = m.View()
			}
		})
	}
}

// One refresh: n backends reach the model and the frame is drawn, at 50,
// at the performance target's 600, and at 5,000. The server's clock moves
// a second between snapshots, as it does live, so every age on screen
// changes and nothing drawn can come from a cache.
func BenchmarkRefresh(b *testing.B) {
	for _, n := range []int{50, 600, 5000} {
		for _, v := range views {
			b.Run(fmt.Sprintf("%s/%d", v.name, n), func(b *testing.B) { benchRefresh(b, n, v.keys) })
		}
	}
}

func benchRefresh(b *testing.B, n int, keys []string) {
	m := benchModel(b, n, keys)
	snaps := [2]*inspect.Snapshot{fixture(n), fixture(n)}
	snaps[1].ServerTime = snaps[1].ServerTime.Add(time.Second)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Update(snapshotMsg{gen: m.gen, snap: snaps[i%2]})
		_ = m.View()
	}
}

// BenchmarkDraw is what reaches the terminal after a key: internal/terminal
// compares a view's new frame (the cursor moved a row) with the last and
// writes the rows that changed, as the program does after each Update.
func BenchmarkDraw(b *testing.B) {
	for _, v := range views {
		b.Run(v.name, func(b *testing.B) {
			m := benchModel(b, 5000, v.keys)
			first := m.View().Content
			press(m, "down")
			frames := [2]string{first, m.View().Content}
			scr := terminal.New(io.Discard, colorprofile.ANSI256)
			if err := scr.Open(200, 60); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := scr.Draw(frames[i%2], "pgmedic"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The footer is worked out on every frame from the key stack: what
// applies to the selected row, plans included. At 5,000 backends with an
// executor, in each row view.
func BenchmarkFooter(b *testing.B) {
	for _, v := range views[:4] {
		b.Run(v.name, func(b *testing.B) {
			s := fixture(5000)
			m := New(&fakeSource{snap: s}, Options{Now: func() time.Time { return fixedNow }, Executor: &fakeExecutor{}})
			m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
			m.Update(snapshotMsg{gen: m.gen, snap: s})
			press(m, v.keys...)
			b.ReportAllocs()
			for b.Loop() {
				_ = m.keysLine()
			}
		})
	}
}
