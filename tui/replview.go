package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/report"
)

// replicationView is the Replication view's index among the panes.
const replicationView = 7

const (
	rsName = iota
	rsAddr
	rsState
	rsSync
	rsSent
	rsWrite
	rsFlush
	rsReplay
	rsLag
	rsReply
)

// The standbys' columns: how far behind the primary's current position
// each stage is, in bytes, then the server's replay lag in time. The
// replay bytes and time say "behind" on their own; the other stages tell
// where it is stuck (the network, the standby's disk, or its replay).
var standbyColumns = []column{
	{title: "STANDBY", min: 12, priority: 100, flex: true},
	{title: "ADDRESS", width: 15, priority: 70},
	{title: "STATE", width: 9, priority: 90},
	{title: "SYNC", width: 6, priority: 55},
	{title: "SENT", width: 9, priority: 65, right: true},
	{title: "WRITTEN", width: 9, priority: 75, right: true},
	{title: "FLUSHED", width: 9, priority: 80, right: true},
	{title: "REPLAYED", width: 9, priority: 100, right: true},
	{title: "LAG", width: 7, priority: 98, right: true},
	{title: "REPLY", width: 6, priority: 50, right: true},
}

const (
	slName = iota
	slType
	slDatabase
	slActive
	slRetained
	slStatus
	slSafe
)

var slotColumns = []column{
	{title: "SLOT", min: 12, priority: 100, flex: true},
	{title: "TYPE", width: 8, priority: 60},
	{title: "DATABASE", width: 12, priority: 50},
	{title: "ACTIVE", width: 8, priority: 95},
	{title: "RETAINED", width: 9, priority: 100, right: true},
	{title: "WAL", width: 10, priority: 90},
	{title: "SAFE", width: 9, priority: 45, right: true},
}

type standbyRow struct {
	pid   int
	cells []string
	word  string // BEHIND past Triage's thresholds
}

// replicationPane lists a primary's standbys (the rows the cursor moves
// over: enter shows the walsender, K ends it) and its slots under them;
// on a standby, its replay and its slots.
type replicationPane struct {
	rows   []standbyRow
	slots  [][]string
	words  []string // a slot's state word: INACTIVE when Triage lists it
	list   list
	table  *table
	slotsT *table
	w, h   int
}

func newReplication() *replicationPane {
	return &replicationPane{table: newTable(standbyColumns), slotsT: newTable(slotColumns)}
}

func (p *replicationPane) title() string { return "Replication" }

// hasReplication reports whether the server has anything for the view:
// standbys, slots, or a replay of its own.
func hasReplication(s *inspect.Snapshot) bool {
	r := s.Replication
	return r != nil && (len(r.Standbys) > 0 || len(r.Slots) > 0 || r.Standby != nil)
}

func (p *replicationPane) refresh(c *common) {
	p.rows, p.slots, p.words = p.rows[:0], p.slots[:0], p.words[:0]
	var keys []string
	if s := c.snap; s != nil && s.Replication != nil {
		for i := range s.Replication.Standbys {
			sb := &s.Replication.Standbys[i]
			word := ""
			if standbyBehind(sb) {
				word = "BEHIND"
			}
			reply := ""
			if sb.ReplyTime != nil {
				reply = age(s.ServerTime.Sub(*sb.ReplyTime))
			}
			p.rows = append(p.rows, standbyRow{pid: sb.PID, word: word, cells: []string{
				orNone(clean(sb.ApplicationName)), clean(sb.ClientAddr), clean(sb.State), clean(sb.SyncState),
				bytesCell(sb.SentLagBytes), bytesCell(sb.WriteLagBytes), bytesCell(sb.FlushLagBytes),
				bytesCell(sb.ReplayLagBytes), lagCell(sb.ReplayLag), reply}})
			keys = append(keys, fmt.Sprintf("standby:%d", sb.PID))
		}
		for i := range s.Replication.Slots {
			sl := &s.Replication.Slots[i]
			active := "no"
			if sl.Active {
				active = "yes"
				if sl.ActivePID != 0 {
					active = fmt.Sprintf("pid %d", sl.ActivePID)
				}
			}
			kind := clean(sl.Type)
			if sl.Temporary {
				kind = "temp " + kind
			}
			word := ""
			if slotListed(sl) {
				active, word = "NO", "INACTIVE"
			}
			p.slots = append(p.slots, []string{clean(sl.Name), kind, clean(sl.Database), active,
				bytesCell(sl.RetainedBytes), clean(sl.WALStatus), bytesCell(sl.SafeWALSizeBytes)})
			p.words = append(p.words, word)
		}
	}
	p.list.setKeys(keys)
	p.table.forget()
	p.slotsT.forget()
	p.setSize(p.w, p.h)
}

// standbyBehind is Triage's rule for a standby worth a line.
func standbyBehind(sb *inspect.Standby) bool {
	return sb.ReplayLagBytes != nil && *sb.ReplayLagBytes >= standbyBehindBytes ||
		sb.ReplayLag != nil && *sb.ReplayLag >= standbyBehindSeconds
}

// slotListed is Triage's rule for a slot worth a line: inactive, and
// retaining a lot of WAL or losing it.
func slotListed(sl *inspect.Slot) bool {
	big := sl.RetainedBytes != nil && *sl.RetainedBytes >= slotRetainsBytes
	going := sl.WALStatus == "unreserved" || sl.WALStatus == "lost"
	return !sl.Active && !sl.Temporary && (big || going)
}

// bytesCell is a lag or a size; "–" when the server did not say (a role
// that may not see it, a slot never used), "0" for none, narrower than
// "0 bytes".
func bytesCell(n *int64) string {
	switch {
	case n == nil:
		return "–"
	case *n == 0:
		return "0"
	}
	return human.Bytes(*n)
}

func lagCell(s *float64) string {
	if s == nil {
		return "–"
	}
	return human.Duration(secondsOf(*s))
}

// slotRoom is how many slot rows the view keeps under the standbys.
func (p *replicationPane) slotRoom() int {
	return max(1, min(len(p.slots), (p.h-6)/2))
}

func (p *replicationPane) setSize(w, h int) {
	p.w, p.h = w, h
	p.table.setWidth(w)
	p.slotsT.setWidth(w)
	// The heading, the WAL line, two section headings and a table
	// header each, a blank line, and the slots.
	p.list.setHeight(max(1, min(len(p.rows), h-7-p.slotRoom())))
}

func (p *replicationPane) update(c *common, msg tea.KeyPressMsg) (bool, tea.Cmd) {
	return moveList(&p.list, &c.keys, msg), nil
}

func (p *replicationPane) commands(c *common) []command { return moveCommands(&c.keys) }

func (p *replicationPane) selected() target {
	if p.list.cursor < len(p.rows) {
		return target{pid: p.rows[p.list.cursor].pid}
	}
	return target{}
}

func (p *replicationPane) view(c *common) string {
	st := &c.styles
	s := c.snap
	if s == nil {
		return "\n  Waiting for the first snapshot…"
	}
	var b strings.Builder
	// The heading's first word only is styled as a column title.
	head := func(text string) {
		title, rest, _ := strings.Cut(text, "  ")
		if rest != "" {
			rest = "  " + rest
		}
		b.WriteString(fitCell(st.Column.Render(title)+rest, p.w, false) + "\n")
	}
	r := s.Replication
	if !hasReplication(s) {
		head("REPLICATION")
		b.WriteString(fitCell("  No standby, no replication slot: this primary replicates to nobody.", p.w, false))
		return b.String()
	}
	if sb := r.Standby; sb != nil {
		head("REPLICATION  this server is a standby")
		for _, line := range standbyLines(sb) {
			b.WriteString(fitCell("  "+line, p.w, false) + "\n")
		}
		if w := report.ReplayWait(s, clean); w != "" {
			b.WriteString(fitCell(c.paint(&st.Warn, "  waits        "+strings.TrimPrefix(w, "replay WAITS ")), p.w, false) + "\n")
		}
	} else {
		line := "REPLICATION  " + fmt.Sprintf("%d standby(s), %d slot(s)", len(r.Standbys), len(r.Slots))
		if r.LSN != "" {
			line += " · at " + clean(r.LSN)
		}
		if r.WALBytesPerSecond != nil {
			line += fmt.Sprintf(" · WAL %s/s", human.Bytes(int64(*r.WALBytesPerSecond)))
		}
		head(line)
		if r.WALSpike != nil {
			b.WriteString(fitCell(c.paint(&st.Warn, "  SPIKE "+walSpikeFinding(r.WALSpike).text), p.w, false) + "\n")
		}
		b.WriteString(fitCell(st.Column.Render(fmt.Sprintf("STANDBYS (%d)", len(p.rows))), p.w, false))
		if len(p.rows) == 0 {
			b.WriteString("\n  None connected.")
		} else {
			b.WriteString("\n" + p.table.header(c, -1, false))
			p.table.window(&b, c, &p.list, rsState, func(i int) ([]string, string) { return p.rows[i].cells, p.rows[i].word })
		}
		b.WriteString("\n\n")
	}
	b.WriteString(fitCell(st.Column.Render(fmt.Sprintf("SLOTS (%d)", len(p.slots))), p.w, false))
	if len(p.slots) == 0 {
		b.WriteString("\n  None.")
		return b.String()
	}
	room := p.slotRoom()
	if r.Standby != nil {
		room = max(1, min(len(p.slots), p.h-9))
	}
	b.WriteString("\n" + p.slotsT.header(c, -1, false))
	for i, cells := range p.slots {
		if i == room-1 && len(p.slots) > room {
			fmt.Fprintf(&b, "\n  … %d more", len(p.slots)-i)
			break
		}
		b.WriteString("\n" + p.slotsT.row(c, cells, false, slActive, stateStyle(st, p.words[i])))
	}
	return b.String()
}

// standbyLines are a standby's replay in a few lines.
func standbyLines(sb *inspect.StandbyState) []string {
	replay := "replay       running"
	if sb.ReplayPaused {
		replay = "replay       PAUSED: pg_wal_replay_resume() resumes it"
	}
	behind := "received     "
	if sb.ReplayLagBytes != nil {
		behind += human.Bytes(*sb.ReplayLagBytes) + " not replayed yet"
	} else {
		behind += "–"
	}
	if sb.ReplayDelaySeconds != nil {
		behind += fmt.Sprintf("; the last replayed commit is %s old", human.Duration(secondsOf(*sb.ReplayDelaySeconds)))
	}
	receiver := "receiver     none: no WAL is streaming in"
	if sb.Receiver != "" {
		receiver = "receiver     " + clean(sb.Receiver)
		if sb.SenderHost != "" {
			receiver += " from " + clean(sb.SenderHost)
		}
	}
	feedback := "feedback     hot_standby_feedback off: long queries here may be cancelled"
	if sb.HotStandbyFeedback {
		feedback = "feedback     hot_standby_feedback on: the primary keeps rows our queries need (bloat there)"
	}
	k := sb.Conflicts
	conflicts := fmt.Sprintf("cancelled    %d queries by recovery (lock %d, snapshot %d, buffer pin %d, deadlock %d, tablespace %d)",
		k.Lock+k.Snapshot+k.BufferPin+k.Deadlock+k.Tablespace, k.Lock, k.Snapshot, k.BufferPin, k.Deadlock, k.Tablespace)
	return []string{replay, behind, receiver, feedback, conflicts}
}
