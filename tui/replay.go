package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// Replay is a recording to move through instead of a live server (the
// recording package's Reader). Refreshes are numbered from 0.
type Replay interface {
	Len() int
	At(i int) (*inspect.Snapshot, error)
	// Sample is refresh i's numbers, without decoding it.
	Sample(i int) (inspect.Sample, error)
	// Index is the last refresh at or before t.
	Index(t time.Time) (int, error)
	Samples(from, to time.Time) ([]inspect.Sample, error)
	Events() []inspect.Event
	End() time.Time
}

// EventSource is what a live Source may also offer: the events found so
// far this session, oldest first.
type EventSource interface {
	Events() []inspect.Event
}

// replayState is where a replay stands: the refresh on screen, and
// whether it plays on by itself.
type replayState struct {
	rec     Replay
	cursor  int
	playing bool
	speed   int // 1, 2, 4, 8 or 16
}

// maxSpeed bounds play: at 16× a refresh a second is 16 frames a second.
const maxSpeed = 16

// replayTickMsg moves a playing replay one refresh on.
type replayTickMsg struct{ gen int }

// replaySource stands in for the server in a replay: the model reads
// the recording directly, the source only names it.
type replaySource struct{ target string }

var (
	errReplay      = errors.New("a replay reads its recording, not a server")
	errReplayLocks = errors.New("the locks a session held are not recorded; its wait (above) and the Locks view are")
)

// noRecording is an empty recording: the key table lists a replay's
// keys from it.
type noRecording struct{}

func (noRecording) Len() int                                         { return 0 }
func (noRecording) At(int) (*inspect.Snapshot, error)                { return nil, errReplay }
func (noRecording) Sample(int) (inspect.Sample, error)               { return inspect.Sample{}, errReplay }
func (noRecording) Index(time.Time) (int, error)                     { return 0, errReplay }
func (noRecording) Samples(_, _ time.Time) ([]inspect.Sample, error) { return nil, errReplay }
func (noRecording) Events() []inspect.Event                          { return nil }
func (noRecording) End() time.Time                                   { return time.Time{} }

func (s replaySource) Snapshot(context.Context) (*inspect.Snapshot, error) { return nil, errReplay }
func (s replaySource) Target() string                                      { return s.target }

// NewReplay builds the model over a recording: the same views, the
// details pane and the lock forest as live, a time cursor instead of a
// refresh, and no action. target names what was recorded.
func NewReplay(rec Replay, target string, opts Options) *Model {
	opts.Executor = nil
	m := New(replaySource{target: target}, opts)
	m.rp = &replayState{rec: rec, speed: 1, cursor: -1}
	return m
}

// seek shows refresh i. A step forward adds to the history as a refresh
// does; any other move rebuilds it from the recording's numbers, so the
// sparklines and the forecast are those of that moment.
func (m *Model) seek(i int) {
	rp := m.rp
	i = max(0, min(i, rp.rec.Len()-1))
	snap, err := rp.rec.At(i)
	if err != nil {
		m.setFlash("the recording cannot be read there: %v", err)
		return
	}
	if i != rp.cursor+1 || m.c.snap == nil {
		m.c.history = inspect.NewHistory(HistorySpan)
		samples, _ := rp.rec.Samples(snap.ServerTime.Add(-HistorySpan), snap.ServerTime)
		for _, s := range samples {
			m.c.history.Add(s)
		}
		m.c.queues = nil
		// What sessions did before this moment is not replayed.
		m.c.states = states{}
	}
	rp.cursor = i
	m.show(snap)
}

// replayTime is when refresh i was taken.
func (m *Model) replayTime(i int) time.Time {
	s, _ := m.rp.rec.Sample(i)
	return s.At
}

// jump moves the cursor by d of recorded time: to the last refresh at or
// before the moment, and at least one refresh.
func (m *Model) jump(d time.Duration) {
	rp := m.rp
	i, err := rp.rec.Index(m.replayTime(rp.cursor).Add(d))
	if err != nil {
		return
	}
	switch {
	case d > 0 && i <= rp.cursor:
		i = rp.cursor + 1
	case d < 0 && i >= rp.cursor:
		i = rp.cursor - 1
	}
	m.seek(i)
}

// jumpEvent moves to the next (dir 1) or previous (dir -1) event's
// refresh.
func (m *Model) jumpEvent(dir int) {
	rp := m.rp
	evs := rp.rec.Events()
	now := m.replayTime(rp.cursor)
	if dir > 0 {
		for _, e := range evs {
			if e.At.After(now) {
				if i, err := rp.rec.Index(e.At); err == nil && i > rp.cursor {
					m.seek(i)
					m.setFlash("%s %s", e.At.Local().Format("15:04:05"), e.Text)
					return
				}
			}
		}
		m.setFlash("no event after %s", now.Local().Format("15:04:05"))
		return
	}
	for j := len(evs) - 1; j >= 0; j-- {
		if e := evs[j]; e.At.Before(now) {
			if i, err := rp.rec.Index(e.At); err == nil && i < rp.cursor {
				m.seek(i)
				m.setFlash("%s %s", e.At.Local().Format("15:04:05"), e.Text)
				return
			}
		}
	}
	m.setFlash("no event before %s", now.Local().Format("15:04:05"))
}

// play starts or stops playing.
func (m *Model) play() tea.Cmd {
	rp := m.rp
	rp.playing = !rp.playing
	m.gen++
	if !rp.playing {
		return nil
	}
	if rp.cursor >= rp.rec.Len()-1 {
		m.seek(0) // play again from the start
	}
	return m.nextFrame()
}

// nextFrame schedules the step after the cursor, as long after as the
// recording's own refreshes were apart, divided by the speed. A gap in
// the recording (the server was unreachable) plays as two seconds.
func (m *Model) nextFrame() tea.Cmd {
	rp := m.rp
	if rp.cursor+1 >= rp.rec.Len() {
		rp.playing = false
		m.setFlash("the end of the recording")
		return nil
	}
	d := m.replayTime(rp.cursor + 1).Sub(m.replayTime(rp.cursor))
	d = max(10*time.Millisecond, min(d, 2*time.Second)) / time.Duration(rp.speed)
	gen := m.gen
	return tea.Tick(d, func(time.Time) tea.Msg { return replayTickMsg{gen: gen} })
}

func (m *Model) onReplayTick(msg replayTickMsg) tea.Cmd {
	if m.rp == nil || msg.gen != m.gen || !m.rp.playing {
		return nil
	}
	m.seek(m.rp.cursor + 1)
	return m.nextFrame()
}

func (m *Model) setSpeed(s int) {
	m.rp.speed = max(1, min(s, maxSpeed))
	m.setFlash("playing at %d×", m.rp.speed)
}

// replayLine is the header's third line in a replay: the time cursor.
func (m *Model) replayLine() string {
	st, rp := &m.c.styles, m.rp
	if m.c.snap == nil {
		return "⟳ opening the recording…"
	}
	at := m.replayTime(rp.cursor)
	state := "⏸ paused"
	if rp.playing {
		state = fmt.Sprintf("▶ %d×", rp.speed)
	}
	left := rp.rec.End().Sub(at)
	where := human.Duration(left) + " before the end"
	if left <= 0 {
		where = "the end"
	}
	line := st.Stale.Render(" REPLAY ") + " " + at.Local().Format("15:04:05") + ", " + where + " · " + state
	return line + m.c.trendText()
}

// replayLayer is what the keys do in a replay, above the screen's keys:
// moving in time instead of refreshing.
func (m *Model) replayLayer() layer {
	k := &m.c.keys
	rp := m.rp
	atEnd := func() string {
		if rp.cursor >= rp.rec.Len()-1 {
			return "at the end of the recording"
		}
		return ""
	}
	atStart := func() string {
		if rp.cursor <= 0 {
			return "at the start of the recording"
		}
		return ""
	}
	play := "play"
	if rp.playing {
		play = "pause"
	}
	return layer{title: "In a replay", cmds: []command{
		{key: bind(k.Play, play), hint: hintPlay, do: func(tea.KeyPressMsg) tea.Cmd { return m.play() }},
		{key: k.StepForward, hint: hintStep, off: atEnd, do: func(tea.KeyPressMsg) tea.Cmd {
			m.seek(rp.cursor + 1)
			return nil
		}},
		{key: k.StepBack, off: atStart, do: func(tea.KeyPressMsg) tea.Cmd {
			m.seek(rp.cursor - 1)
			return nil
		}},
		{key: k.MinuteForward, hint: hintJump, off: atEnd, do: func(tea.KeyPressMsg) tea.Cmd {
			m.jump(time.Minute)
			return nil
		}},
		{key: k.MinuteBack, off: atStart, do: func(tea.KeyPressMsg) tea.Cmd {
			m.jump(-time.Minute)
			return nil
		}},
		{key: k.NextEvent, hint: hintEvent, do: func(tea.KeyPressMsg) tea.Cmd {
			m.jumpEvent(1)
			return nil
		}},
		{key: k.PrevEvent, do: func(tea.KeyPressMsg) tea.Cmd {
			m.jumpEvent(-1)
			return nil
		}},
		{key: k.Start, off: atStart, do: func(tea.KeyPressMsg) tea.Cmd {
			m.seek(0)
			return nil
		}},
		{key: k.End, off: atEnd, do: func(tea.KeyPressMsg) tea.Cmd {
			m.seek(rp.rec.Len() - 1)
			return nil
		}},
		{key: bind(k.Faster, "play faster"), off: func() string {
			if rp.speed >= maxSpeed {
				return fmt.Sprintf("already at %d×", maxSpeed)
			}
			return ""
		}, do: func(tea.KeyPressMsg) tea.Cmd {
			m.setSpeed(rp.speed * 2)
			return nil
		}},
		{key: bind(k.Slower, "play slower"), off: func() string {
			if rp.speed <= 1 {
				return "already at 1×, the recording's own pace"
			}
			return ""
		}, do: func(tea.KeyPressMsg) tea.Cmd {
			m.setSpeed(rp.speed / 2)
			return nil
		}},
	}}
}

// eventList is the list of events, over the view: a replay's from its
// recording, a live session's found so far.
type eventList struct {
	events []inspect.Event
	sel    int
	top    int
}

func (m *Model) events() []inspect.Event {
	if m.rp != nil {
		return m.rp.rec.Events()
	}
	if es, ok := m.src.(EventSource); ok {
		return es.Events()
	}
	return nil
}

func (m *Model) eventsOff() string {
	if m.rp == nil {
		if _, ok := m.src.(EventSource); !ok {
			return "this session finds no events"
		}
	}
	if len(m.events()) == 0 {
		return "no event yet: a blocker, a level crossed, an index, an action"
	}
	return ""
}

// openEvents shows the list, the selection on the last event at or
// before the replay's cursor (the last one live).
func (m *Model) openEvents(tea.KeyPressMsg) tea.Cmd {
	evs := m.events()
	l := &eventList{events: evs, sel: len(evs) - 1}
	if m.rp != nil && m.c.snap != nil {
		now := m.c.snap.ServerTime
		l.sel = max(0, sort.Search(len(evs), func(i int) bool { return evs[i].At.After(now) })-1)
	}
	m.eventList = l
	return nil
}

func (m *Model) eventsLayer() layer {
	k := &m.c.keys
	l := m.eventList
	closeList := func(tea.KeyPressMsg) tea.Cmd {
		m.eventList = nil
		return nil
	}
	move := func(d int) func(tea.KeyPressMsg) tea.Cmd {
		return func(tea.KeyPressMsg) tea.Cmd {
			l.sel = max(0, min(l.sel+d, len(l.events)-1))
			return nil
		}
	}
	go2 := command{key: bind(k.Details, "go to this moment"), hint: hintAnswer, do: func(tea.KeyPressMsg) tea.Cmd {
		if i, err := m.rp.rec.Index(l.events[l.sel].At); err == nil {
			m.seek(i)
		}
		m.eventList = nil
		return nil
	}}
	if m.rp == nil {
		go2.off = func() string { return "live, the screen shows now: pgmedic replay goes back to an event" }
	}
	return layer{title: "In the events list", rest: func(tea.KeyPressMsg) tea.Cmd { return nil }, cmds: []command{
		go2,
		{key: k.Down, do: move(1)},
		{key: k.Up, do: move(-1)},
		{key: k.PageDown, do: move(10)},
		{key: k.PageUp, do: move(-10)},
		{key: k.Top, do: move(-len(l.events))},
		{key: k.Bottom, do: move(len(l.events))},
		{key: bind(k.Events, "close"), hint: hintBack, do: closeList},
		{key: bind(k.Back, "close"), do: closeList},
		{key: k.Quit, hint: hintQuit, do: m.quit},
	}}
}

// eventsView draws the list: one event a line, the time first.
func (m *Model) eventsView() string {
	l, st := m.eventList, &m.c.styles
	h := m.bodyHeight() - 2
	l.top = max(0, min(l.top, l.sel), l.sel-h+1)
	var b strings.Builder
	title := fmt.Sprintf("EVENTS  %d", len(l.events))
	if m.rp != nil {
		title += " in the recording · enter goes to the moment"
	} else {
		title += " this session (the recording keeps them all)"
	}
	b.WriteString(st.Title.Render(title))
	for i := l.top; i < len(l.events) && i < l.top+h; i++ {
		e := &l.events[i]
		line := e.At.Local().Format("15:04:05") + "  " + safetext.Line(e.Text)
		line = fitCell(line, m.c.width-2, false)
		if i == l.sel {
			line = st.Selected.Render("▸ " + line)
		} else {
			line = "  " + line
		}
		b.WriteString("\n" + line)
	}
	return b.String()
}

// replayKeys are the bindings of a replay.
func replayKeys(k *KeyMap) {
	k.Play = key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "play / pause"))
	k.StepForward = key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "next refresh"))
	k.StepBack = key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "previous refresh"))
	k.MinuteForward = key.NewBinding(key.WithKeys("]"), key.WithHelp("]", "1 minute on"))
	k.MinuteBack = key.NewBinding(key.WithKeys("["), key.WithHelp("[", "1 minute back"))
	k.NextEvent = key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next event"))
	k.PrevEvent = key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "previous event"))
	k.Start = key.NewBinding(key.WithKeys("<"), key.WithHelp("<", "start of the recording"))
	k.End = key.NewBinding(key.WithKeys(">"), key.WithHelp(">", "end of the recording"))
	k.Events = key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "events"))
}
