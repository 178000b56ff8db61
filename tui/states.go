package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// sessionID names a session: a pid is reused by other sessions, its
// start time is not. A struct rather than a formatted string: it is
// looked up for every backend on every refresh.
type sessionID struct {
	pid   int
	start int64
}

func idOf(b *inspect.Backend) sessionID {
	id := sessionID{pid: b.PID}
	if b.BackendStart != nil {
		id.start = b.BackendStart.UnixNano()
	}
	return id
}

// stateChange is a session's state from At on.
type stateChange struct {
	at                 time.Time
	state              string
	waitType, waitName string
	queryAt            int64 // query_start: a new statement starts a new entry
}

// stateLog is what the screen remembers of one session.
type stateLog struct {
	changes []stateChange
	seen    time.Time // the last refresh it was in
}

// maxStateChanges bounds each session's log: the latest are kept.
const maxStateChanges = 20

// states keeps each session's state changes over the last HistorySpan,
// from the refreshes: bounded by the sessions seen in that span times
// maxStateChanges, whatever the run length.
type states struct {
	logs map[sessionID]*stateLog
	// since is the first refresh the logs saw: what came before is not
	// known.
	since time.Time
	swept time.Time
	// The last snapshot's sessions in its order, and their logs: the
	// server lists backends in the same order from one refresh to the
	// next, so most are found without hashing.
	ids  []sessionID
	last []*stateLog
}

// observe adds a snapshot's states. Work per refresh is one map lookup
// and a few string compares per backend; the sweep of sessions gone is
// once a minute.
func (st *states) observe(s *inspect.Snapshot) {
	now := s.ServerTime
	if st.logs == nil {
		st.logs, st.since, st.swept = map[sessionID]*stateLog{}, now, now
	}
	ids, last := st.ids[:0], st.last[:0]
	prevIDs, prevLogs := st.ids, st.last
	// ids and last are rebuilt in place: entry i is written only after
	// the old entry i was read.
	for i := range s.Backends {
		b := &s.Backends[i]
		id := idOf(b)
		var l *stateLog
		if i < len(prevIDs) && prevIDs[i] == id {
			l = prevLogs[i]
		} else if l = st.logs[id]; l == nil {
			l = &stateLog{}
			st.logs[id] = l
		}
		ids, last = append(ids, id), append(last, l)
		if b.Own {
			continue
		}
		l.seen = now
		var q int64
		if b.QueryStart != nil {
			q = b.QueryStart.UnixNano()
		}
		if n := len(l.changes); n > 0 {
			last := &l.changes[n-1]
			if last.queryAt == q && last.state == b.State && last.waitName == b.WaitEvent && last.waitType == b.WaitEventType {
				continue
			}
		}
		at := now
		if b.StateChange != nil && b.StateChange.Before(now) {
			// The server says when the state changed; the refresh only
			// when it was seen.
			at = *b.StateChange
		}
		l.changes = append(l.changes, stateChange{at: at, state: b.State, waitType: b.WaitEventType, waitName: b.WaitEvent, queryAt: q})
		if len(l.changes) > maxStateChanges {
			l.changes = append(l.changes[:0], l.changes[len(l.changes)-maxStateChanges:]...)
		}
	}
	st.ids, st.last = ids, last
	if now.Sub(st.swept) >= time.Minute {
		st.swept = now
		for id, l := range st.logs {
			if now.Sub(l.seen) > HistorySpan {
				delete(st.logs, id)
			}
		}
	}
}

func (c *stateChange) wait() string {
	if c.waitType == "" {
		return ""
	}
	return c.waitType + ":" + c.waitName
}

// text is a session's history for the details pane, oldest first, each
// line with how long the state lasted; "" when nothing was kept.
func (st *states) text(b *inspect.Backend, now time.Time) string {
	l := st.logs[idOf(b)]
	if l == nil || len(l.changes) == 0 {
		return ""
	}
	var out strings.Builder
	if b.BackendStart != nil && b.BackendStart.Before(st.since) && b.BackendStart.Before(l.changes[0].at) {
		// Its earlier states were before the first refresh that saw it.
		fmt.Fprintf(&out, "STATE HISTORY (what came before %s was not seen: pgmedic started watching at %s)\n",
			l.changes[0].at.Format("15:04:05"), st.since.Format("15:04:05"))
	} else {
		out.WriteString("STATE HISTORY\n")
	}
	for i, c := range l.changes {
		until := now
		if i+1 < len(l.changes) {
			until = l.changes[i+1].at
		}
		state := c.state
		if state == "" {
			state = "-"
		}
		line := fmt.Sprintf("%s  %-28s %-22s (%s)", c.at.Format("15:04:05"), clean(state), clean(c.wait()), human.Duration(until.Sub(c.at)))
		if i > 0 && c.queryAt != l.changes[i-1].queryAt && c.queryAt != 0 {
			line += " new statement"
		}
		out.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return out.String()
}
