package inspect

import (
	"math"
	"slices"
	"time"
)

// A Sample is what the history keeps of one snapshot: a few numbers, so
// that fifteen minutes at a refresh a second stay a few tens of kilobytes.
type Sample struct {
	At      time.Time // the server's clock
	Used    int       // slots in use
	Usable  int       // slots ordinary roles can fill
	Waiting int       // sessions waiting on a lock
	// Roots is the number of root blockers, LongestWait the longest any
	// session has waited on a lock.
	Roots       int
	LongestWait time.Duration
	// The PgBouncer pool closest to full (Pooler.Tightest), with
	// --pgbouncer: its server connections in use, what it may have, and
	// the clients queued in it.
	PoolerBusy, PoolerCapacity, PoolerWaiting int
	PoolerPool                                string
}

// SampleOf is a snapshot's sample.
func SampleOf(s *Snapshot) Sample {
	out := Sample{At: s.ServerTime, Used: s.Saturation.Used, Usable: s.Saturation.Usable,
		Waiting: s.Saturation.WaitingOnLock, Roots: len(s.LockForest.Roots)}
	for _, r := range s.LockForest.Roots {
		out.LongestWait = max(out.LongestWait, s.LockForest.Nodes[r].LongestWait)
	}
	if s.Pooler != nil && s.Pooler.Error == "" {
		if p := s.Pooler.Tightest(); p != nil {
			out.PoolerBusy, out.PoolerCapacity, out.PoolerWaiting = p.Busy(), p.Capacity(), p.ClientsWaiting
			out.PoolerPool = p.Database + "/" + p.User
		}
	}
	return out
}

// History keeps the samples of the last span, oldest first. It drops
// what is older as it goes, so its size is bounded by the refresh rate,
// not by how long pgmedic runs.
type History struct {
	span    time.Duration
	samples []Sample
}

// NewHistory keeps span of samples.
func NewHistory(span time.Duration) *History { return &History{span: span} }

// Add appends a sample; one no later than the last (a server clock that
// went back, a snapshot read twice) is dropped.
func (h *History) Add(s Sample) {
	if n := len(h.samples); n > 0 && !s.At.After(h.samples[n-1].At) {
		return
	}
	h.samples = append(h.samples, s)
	cut := 0
	for cut < len(h.samples) && s.At.Sub(h.samples[cut].At) > h.span {
		cut++
	}
	if cut > 0 {
		// Copy down rather than reslice: the backing array would
		// otherwise grow with the run.
		h.samples = append(h.samples[:0], h.samples[cut:]...)
	}
}

// Samples are the kept samples, oldest first. The slice is the
// history's own: read it, do not keep it.
func (h *History) Samples() []Sample { return h.samples }

// Forecast is where slot use is heading.
type Forecast struct {
	PerMinute float64       // slots taken per minute, lately
	FullIn    time.Duration // until every usable slot is taken at that rate
}

// Forecast tuning. The window is long enough that a burst of reconnects
// does not look like a trend, short enough that a trend is seen within a
// minute or two; a forecast further off than the horizon is no warning.
const (
	trendWindow   = 3 * time.Minute
	trendCoverage = 2 * time.Minute
	minGrowth     = 1.0 // slots a minute
	minRise       = 2   // slots gained over the window
	ForecastAhead = 15 * time.Minute
)

// PoolForecast says when the pool will be full if slot use keeps growing
// as it has over the last few minutes, and ok false when it does not
// grow steadily. Steadily means: over at least two minutes of samples,
// the median of the slopes between every two samples (a single spike
// moves it little) is at least minGrowth a minute, both halves of the
// window rise, the last quarter's median use is minRise slots or more
// above the first quarter's (a pool's churn, a sawtooth, is no rise),
// and the pool is not full yet.
// A flat, falling or jumpy curve gives no forecast.
func PoolForecast(samples []Sample) (f Forecast, ok bool) {
	return forecast(samples, used, func(s Sample) int { return s.Usable })
}

// PoolerForecast is PoolForecast for the PgBouncer pool closest to full:
// its server connections in use against what the pool may have. Once
// they are all in use, clients queue in the pooler: that is the 503.
// The samples must be of one pool: a change of the tightest pool starts
// the window again.
func PoolerForecast(samples []Sample) (f Forecast, ok bool) {
	if len(samples) == 0 || samples[len(samples)-1].PoolerCapacity == 0 {
		return Forecast{}, false
	}
	name := samples[len(samples)-1].PoolerPool
	from := len(samples)
	for from > 0 && samples[from-1].PoolerPool == name {
		from--
	}
	return forecast(samples[from:], func(s Sample) int { return s.PoolerBusy }, func(s Sample) int { return s.PoolerCapacity })
}

func forecast(samples []Sample, val, limit func(Sample) int) (f Forecast, ok bool) {
	if len(samples) == 0 || val(samples[len(samples)-1]) >= limit(samples[len(samples)-1]) {
		return Forecast{}, false
	}
	last := samples[len(samples)-1]
	rate, ok := growth(samples, val)
	if !ok {
		return Forecast{}, false
	}
	full := time.Duration(float64(limit(last)-val(last)) / rate * float64(time.Minute))
	if full > ForecastAhead {
		return Forecast{}, false
	}
	return Forecast{PerMinute: rate, FullIn: full}, true
}

// QueueGrowth says how fast the sessions waiting on locks grow, a
// minute, when they grow steadily: by the same rules as PoolForecast's
// slot use, so a burst of waits that clears, or a queue that comes and
// goes, is no trend. A lock queue holds slots: when it grows, the pool
// fills behind it.
func QueueGrowth(samples []Sample) (perMinute float64, ok bool) {
	return growth(samples, waiting)
}

func used(s Sample) int    { return s.Used }
func waiting(s Sample) int { return s.Waiting }

// growth is the steady growth of val over the last trendWindow, a
// minute: over at least trendCoverage of samples, the median of the
// slopes between every two samples (a single spike moves it little) is
// at least minGrowth a minute, both halves of the window rise, and the
// last quarter's median is minRise or more above the first quarter's (a
// pool's churn, a sawtooth, is no rise).
func growth(samples []Sample, val func(Sample) int) (float64, bool) {
	if len(samples) == 0 {
		return 0, false
	}
	last := samples[len(samples)-1]
	from := len(samples)
	for from > 0 && last.At.Sub(samples[from-1].At) <= trendWindow {
		from--
	}
	w := samples[from:]
	if len(w) < 10 || last.At.Sub(w[0].At) < trendCoverage {
		return 0, false
	}
	w = thin(w, 60)
	half := len(w) / 2
	span := last.At.Sub(w[0].At)
	rate := medianSlope(w, span/4, val) * 60
	// Written as !(x >= y): a slope that could not be taken (NaN) is no
	// growth either.
	if !(rate >= minGrowth) || !(medianSlope(w[:half+1], span/8, val)*60 >= minGrowth/2) ||
		!(medianSlope(w[half:], span/8, val)*60 >= minGrowth/2) ||
		level(w[len(w)-len(w)/4:], val)-level(w[:len(w)/4], val) < minRise {
		return 0, false
	}
	return rate, true
}

// thin keeps at most n samples, evenly spread, the last one always.
func thin(w []Sample, n int) []Sample {
	if len(w) <= n {
		return w
	}
	out := make([]Sample, 0, n)
	for i := range n {
		out = append(out, w[(len(w)-1)*i/(n-1)])
	}
	return out
}

// medianSlope is the Theil-Sen slope of val over time, in slots a
// second: the median of the slopes between every two samples at least
// apart apart. Pairs close in time measure the pool's churn more than its
// trend: leaving them out keeps a count that moves by whole connections
// from pulling the median down.
func medianSlope(w []Sample, apart time.Duration, val func(Sample) int) float64 {
	var slopes []float64
	for i := range w {
		for j := i + 1; j < len(w); j++ {
			if dt := w[j].At.Sub(w[i].At); dt > 0 && dt >= apart {
				slopes = append(slopes, float64(val(w[j])-val(w[i]))/dt.Seconds())
			}
		}
	}
	if len(slopes) == 0 {
		return math.NaN()
	}
	slices.Sort(slopes)
	return slopes[len(slopes)/2]
}

// level is the median of val over some samples.
func level(w []Sample, val func(Sample) int) int {
	vs := make([]int, len(w))
	for i, s := range w {
		vs[i] = val(s)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}
