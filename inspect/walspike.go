package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WALSpike is WAL written far faster than in the minutes before: what
// makes standbys fall behind and slots grow. The server does not say who
// writes it before PostgreSQL 18, so the suspects are named from what the
// snapshot shows each session doing.
type WALSpike struct {
	BytesPerSecond         float64 `json:"bytes_per_second"`
	BaselineBytesPerSecond float64 `json:"baseline_bytes_per_second"`
	// Suspects are the sessions most likely writing it, likeliest first.
	Suspects []WALSuspect `json:"suspects"`
}

// WALSuspect is a session that may be writing the WAL, and why pgmedic
// thinks so.
type WALSuspect struct {
	PID         int    `json:"pid"`
	Application string `json:"application_name"`
	// What it does, in words: "rewrites public.users (changes a column's
	// type)", "CREATE INDEX on events", or its statement's first line.
	What string `json:"what"`
	// Why it is suspected: "rewrite", "index build", "bulk operation"
	// (COPY FROM, VACUUM FULL, CLUSTER, VACUUM) or "longest write".
	Why string `json:"why"`
}

// When a WAL rate is a spike: at least spikeFactor times the median of
// the minutes before and at least spikeFloor, so that a quiet server
// going from 10 kB/s to 50 kB/s is no news. The baseline is the rates
// from baselineSpan before the last baselineGap, and needs
// walBaselineMin of them.
var (
	spikeFactor    = 4.0
	spikeFloor     = 8.0 * (1 << 20)
	baselineSpan   = 10 * time.Minute
	baselineGap    = time.Minute
	walBaselineMin = time.Minute
)

type walPoint struct {
	at   time.Time
	rate float64
}

// walHistory keeps the WAL rates of the last baselineSpan+baselineGap.
type walHistory struct{ points []walPoint }

func (h *walHistory) add(at time.Time, rate float64) {
	h.points = append(h.points, walPoint{at, rate})
	cut := 0
	for cut < len(h.points) && at.Sub(h.points[cut].at) > baselineSpan+baselineGap {
		cut++
	}
	if cut > 0 {
		h.points = append(h.points[:0], h.points[cut:]...)
	}
}

// baseline is the median rate of the points older than baselineGap, and
// false when they span less than walBaselineMin.
func (h *walHistory) baseline(now time.Time) (float64, bool) {
	var rates []float64
	var first, last time.Time
	for _, p := range h.points {
		if now.Sub(p.at) < baselineGap {
			break
		}
		if first.IsZero() {
			first = p.at
		}
		last = p.at
		rates = append(rates, p.rate)
	}
	if len(rates) == 0 || last.Sub(first) < walBaselineMin {
		return 0, false
	}
	slices.Sort(rates)
	return rates[len(rates)/2], true
}

// detect records the primary's WAL rate and, when it is a spike,
// names the suspects.
func (h *walHistory) detect(s *Snapshot) {
	r := s.Replication
	if r == nil || r.Standby != nil || r.WALBytesPerSecond == nil {
		return
	}
	rate := *r.WALBytesPerSecond
	base, ok := h.baseline(s.ServerTime)
	h.add(s.ServerTime, rate)
	if !ok || rate < spikeFloor || rate < spikeFactor*base {
		return
	}
	r.WALSpike = &WALSpike{BytesPerSecond: rate, BaselineBytesPerSecond: base, Suspects: walSuspects(s)}
}

// walWrites are the statements that write WAL in bulk, by first word.
var walWrites = map[string]bool{"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "COPY": true,
	"CREATE": true, "ALTER": true, "REFRESH": true, "REINDEX": true, "CLUSTER": true, "VACUUM": true, "TRUNCATE": true}

// walSuspects are at most three sessions, by what writes WAL in bulk for
// sure (a rewrite, an index build, COPY FROM and the commands that copy a
// table), then by the longest-running write statement.
func walSuspects(s *Snapshot) []WALSuspect {
	var out []WALSuspect
	seen := map[int]bool{}
	add := func(pid int, what, why string) {
		if seen[pid] || len(out) >= 3 {
			return
		}
		seen[pid] = true
		app := ""
		if b := s.Backend(pid); b != nil {
			app = b.ApplicationName
		}
		out = append(out, WALSuspect{PID: pid, Application: app, What: what, Why: why})
	}
	for i := range s.Rewrites {
		rw := &s.Rewrites[i]
		if rw.Rewrites {
			add(rw.PID, fmt.Sprintf("rewrites %s (%s)", tableOrUnknown(rw.Table), rw.Action), "rewrite")
		}
	}
	for i := range s.Builds {
		b := &s.Builds[i]
		add(b.PID, fmt.Sprintf("%s on %s", b.Command, tableOrUnknown(b.Table)), "index build")
	}
	for i := range s.Operations {
		o := &s.Operations[i]
		switch o.Kind {
		case "COPY FROM", "VACUUM FULL", "CLUSTER", "VACUUM", "autovacuum":
			add(o.PID, fmt.Sprintf("%s %s", o.Kind, tableOrUnknown(o.Table)), "bulk operation")
		}
	}
	var writers []*Backend
	for i := range s.Backends {
		b := &s.Backends[i]
		if !b.Own && b.IsClient() && b.State == "active" && !b.WaitsOnLock() && walWrites[strings.ToUpper(firstWord(b.Query))] {
			writers = append(writers, b)
		}
	}
	slices.SortStableFunc(writers, func(a, b *Backend) int { return cmp.Compare(b.QueryAge(s.ServerTime), a.QueryAge(s.ServerTime)) })
	for _, b := range writers {
		line, _, _ := strings.Cut(strings.TrimSpace(b.Query), "\n")
		add(b.PID, line, "longest write")
	}
	return out
}

func tableOrUnknown(s string) string {
	if s == "" {
		return "(table not known yet)"
	}
	return s
}
