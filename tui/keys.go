package tui

import "charm.land/bubbles/v2/key"

// KeyMap holds every binding. Which of them apply where, and why one
// does not apply now, is the key stack's (bindings.go); the `?` help, the
// footer and the README's key table all come from it.
type KeyMap struct {
	Triage, Connections, Locks, Indexes, Log, Progress, Pooler, Replication key.Binding
	NextView, PrevView                                                      key.Binding

	Up, Down, Top, Bottom, PageUp, PageDown key.Binding
	Details, Back                           key.Binding

	Filter, Sort, Order, Group    key.Binding
	Pause, Faster, Slower         key.Binding
	Copy, CopySummary, Help, Quit key.Binding
	// Suspend is handled where the terminal is (Run), not by the model;
	// it is here for the help and the README.
	Suspend key.Binding

	// Uppercase: the keys that change the server.
	Cancel, Terminate, DropIndex, RebuildIndex key.Binding
	// Uppercase too: PgBouncer's admin commands on the selected pool's
	// database.
	PoolerPause, PoolerResume, PoolerKill, PoolerReconnect key.Binding

	// In a backend's details: the plan of its statement, never run.
	Explain key.Binding

	// In a question: y answers yes, any other key no.
	Yes, No key.Binding

	// The events list, live and in a replay.
	Events key.Binding
	// The server list: switch servers, see them all.
	Servers key.Binding
	// In a replay: moving in time (replayKeys).
	Play, StepForward, StepBack, MinuteForward, MinuteBack key.Binding
	NextEvent, PrevEvent, Start, End                       key.Binding
}

// DefaultKeyMap uses only keys that survive SSH and tmux: letters, digits,
// Enter, Esc, Tab, arrows, page keys.
func DefaultKeyMap() KeyMap {
	k := defaultKeys()
	replayKeys(&k)
	return k
}

func defaultKeys() KeyMap {
	return KeyMap{
		Triage:      key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "triage")),
		Connections: key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "connections")),
		Locks:       key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "locks")),
		Indexes:     key.NewBinding(key.WithKeys("4"), key.WithHelp("4", "indexes")),
		Log:         key.NewBinding(key.WithKeys("5"), key.WithHelp("5", "command log")),
		Progress:    key.NewBinding(key.WithKeys("6"), key.WithHelp("6", "progress")),
		Pooler:      key.NewBinding(key.WithKeys("7"), key.WithHelp("7", "pgbouncer")),
		Replication: key.NewBinding(key.WithKeys("8"), key.WithHelp("8", "replication")),
		Explain:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "explain its statement (EXPLAIN, never run)")),
		Servers:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "servers: the overview, and switching")),
		NextView:    key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next view")),
		PrevView:    key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous view")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Details:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / clear filter")),

		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort column")),
		Order:       key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort order")),
		Group:       key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "group counts")),
		Pause:       key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "pause refresh")),
		Faster:      key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "refresh faster")),
		Slower:      key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "refresh slower")),
		Copy:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy query, definition or SQL")),
		CopySummary: key.NewBinding(key.WithKeys("ctrl+y"), key.WithHelp("ctrl+y", "copy incident summary (Markdown); in a dialog, its SQL")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Suspend:     key.NewBinding(key.WithKeys("ctrl+z"), key.WithHelp("ctrl+z", "suspend (fg resumes)")),

		Cancel:       key.NewBinding(key.WithKeys("C"), key.WithHelp("C", "cancel query")),
		Terminate:    key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "terminate backend")),
		DropIndex:    key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "drop invalid index")),
		RebuildIndex: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "rebuild index")),

		PoolerPause:     key.NewBinding(key.WithKeys("P"), key.WithHelp("P", "PAUSE the pool's database")),
		PoolerResume:    key.NewBinding(key.WithKeys("U"), key.WithHelp("U", "RESUME it")),
		PoolerKill:      key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "KILL its connections")),
		PoolerReconnect: key.NewBinding(key.WithKeys("O"), key.WithHelp("O", "RECONNECT its servers")),

		Yes: key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:  key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
	}
}
