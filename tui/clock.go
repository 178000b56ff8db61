package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"
)

// slowRefresh is how long a refresh runs before the header says so.
const slowRefresh = 2 * time.Second

// alarm wakes the model when the screen would change with time alone: a
// counter it shows ticks over ("refresh taking 3s", "retry in 4s"), or a
// message expires. It is one timer with one command waiting on it, issued
// by Init and again by each clockMsg; any other message only moves the
// timer. So at a 1s refresh, when nothing counts, the refresh's own frame
// is the only one: no second tick a second draws the same screen.
type alarm struct {
	timer *time.Timer
	at    time.Time // zero while stopped
}

// wait is the command that delivers the next clockMsg.
func (a *alarm) wait() tea.Cmd {
	if a.timer == nil {
		a.timer = time.NewTimer(time.Hour)
		a.timer.Stop()
	}
	c := a.timer.C
	return func() tea.Msg {
		<-c
		return clockMsg{}
	}
}

// set moves the alarm to at, or stops it when at is zero. Before Init
// (in tests) there is no timer and nothing to move.
func (a *alarm) set(at, now time.Time) {
	if a.timer == nil || at.Equal(a.at) {
		return
	}
	a.at = at
	if at.IsZero() {
		a.timer.Stop()
		return
	}
	a.timer.Reset(max(0, at.Sub(now)))
}

// rang is called when the alarm's clockMsg arrives.
func (a *alarm) rang() { a.at = time.Time{} }

// nextChange is when the screen, drawn at m.now, would change with time
// alone; zero when nothing on it does before the next message.
func (m *Model) nextChange() time.Time {
	now := m.now
	var due time.Time
	at := func(t time.Time) {
		if t.After(now) && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	// next is the next whole second of a counter that started at t0.
	next := func(t0 time.Time) time.Time { return t0.Add(now.Sub(t0).Truncate(time.Second) + time.Second) }
	if m.flash != "" {
		at(m.flashUntil)
	}
	if m.life.busy() {
		at(next(m.life.started))
	}
	switch {
	case m.lastErr != nil, m.paused:
		at(now.Add(time.Second)) // "retry in 4s", "STALE data 9s old"
	case m.inFlight:
		if slow := m.fetchStarted.Add(slowRefresh); slow.After(now) {
			at(slow)
		} else {
			at(next(m.fetchStarted))
		}
	case m.interval > time.Second && !m.lastOK.IsZero():
		// The data's age between refreshes; the second the next refresh
		// is due is left to it, and a late one is counted from its start.
		if t := next(m.lastOK); t.Sub(m.lastOK) < m.interval {
			at(t)
		}
	}
	return due
}
