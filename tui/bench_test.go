package tui

import (
	"fmt"
	"testing"
)

// View must cost the same for 50 rows as for 5,000: only the visible
// window is drawn.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{50, 5000} {
		for _, v := range views[:4] {
			b.Run(fmt.Sprintf("%s/%d", v.name, n), func(b *testing.B) {
				m := newTestModel(b, fixture(n), 200, 60)
				press(m, v.keys...)
				b.ReportAllocs()
				for b.Loop() {
					_ = m.View()
				}
			})
		}
	}
}
