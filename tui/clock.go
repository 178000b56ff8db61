package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"
)

// slowRefresh is how long a refresh runs before the header says so.
const slowRefresh = 2 * time.Second

// clock wakes the model once a second while something on screen counts
// (see counting), and not at all otherwise: at a 1s refresh with nothing
// counting, the refresh's own frame is the only one. It is one timer with
// one command waiting on it, issued by Init and again by each clockMsg, so
// stopping it leaves no tick behind to wake the process.
type clock struct {
	timer *time.Timer
	on    bool
}

// wait is the command that delivers the next clockMsg.
func (c *clock) wait() tea.Cmd {
	if c.timer == nil {
		c.timer = time.NewTimer(time.Hour)
		c.timer.Stop()
	}
	ch := c.timer.C
	return func() tea.Msg {
		<-ch
		return clockMsg{}
	}
}

// run starts the clock (due a second from now) or stops it. Before Init
// (in tests) there is no timer.
func (c *clock) run(on bool) {
	if c.timer == nil || on == c.on {
		return
	}
	c.on = on
	if on {
		c.timer.Reset(time.Second)
	} else {
		c.timer.Stop()
	}
}

// rang is called when the clock's clockMsg arrives.
func (c *clock) rang() { c.on = false }

// counting says whether the screen, drawn at m.now, changes with time
// alone: it shows a counter or a message that expires. It asks about
// states, not about each counter, so a new counter in one of these states
// needs nothing here.
func (m *Model) counting() bool {
	return m.lastErr != nil || // "retry in 4s", "STALE data 9s old"
		m.paused || // "data 9s old, frozen"
		m.inFlight || // "refresh taking 3s", once it is slow
		m.life.busy() || // an action's elapsed time
		(m.flash != "" && m.now.Before(m.flashUntil)) ||
		(m.interval > time.Second && !m.lastOK.IsZero()) // "refreshed 3s ago" between refreshes
}
