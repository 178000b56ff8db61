package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// ReplicationLines is the replication in words, a line each: the
// standbys and slots of a primary and its WAL rate, or a standby's
// replay; nil when there is nothing to say. esc makes the server's text
// safe for where it goes.
func ReplicationLines(snap *inspect.Snapshot, esc func(string) string) []string {
	r := snap.Replication
	if r == nil {
		return nil
	}
	var out []string
	if st := r.Standby; st != nil {
		line := "this server is a standby: replay "
		if st.ReplayPaused {
			line += "PAUSED (pg_wal_replay_resume() resumes it)"
		} else {
			line += "running"
		}
		if st.ReplayLagBytes != nil {
			line += ", " + human.Bytes(*st.ReplayLagBytes) + " received and not replayed"
		}
		if st.ReplayDelaySeconds != nil {
			line += fmt.Sprintf(", %s behind the primary's last commit", human.Duration(secondsOf(*st.ReplayDelaySeconds)))
		}
		receiver := "no WAL receiver"
		if st.Receiver != "" {
			receiver = "receiver " + esc(st.Receiver)
			if st.SenderHost != "" {
				receiver += " from " + esc(st.SenderHost)
			}
		}
		c := st.Conflicts
		line += fmt.Sprintf("; %s; hot_standby_feedback %s; queries cancelled by recovery: %d (lock %d, snapshot %d, buffer pin %d, deadlock %d, tablespace %d)",
			receiver, onOff(st.HotStandbyFeedback), c.Lock+c.Snapshot+c.BufferPin+c.Deadlock+c.Tablespace, c.Lock, c.Snapshot, c.BufferPin, c.Deadlock, c.Tablespace)
		out = append(out, line)
		if w := ReplayWait(snap, esc); w != "" {
			out = append(out, w)
		}
	}
	if r.Standby == nil {
		line := fmt.Sprintf("%d standby(s), %d slot(s)", len(r.Standbys), len(r.Slots))
		if r.WALBytesPerSecond != nil {
			line += fmt.Sprintf(", WAL written at %s/s", human.Bytes(int64(*r.WALBytesPerSecond)))
		}
		out = append(out, line)
	}
	if sp := r.WALSpike; sp != nil {
		line := fmt.Sprintf("WAL SPIKE since %s: %s/s against %s/s in the minutes before", sp.Since.Format("15:04:05"),
			human.Bytes(int64(sp.BytesPerSecond)), human.Bytes(int64(sp.BaselineBytesPerSecond)))
		if len(sp.Suspects) == 0 {
			line += "; no running session explains it"
		}
		for i, w := range sp.Suspects {
			sep := "; "
			if i > 0 {
				sep = ", then "
			}
			how := w.Attribution + " " + esc(w.Evidence)
			if w.Bytes != nil && sp.MeasuredBytes != nil {
				how = fmt.Sprintf("measured: %s of the last %s", human.Bytes(*w.Bytes), human.Bytes(*sp.MeasuredBytes))
			}
			line += fmt.Sprintf("%spid %d (%s, %s) %s", sep, w.PID, orDash(esc(w.ApplicationName)), how, esc(w.Query))
		}
		out = append(out, line)
	}
	for i := range r.Standbys {
		s := &r.Standbys[i]
		line := fmt.Sprintf("standby %s (%s) %s %s: behind by sent %s, written %s, flushed %s, replayed %s",
			orDash(esc(s.ApplicationName)), orDash(esc(s.ClientAddr)), esc(s.State), esc(s.SyncState),
			lagBytes(s.SentLagBytes), lagBytes(s.WriteLagBytes), lagBytes(s.FlushLagBytes), lagBytes(s.ReplayLagBytes))
		if s.ReplayLag != nil {
			line += fmt.Sprintf(" (replay lag %s)", human.Duration(secondsOf(*s.ReplayLag)))
		}
		out = append(out, line)
	}
	for i := range r.Slots {
		s := &r.Slots[i]
		state := "active"
		if !s.Active {
			state = "INACTIVE"
		}
		line := fmt.Sprintf("slot %s (%s", esc(s.Name), esc(s.Type))
		if s.Database != "" {
			line += ", database " + esc(s.Database)
		}
		line += ") " + state
		if s.RetainedBytes != nil {
			line += ": retains " + human.Bytes(*s.RetainedBytes) + " of WAL"
		}
		if s.WALStatus != "" {
			line += " (wal_status " + esc(s.WALStatus) + ")"
		}
		out = append(out, line)
	}
	return out
}

// ReplayWait is what a standby's replay waits on, and who is in its way,
// in words; "" when it waits on nothing. Only a lock's holders are named
// by the server: for a snapshot, a buffer pin or a tablespace they are
// the oldest transactions, "likely".
func ReplayWait(s *inspect.Snapshot, esc func(string) string) string {
	if s.Replication == nil {
		return ""
	}
	st := s.Replication.Standby
	if st == nil || st.ReplayWaits == "" {
		return ""
	}
	text := "replay WAITS for a " + st.ReplayWaits + " (a recovery conflict)"
	if len(st.ReplayHeldBy) == 0 {
		if st.ReplayWaits == "lock" {
			return text + "; its holders are read on the next refresh"
		}
		return text + "; no open transaction here explains it"
	}
	pid := st.ReplayHeldBy[0]
	who := fmt.Sprintf("pid %d", pid)
	if b := s.Backend(pid); b != nil {
		who += " (" + orDash(esc(b.ApplicationName)) + ")"
		if b.XactStart != nil {
			who += ", in a transaction for " + human.Duration(s.ServerTime.Sub(*b.XactStart))
		}
	}
	if st.ReplayWaits == "lock" {
		text += " held by " + who
	} else {
		text += ": likely " + who + ", the oldest transaction here"
	}
	if n := len(st.ReplayHeldBy) - 1; n > 0 {
		text += fmt.Sprintf(" (+%d more)", n)
	}
	return text + "; replay goes on when it ends, or when max_standby_streaming_delay cancels it"
}

func lagBytes(b *int64) string {
	if b == nil {
		return "?"
	}
	return human.Bytes(*b)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func secondsOf(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// replicationText is the text report's section.
func (r *textReport) replication() {
	lines := ReplicationLines(r.s, clean)
	if len(lines) == 0 {
		return
	}
	r.printf("\nREPLICATION: %s\n", lines[0])
	for _, l := range lines[1:] {
		r.printf("  %s\n", l)
	}
}

// replicationMarkdown is the summary's section.
func replicationMarkdown(b *strings.Builder, s *inspect.Snapshot) {
	lines := ReplicationLines(s, md)
	if len(lines) == 0 {
		return
	}
	b.WriteString("**Replication**\n")
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n")
}
