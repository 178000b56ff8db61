package actions

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pgmedic/pgmedic/inspect"
)

// EventOf turns an audit record into the event the recorder and the
// timeline place among the server's: when, who, what, the SQL and how it
// ended. A record read back from the log has its target as JSON; it is
// read again as the target it was.
func EventOf(r Record) inspect.Event {
	e := inspect.Event{At: r.Time, Kind: inspect.ActionTaken, ActionID: r.ID, Action: string(r.Action), SQL: r.SQL,
		Outcome: r.Outcome, Database: r.Database, User: r.User}
	raw, _ := json.Marshal(r.Target)
	var what string
	switch r.Action {
	case Cancel, Terminate:
		var b BackendTarget
		if json.Unmarshal(raw, &b) == nil && b.PID != 0 {
			e.PID, e.App, e.Query = b.PID, b.Application, b.Query
			if !b.BackendStart.IsZero() {
				start := b.BackendStart
				e.BackendStart = &start
			}
			what = fmt.Sprintf("pid %d (%s)", b.PID, b.Application)
		}
	case DropIndex, Rebuild:
		var ix IndexTarget
		if json.Unmarshal(raw, &ix) == nil && ix.Name != "" {
			e.Index = inspect.QuoteIdent(ix.Schema) + "." + inspect.QuoteIdent(ix.Name)
			e.Relation = inspect.QuoteIdent(ix.Schema) + "." + inspect.QuoteIdent(ix.Table)
			what = e.Index
		}
	case RollbackPrepared:
		var px inspect.PreparedXact
		if json.Unmarshal(raw, &px) == nil && px.GID != "" {
			what = fmt.Sprintf("prepared transaction %q", px.GID)
		}
	}
	text := string(r.Action)
	if what != "" {
		text += " " + what
	}
	text += ": " + r.Outcome
	if msg := strings.Join(strings.Fields(r.Message), " "); msg != "" {
		text += ", " + msg
	}
	if r.Outcome == "done" && (r.Action == Cancel || r.Action == Terminate) {
		text += fmt.Sprintf("; sessions waiting on locks: %d before, %d after", r.BlockedBefore, r.BlockedAfter)
	}
	e.Text = text
	return e
}
