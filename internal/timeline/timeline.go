// Package timeline turns a recording's events and numbers into the
// post-mortem timeline: what happened in order, how long each blocker
// held how many sessions, the peaks, and what changed between two
// moments. Pure functions: the recording is read by the caller.
package timeline

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/report"
)

// Input is what a timeline is made of.
type Input struct {
	// Server names what was recorded (user@host:port/db).
	Server string
	// Events are every event of the recording, actions included; the
	// ones before From still pair with their ends.
	Events []inspect.Event
	// Samples are the refreshes' numbers from From to To.
	Samples  []inspect.Sample
	From, To time.Time
	// First and Last are the snapshots at From and To (optional): what
	// changed between them.
	First, Last *inspect.Snapshot
}

// Timeline is the post-mortem's material. Its JSON keys are documented
// in the README.
type Timeline struct {
	Server  string          `json:"server"`
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Peaks   Peaks           `json:"peaks"`
	Spans   []Span          `json:"spans"`
	Events  []inspect.Event `json:"events"`
	Changes []string        `json:"changes"`
}

// Peaks are the worst moments of the range.
type Peaks struct {
	SlotsUsed   int           `json:"slots_used"`
	SlotsUsable int           `json:"slots_usable"`
	SlotsAt     time.Time     `json:"slots_at"`
	Waiting     int           `json:"waiting"`
	WaitingAt   time.Time     `json:"waiting_at"`
	LongestWait time.Duration `json:"longest_wait_ns"`
	LongestAt   time.Time     `json:"longest_wait_at"`
}

// Span is something that lasted: a root blocker from its start to its
// end.
type Span struct {
	Kind  string     `json:"kind"` // "blocker"
	PID   int        `json:"pid"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end"` // nil: still going when the range ends
	// Duration is to End, or to the end of the range.
	Duration time.Duration `json:"duration_ns"`
	Peak     int           `json:"peak"`
	Text     string        `json:"text"`
}

// Build makes the timeline of in.
func Build(in Input) Timeline {
	t := Timeline{Server: in.Server, From: in.From, To: in.To}
	evs := slices.Clone(in.Events)
	slices.SortStableFunc(evs, func(a, b inspect.Event) int { return a.At.Compare(b.At) })
	in.Events = evs
	for _, e := range evs {
		if inRange(e.At, in.From, in.To) {
			t.Events = append(t.Events, e)
		}
	}
	t.Spans = spans(in)
	for _, s := range in.Samples {
		if s.Used > t.Peaks.SlotsUsed {
			t.Peaks.SlotsUsed, t.Peaks.SlotsUsable, t.Peaks.SlotsAt = s.Used, s.Usable, s.At
		}
		if s.Waiting > t.Peaks.Waiting {
			t.Peaks.Waiting, t.Peaks.WaitingAt = s.Waiting, s.At
		}
		if s.LongestWait > t.Peaks.LongestWait {
			t.Peaks.LongestWait, t.Peaks.LongestAt = s.LongestWait, s.At
		}
	}
	t.Changes = changes(in.First, in.Last)
	return t
}

func inRange(at, from, to time.Time) bool {
	return (from.IsZero() || !at.Before(from)) && (to.IsZero() || !at.After(to))
}

// spans pairs each blocker's start with its end, keeping those that
// overlap the range.
func spans(in Input) []Span {
	type open struct {
		span  Span
		start inspect.Event
	}
	key := func(e *inspect.Event) string {
		k := fmt.Sprint(e.PID)
		if e.BackendStart != nil {
			k += "@" + e.BackendStart.UTC().Format(time.RFC3339Nano)
		}
		return k
	}
	opened := map[string]*open{}
	var out []Span
	end := in.To
	if end.IsZero() && len(in.Events) > 0 {
		end = in.Events[len(in.Events)-1].At
	}
	keep := func(s Span) {
		last := end
		if s.End != nil {
			last = *s.End
		}
		if (in.To.IsZero() || !s.Start.After(in.To)) && (in.From.IsZero() || !last.Before(in.From)) {
			out = append(out, s)
		}
	}
	for i := range in.Events {
		e := &in.Events[i]
		switch e.Kind {
		case inspect.BlockerStart:
			// It may have blocked before it was seen: since its longest
			// waiter began.
			opened[key(e)] = &open{span: Span{Kind: "blocker", PID: e.PID, Start: e.At.Add(-e.Duration), Peak: e.Count}, start: *e}
		case inspect.QueueOver:
			if o := opened[key(e)]; o != nil {
				o.span.Peak = max(o.span.Peak, e.Count)
			}
		case inspect.BlockerEnd:
			o := opened[key(e)]
			if o == nil {
				continue
			}
			at := e.At
			o.span.End, o.span.Duration, o.span.Peak = &at, at.Sub(o.span.Start), max(o.span.Peak, e.Peak)
			o.span.Text = fmt.Sprintf("blocker %s held up %d session(s) for %s, %s to %s", blockerName(&o.start),
				o.span.Peak, o.span.Duration.Round(time.Second), clock(o.span.Start), clock(at))
			keep(o.span)
			delete(opened, key(e))
		}
	}
	var still []*open
	for _, o := range opened {
		still = append(still, o)
	}
	slices.SortFunc(still, func(a, b *open) int { return a.span.Start.Compare(b.span.Start) })
	for _, o := range still {
		o.span.Duration = end.Sub(o.span.Start)
		o.span.Text = fmt.Sprintf("blocker %s held up %d session(s) from %s, still blocking when the recording ends (%s so far)",
			blockerName(&o.start), o.span.Peak, clock(o.span.Start), o.span.Duration.Round(time.Second))
		keep(o.span)
	}
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// blockerName is "pid 4101 (migrate, ALTER TABLE users ...) on public.users".
func blockerName(e *inspect.Event) string {
	s := fmt.Sprintf("pid %d", e.PID)
	var what []string
	if e.App != "" {
		what = append(what, e.App)
	}
	if q := strings.Join(strings.Fields(e.Query), " "); q != "" {
		if r := []rune(q); len(r) > 60 {
			q = string(r[:59]) + "…"
		}
		what = append(what, q)
	}
	if len(what) > 0 {
		s += " (" + strings.Join(what, ", ") + ")"
	}
	if e.Relation != "" {
		s += " on " + e.Relation
	}
	return s
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

// changes says what differs between two moments.
func changes(a, b *inspect.Snapshot) []string {
	if a == nil || b == nil {
		return nil
	}
	var out []string
	sa, sb := &a.Saturation, &b.Saturation
	out = append(out, fmt.Sprintf("slot use: %d → %d of %d usable", sa.Used, sb.Used, sb.Usable))
	out = append(out, fmt.Sprintf("sessions waiting on a lock: %d → %d", sa.WaitingOnLock, sb.WaitingOnLock))
	roots := func(s *inspect.Snapshot) map[int]string {
		m := map[int]string{}
		for _, r := range s.LockForest.Roots {
			n := &s.LockForest.Nodes[r]
			if n.BlockedTotal == 0 {
				continue
			}
			name := fmt.Sprintf("pid %d", n.PID)
			if n.Backend >= 0 {
				name += " (" + s.Backends[n.Backend].ApplicationName + ")"
			}
			m[n.PID] = fmt.Sprintf("%s holding up %d", name, n.BlockedTotal)
		}
		return m
	}
	ra, rb := roots(a), roots(b)
	for _, pid := range sortedInts(ra) {
		if _, ok := rb[pid]; !ok {
			out = append(out, "root blocker gone: "+ra[pid])
		}
	}
	for _, pid := range sortedInts(rb) {
		if _, ok := ra[pid]; !ok {
			out = append(out, "root blocker new: "+rb[pid])
		}
	}
	ix := func(s *inspect.Snapshot) map[string]bool {
		m := map[string]bool{}
		for i := range s.Indexes {
			if s.Indexes[i].Status != inspect.IndexBuilding {
				m[s.Indexes[i].QualifiedName()] = true
			}
		}
		return m
	}
	ia, ib := ix(a), ix(b)
	for _, n := range sortedKeys(ia) {
		if !ib[n] {
			out = append(out, "invalid index gone: "+n)
		}
	}
	for _, n := range sortedKeys(ib) {
		if !ia[n] {
			out = append(out, "invalid index new: "+n)
		}
	}
	if len(a.Builds) != len(b.Builds) {
		out = append(out, fmt.Sprintf("index builds running: %d → %d", len(a.Builds), len(b.Builds)))
	}
	return out
}

func sortedInts(m map[int]string) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Markdown writes the timeline to paste into a post-mortem. Every text
// that came from the server is on one line, escaped for Markdown and
// for the terminal.
func Markdown(w io.Writer, t Timeline) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Incident timeline: %s\n\n", report.Inline(t.Server))
	fmt.Fprintf(&b, "%s to %s UTC (%s)\n\n", t.From.UTC().Format("2006-01-02 15:04:05"), clock(t.To), t.To.Sub(t.From).Round(time.Second))
	b.WriteString("## Summary\n\n")
	p := &t.Peaks
	if p.SlotsUsable > 0 {
		fmt.Fprintf(&b, "- Peak slot use: %d of %d usable (%.0f%%) at %s\n", p.SlotsUsed, p.SlotsUsable,
			float64(p.SlotsUsed)*100/float64(p.SlotsUsable), clock(p.SlotsAt))
	}
	if p.Waiting > 0 {
		fmt.Fprintf(&b, "- Most sessions waiting on locks: %d at %s\n", p.Waiting, clock(p.WaitingAt))
	}
	if p.LongestWait > 0 {
		fmt.Fprintf(&b, "- Longest lock wait: %s, at %s\n", p.LongestWait.Round(time.Second), clock(p.LongestAt))
	}
	for _, s := range t.Spans {
		fmt.Fprintf(&b, "- %s\n", report.Inline(s.Text))
	}
	// An action's end, or its start when its end was never seen.
	ended := map[string]bool{}
	for _, e := range t.Events {
		if e.Kind == inspect.ActionTaken && e.Outcome != "started" {
			ended[e.ActionID] = true
		}
	}
	for _, e := range t.Events {
		if e.Kind == inspect.ActionTaken && (e.Outcome != "started" || !ended[e.ActionID]) {
			fmt.Fprintf(&b, "- Action at %s: %s\n", clock(e.At), report.Inline(e.Text))
		}
	}
	b.WriteString("\n## Timeline\n\n| Time (UTC) | Event |\n|---|---|\n")
	for _, e := range t.Events {
		fmt.Fprintf(&b, "| %s | %s |\n", clock(e.At), cell(e.Text))
	}
	if len(t.Events) == 0 {
		b.WriteString("| | no event in this range |\n")
	}
	if len(t.Changes) > 0 {
		fmt.Fprintf(&b, "\n## Changes from %s to %s\n\n", clock(t.From), clock(t.To))
		for _, c := range t.Changes {
			fmt.Fprintf(&b, "- %s\n", report.Inline(c))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell is text for a table cell: a | would end it.
func cell(s string) string { return strings.ReplaceAll(report.Inline(s), "|", `\|`) }

// JSON writes the timeline as one JSON document.
func JSON(w io.Writer, t Timeline) error {
	// Empty lists are [], not null: a script iterates them either way.
	if t.Events == nil {
		t.Events = []inspect.Event{}
	}
	if t.Spans == nil {
		t.Spans = []Span{}
	}
	if t.Changes == nil {
		t.Changes = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(t)
}
