package inspect_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

var t0 = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

// series feeds a History one sample a second for d, use given by f
// (seconds since the start), and reports the forecast after each sample.
func series(d time.Duration, usable int, f func(sec float64) int, each func(sec float64, fc inspect.Forecast, ok bool)) {
	h := inspect.NewHistory(15 * time.Minute)
	for sec := 0.0; sec <= d.Seconds(); sec++ {
		h.Add(inspect.Sample{At: t0.Add(time.Duration(sec * float64(time.Second))), Used: min(f(sec), usable), Usable: usable})
		fc, ok := inspect.PoolForecast(h.Samples())
		each(sec, fc, ok)
	}
}

// Steady growth of 2 connections a minute or faster, beginning ten
// minutes before the pool is full, is forecast at least two minutes
// before it is full, and the forecast is near the truth.
func TestForecastWarnsBeforeFull(t *testing.T) {
	const usable = 400
	for _, perMin := range []float64{2, 3, 5, 10, 30} {
		rng := rand.New(rand.NewPCG(1, uint64(perMin)))
		start := usable - 10*perMin
		full := 600.0 // seconds
		first := -1.0
		series(10*time.Minute, usable, func(sec float64) int {
			// Growth with the churn of a real pool: a connection or two
			// come and go between samples.
			return int(start+perMin*sec/60) + rng.IntN(3) - 1
		}, func(sec float64, fc inspect.Forecast, ok bool) {
			if ok && first < 0 {
				first = sec
				truth := full - sec
				if got := fc.FullIn.Seconds(); math.Abs(got-truth) > 0.25*truth {
					t.Errorf("%v/min: at %.0fs the forecast says full in %.0fs; it is %.0fs", perMin, sec, got, truth)
				}
			}
		})
		if first < 0 || full-first < 120 {
			t.Errorf("%v/min: first warned at %.0fs, full at %.0fs; want 2 minutes ahead or more", perMin, first, full)
		}
	}
}

// No warning on a curve that does not grow steadily.
func TestForecastStaysQuiet(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for name, f := range map[string]func(sec float64) int{
		"flat":    func(float64) int { return 60 },
		"noise":   func(float64) int { return 60 + rng.IntN(7) - 3 },
		"falling": func(sec float64) int { return 90 - int(sec/20) },
		"spike": func(sec float64) int {
			if int(sec)%300 == 150 {
				return 95
			}
			return 60
		},
		"a step, then flat": func(sec float64) int {
			if sec > 240 {
				return 70
			}
			return 60
		},
		"sawtooth churn": func(sec float64) int { return 60 + int(sec)%30/5 },
		"slow creep":     func(sec float64) int { return 40 + int(sec/120) }, // half a slot a minute
	} {
		series(20*time.Minute, 97, f, func(sec float64, fc inspect.Forecast, ok bool) {
			if ok {
				t.Errorf("%s: warned at %.0fs: full in %s (+%.1f/min)", name, sec, fc.FullIn, fc.PerMinute)
			}
		})
	}
}

// A forecast needs two minutes of samples, and none is made for a full
// pool or beyond the horizon.
func TestForecastNeedsDataAndAHorizon(t *testing.T) {
	series(110*time.Second, 97, func(sec float64) int { return 40 + int(sec) }, func(sec float64, _ inspect.Forecast, ok bool) {
		if ok {
			t.Fatalf("warned after %.0fs of samples", sec)
		}
	})
	series(5*time.Minute, 1000, func(sec float64) int { return 40 + int(sec/30) }, func(sec float64, fc inspect.Forecast, ok bool) {
		if ok {
			t.Fatalf("2/min with 900 slots free warned: full in %s", fc.FullIn)
		}
	})
	if _, ok := inspect.PoolForecast([]inspect.Sample{{At: t0, Used: 5, Usable: 5}}); ok {
		t.Error("one sample gave a forecast")
	}
}

// The history keeps its span and no more, whatever the run length.
func TestHistoryIsBounded(t *testing.T) {
	h := inspect.NewHistory(15 * time.Minute)
	for i := range 24 * 3600 {
		h.Add(inspect.Sample{At: t0.Add(time.Duration(i) * time.Second), Used: i})
	}
	s := h.Samples()
	if len(s) != 901 || s[len(s)-1].Used != 24*3600-1 || s[0].At.Sub(t0) != (24*3600-901)*time.Second {
		t.Errorf("kept %d samples, from %s to %d", len(s), s[0].At, s[len(s)-1].Used)
	}
	if c := cap(s); c > 4*901 {
		t.Errorf("the history's array grew to %d", c)
	}
	h.Add(inspect.Sample{At: t0, Used: -1}) // the server's clock went back
	if got := h.Samples(); got[len(got)-1].Used == -1 {
		t.Error("a sample older than the last was kept")
	}
}

// The lock queue's growth follows the same rules: a queue growing a few
// sessions a minute is seen within a few minutes; one that stays, comes
// and goes, or jumps once is not a trend.
func TestQueueGrowth(t *testing.T) {
	cases := []struct {
		name  string
		want  bool
		queue func(sec int) int
	}{
		{"steady 4/min", true, func(sec int) int { return 3 + sec*4/60 }},
		{"flat", false, func(sec int) int { return 12 }},
		{"comes and goes", false, func(sec int) int { return (sec / 20 % 2) * 15 }},
		{"one jump", false, func(sec int) int {
			if sec > 150 {
				return 30
			}
			return 2
		}},
		{"draining", false, func(sec int) int { return max(0, 40-sec/10) }},
	}
	for _, c := range cases {
		h := inspect.NewHistory(15 * time.Minute)
		seen := false
		for sec := 0; sec <= 240; sec++ {
			h.Add(inspect.Sample{At: t0.Add(time.Duration(sec) * time.Second), Used: 50, Usable: 100, Waiting: c.queue(sec)})
			if rate, ok := inspect.QueueGrowth(h.Samples()); ok {
				seen = true
				if c.want && (rate < 3 || rate > 5) {
					t.Errorf("%s: %.1f/min", c.name, rate)
				}
			}
		}
		if seen != c.want {
			t.Errorf("%s: growth seen %v, want %v", c.name, seen, c.want)
		}
	}
}

// The pooler's tightest pool is forecast like the server's slots, and a
// change of the tightest pool starts its window again.
func TestPoolerForecast(t *testing.T) {
	h := inspect.NewHistory(15 * time.Minute)
	var first time.Duration = -1
	for sec := 0; sec <= 600; sec++ {
		busy := 20 + sec*30/600 // 20 to 50 of 50 over ten minutes: +3 a minute
		pool := "shop/app"
		h.Add(inspect.Sample{At: t0.Add(time.Duration(sec) * time.Second), PoolerPool: pool, PoolerBusy: min(busy, 50), PoolerCapacity: 50})
		if fc, ok := inspect.PoolerForecast(h.Samples()); ok && first < 0 {
			first = time.Duration(sec) * time.Second
			if truth := 600*time.Second - first; fc.FullIn < truth*3/4 || fc.FullIn > truth*5/4 {
				t.Errorf("at %s: full in %s, truth %s", first, fc.FullIn, truth)
			}
		}
	}
	if first < 0 || first > 8*time.Minute {
		t.Errorf("first forecast at %s; want two minutes ahead of full at 10m or more", first)
	}
	// Another pool becomes the tightest: its own short history says nothing yet.
	h.Add(inspect.Sample{At: t0.Add(601 * time.Second), PoolerPool: "shop/report", PoolerBusy: 9, PoolerCapacity: 10})
	if _, ok := inspect.PoolerForecast(h.Samples()); ok {
		t.Errorf("a forecast from another pool's history")
	}
	if _, ok := inspect.PoolerForecast(nil); ok {
		t.Errorf("a forecast from nothing")
	}
}
