package timeline

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
)

var t0 = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// story is the incident as the detector and the audit log tell it.
func story() Input {
	bs := t0.Add(-time.Hour)
	blocker := inspect.Event{PID: 4101, BackendStart: &bs, App: "migrate", Query: "ALTER TABLE users ADD COLUMN note text",
		Relation: "public.users"}
	ev := func(d time.Duration, k inspect.EventKind, text string, mod func(*inspect.Event)) inspect.Event {
		e := blocker
		e.At, e.Kind, e.Text = at(d), k, text
		if mod != nil {
			mod(&e)
		}
		return e
	}
	plain := func(d time.Duration, k inspect.EventKind, text string) inspect.Event {
		return inspect.Event{At: at(d), Kind: k, Text: text}
	}
	events := []inspect.Event{
		// Out of order on purpose: the audit log's actions come from
		// another clock and another file.
		{At: at(41*time.Minute + 12*time.Second), Kind: inspect.ActionTaken, ActionID: "a1", Outcome: "done", PID: 4101,
			Text: "terminate pid 4101 (migrate): done"},
		{At: at(41*time.Minute + 11*time.Second), Kind: inspect.ActionTaken, ActionID: "a1", Outcome: "started", PID: 4101,
			Text: "terminate pid 4101 (migrate): started"},
		ev(3*time.Second, inspect.BlockerStart, "root blocker pid 4101 holds up 2", func(e *inspect.Event) { e.Count = 2; e.Duration = 3 * time.Second }),
		ev(5*time.Minute, inspect.QueueOver, "pid 4101 now holds up 11", func(e *inspect.Event) { e.Count = 11; e.Level = "10" }),
		plain(20*time.Minute, inspect.SlotsOver, "slot use past warn"),
		plain(30*time.Minute, inspect.SlotsOver, "slot use past 90%"),
		plain(31*time.Minute, inspect.SlotsOver, "slot use past full"),
		ev(41*time.Minute+15*time.Second, inspect.BlockerEnd, "root blocker pid 4101 (migrate) is gone", func(e *inspect.Event) { e.Peak = 26 }),
		plain(42*time.Minute, inspect.SlotsUnder, "slot use back under warn"),
	}
	var samples []inspect.Sample
	for m := 0; m <= 45; m++ {
		s := inspect.Sample{At: at(time.Duration(m) * time.Minute), Used: 10 + m, Usable: 40, Waiting: m / 2,
			LongestWait: time.Duration(m) * time.Minute}
		if m > 41 {
			s.Used, s.Waiting, s.LongestWait = 12, 0, 0
		}
		samples = append(samples, s)
	}
	return Input{Server: "postgres@db1:5432/shop", Events: events, Samples: samples, From: t0, To: at(45 * time.Minute)}
}

func TestMarkdownInOrder(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, Build(story())); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Incident timeline: postgres@db1:5432/shop",
		"- Peak slot use: 51 of 40 usable (128%) at 02:41:00",
		"- Longest lock wait: 41m0s, at 02:41:00",
		"- blocker pid 4101 (migrate, ALTER TABLE users ADD COLUMN note text) on public.users held up 26 session(s) for 41m15s, 02:00:00 to 02:41:15",
		"- Action at 02:41:12: terminate pid 4101 (migrate): done",
		"| 02:00:03 | root blocker pid 4101 holds up 2 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
	if strings.Contains(md, "- Action at 02:41:11") {
		t.Errorf("the summary lists an action's start next to its end:\n%s", md)
	}
	// The table is in time order whatever order the events came in.
	order := []string{"| 02:00:03 |", "| 02:05:00 |", "| 02:20:00 |", "| 02:30:00 |", "| 02:31:00 |", "| 02:41:11 |", "| 02:41:12 |",
		"| 02:41:15 |", "| 02:42:00 |"}
	last := -1
	for _, o := range order {
		i := strings.Index(md, o)
		if i <= last {
			t.Fatalf("%q out of order in:\n%s", o, md)
		}
		last = i
	}
}

func TestRange(t *testing.T) {
	in := story()
	in.From, in.To = at(10*time.Minute), at(35*time.Minute)
	tl := Build(in)
	for _, e := range tl.Events {
		if e.At.Before(in.From) || e.At.After(in.To) {
			t.Fatalf("event at %s outside the range", e.At)
		}
	}
	if len(tl.Events) != 3 {
		t.Fatalf("%d events in 02:10-02:35", len(tl.Events))
	}
	// The blocker spans the range: it is in it, with its whole life.
	if len(tl.Spans) != 1 || tl.Spans[0].Duration != 41*time.Minute+15*time.Second {
		t.Fatalf("spans %+v", tl.Spans)
	}
	in.From = at(43 * time.Minute)
	in.To = at(45 * time.Minute)
	if tl := Build(in); len(tl.Spans) != 0 || len(tl.Events) != 0 {
		t.Fatalf("after the blocker ended: %+v", tl)
	}
}

func TestNeverEnded(t *testing.T) {
	in := story()
	in.Events = slices.DeleteFunc(in.Events, func(e inspect.Event) bool { return e.Kind == inspect.BlockerEnd })
	tl := Build(in)
	if len(tl.Spans) != 1 || tl.Spans[0].End != nil || !strings.Contains(tl.Spans[0].Text, "still blocking when the recording ends (45m0s so far)") {
		t.Fatalf("%+v", tl.Spans)
	}
}

// Server text reaches the Markdown on one line, with nothing a terminal
// would act on and nothing that breaks the table.
func TestEscaping(t *testing.T) {
	in := story()
	in.Events = []inspect.Event{{At: at(time.Minute), Kind: inspect.BlockerStart, PID: 1,
		Text: "root blocker (evil|app) `x` \x1b]52;c;cHduZWQ=\x07 \x1b[2J\nSELECT 1"}}
	var b bytes.Buffer
	Markdown(&b, Build(in))
	md := b.String()
	if strings.ContainsAny(md, "\x1b\x07") {
		t.Fatalf("an escape sequence reached the output: %q", md)
	}
	line := ""
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| 02:01:00 |") {
			line = l
		}
	}
	if line == "" || strings.Count(line, "|")-strings.Count(line, `\|`) != 3 || strings.Contains(line, "`") {
		t.Fatalf("the row is broken: %q", line)
	}
}

func TestJSONKeys(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, Build(story())); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"server", "from", "to", "peaks", "spans", "events", "changes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q key", k)
		}
	}
	b.Reset()
	JSON(&b, Build(Input{}))
	if !strings.Contains(b.String(), `"events": []`) {
		t.Fatalf("empty lists are not []: %s", b.String())
	}
}
