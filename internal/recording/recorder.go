package recording

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
)

// Detector finds the events in a run of snapshots (inspect.Detector).
type Detector interface {
	Observe(s *inspect.Snapshot) []inspect.Event
	Lost(at time.Time, err error) []inspect.Event
}

// Recorder is what the full-screen view and `pgmedic record` hand each
// refresh to: it writes the recording, finds the events, and follows the
// audit log for the actions taken meanwhile. It never makes a refresh
// fail: when the recording cannot be written it says so once, through
// Err, and the watching goes on. It is safe for concurrent use: the
// refreshes and an action's end come from different goroutines.
type Recorder struct {
	// Path is the file made at the first snapshot; "" records nothing
	// but still finds the events.
	Path string
	// Header is the recording's header; its Server is the first
	// snapshot's.
	Header   Header
	Detector Detector
	// Events, when set, gets every event as a JSON line as it is found.
	Events io.Writer
	// Audit is the audit log to follow, and the server whose records
	// count: its records written while recording become events.
	Audit *actions.Audit

	mu       sync.Mutex
	w        *Writer
	err      error
	auditOff int64
	auditSet bool
	seen     []inspect.Event
}

// Snapshot records one refresh and returns its events.
func (r *Recorder) Snapshot(s *inspect.Snapshot) []inspect.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var evs []inspect.Event
	if r.Detector != nil {
		evs = r.Detector.Observe(s)
	}
	evs = append(evs, r.actions()...)
	if r.Path != "" && r.w == nil && r.err == nil {
		h := r.Header
		h.Server = s.Server
		r.w, r.err = Create(r.Path, h)
	}
	if r.w != nil && r.err == nil {
		if err := r.w.Add(s); err != nil {
			r.err = err
		} else if err := r.w.AddEvents(evs); err != nil {
			r.err = err
		}
	}
	r.emit(evs)
	return evs
}

// Lost records that a refresh failed: the picture is stale from now.
func (r *Recorder) Lost(at time.Time, err error) []inspect.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Detector == nil {
		return nil
	}
	evs := r.Detector.Lost(at, err)
	if r.w != nil && r.err == nil {
		r.err = r.w.AddEvents(evs)
	}
	r.emit(evs)
	return evs
}

// emit writes events as JSON lines and keeps the latest for Events.
func (r *Recorder) emit(evs []inspect.Event) {
	for _, e := range evs {
		if r.Events != nil {
			if b, err := json.Marshal(e); err == nil {
				r.Events.Write(append(b, '\n'))
			}
		}
	}
	r.seen = append(r.seen, evs...)
	// Bounded like the rest of the live history: the screen's list of
	// events shows the latest, the file keeps them all.
	if n := len(r.seen); n > maxLiveEvents {
		r.seen = append(r.seen[:0], r.seen[n-maxLiveEvents:]...)
	}
}

// maxLiveEvents bounds the events kept in memory for the screen.
const maxLiveEvents = 1000

// Seen are the latest events found, oldest first (a copy).
func (r *Recorder) Seen() []inspect.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]inspect.Event(nil), r.seen...)
}

// actions are the audit log's new records for our server, as events. The
// log's size is checked each refresh (one stat); only what was appended
// since is read.
func (r *Recorder) actions() []inspect.Event {
	if r.Audit == nil {
		return nil
	}
	if !r.auditSet {
		// Only what happens while recording: the log holds older runs.
		r.auditSet = true
		if st, err := os.Stat(r.Audit.Path); err == nil {
			r.auditOff = st.Size()
		}
		return nil
	}
	recs, next, err := actions.ReadAuditFrom(r.Audit.Path, r.auditOff, r.Audit.Server, r.Audit.Database, r.Audit.SystemIdentifier)
	if err != nil {
		return nil
	}
	r.auditOff = next
	var evs []inspect.Event
	for _, rec := range recs {
		evs = append(evs, actions.EventOf(rec))
	}
	return evs
}

// Err is why the recording stopped, or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Written is the file being written, "" before the first snapshot or
// when nothing is recorded.
func (r *Recorder) Written() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return ""
	}
	return r.w.Path()
}

// Close ends the recording.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return r.err
	}
	err := r.w.Close()
	if r.err != nil {
		return r.err
	}
	if err != nil {
		return fmt.Errorf("recording %s: %w", r.w.Path(), err)
	}
	return nil
}
