package inspect

import "time"

// An Event is something that happened to the server, worth a line in the
// post-mortem: a blocker appearing, the pool crossing a level, an index
// left invalid, an action taken. The TUI, the recorder and the timeline
// all get them from one Detector, and `--events -` writes them as JSON
// lines: keys may be added, but existing keys keep their name and meaning.
type Event struct {
	At   time.Time `json:"at"`
	Kind EventKind `json:"kind"`
	// Text says what happened in one line of words, for the screen and
	// the timeline.
	Text string `json:"text"`

	// The session the event is about, when there is one.
	PID          int        `json:"pid,omitempty"`
	BackendStart *time.Time `json:"backend_start,omitempty"`
	App          string     `json:"application_name,omitempty"`
	User         string     `json:"user,omitempty"`
	Database     string     `json:"database,omitempty"`
	Query        string     `json:"query,omitempty"`
	// Lock is the lock mode a blocker holds or a waiter wants, Relation
	// the relation it is on.
	Lock     string `json:"lock,omitempty"`
	Relation string `json:"relation,omitempty"`
	// Index names the index of an index or build event; Phase is a
	// build's phase.
	Index string `json:"index,omitempty"`
	Phase string `json:"phase,omitempty"`

	// Count is what crossed a level: sessions queued, slots in use.
	Count int `json:"count,omitempty"`
	// Of is what Count is out of: usable slots.
	Of int `json:"of,omitempty"`
	// Level names the level crossed: "warn", "90%", "full", or a queue
	// length.
	Level string `json:"level,omitempty"`
	// Duration is how long what ended lasted (a blocker, a build), or
	// how long until the pool is full (a forecast).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Peak is the most sessions a blocker held up at once.
	Peak int `json:"peak,omitempty"`
	// PerMinute is a forecast's growth in slots a minute.
	PerMinute float64 `json:"per_minute,omitempty"`

	// An action's audit record: its id, its SQL and how it ended.
	ActionID string   `json:"action_id,omitempty"`
	Action   string   `json:"action,omitempty"`
	SQL      []string `json:"sql,omitempty"`
	Outcome  string   `json:"outcome,omitempty"`
}

// EventKind names what kind of thing happened. The values are part of the
// documented JSON contract.
type EventKind string

const (
	BlockerStart   EventKind = "blocker_start"   // a root blocker appears
	BlockerEnd     EventKind = "blocker_end"     // it is gone, or no longer blocks
	QueueOver      EventKind = "queue_over"      // a blocker's queue crosses a length
	SlotsOver      EventKind = "slots_over"      // slot use crosses warn, 90% or full
	SlotsUnder     EventKind = "slots_under"     // and falls back below the warn level
	ForecastFull   EventKind = "forecast_full"   // the pool will be full within minutes
	IndexInvalid   EventKind = "index_invalid"   // an invalid index appears
	IndexGone      EventKind = "index_gone"      // an invalid index is dropped or fixed
	BuildStart     EventKind = "build_start"     // CREATE INDEX / REINDEX starts
	BuildPhase     EventKind = "build_phase"     // and changes phase
	BuildEnd       EventKind = "build_end"       // and ends
	DeadlockCycle  EventKind = "deadlock_cycle"  // a wait cycle is seen
	PreparedLocks  EventKind = "prepared_locks"  // a prepared transaction blocks sessions
	ConnectionLost EventKind = "connection_lost" // reads fail: the picture goes stale
	ConnectionBack EventKind = "connection_back" // reads work again
	ActionTaken    EventKind = "action"          // a pgmedic action, from the audit log
)
