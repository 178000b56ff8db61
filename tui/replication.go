package tui

import (
	"fmt"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
)

// When replication is worth a line in Triage: a standby this far behind,
// a slot nobody uses holding back this much WAL.
const (
	standbyBehindBytes   = 16 << 20
	standbyBehindSeconds = 30
	slotRetainsBytes     = 1 << 30
)

// replicationFindings are a standby falling behind, an inactive slot
// retaining disk (or whose WAL is already going), and, on a standby,
// paused or delayed replay.
func replicationFindings(s *inspect.Snapshot) []finding {
	r := s.Replication
	if r == nil {
		return nil
	}
	var out []finding
	if st := r.Standby; st != nil {
		behind := ""
		if st.ReplayLagBytes != nil && *st.ReplayLagBytes > 0 {
			behind = ", " + human.Bytes(*st.ReplayLagBytes) + " received and not replayed"
		}
		switch {
		case st.ReplayPaused:
			out = append(out, finding{key: "replay", label: "REPLAY",
				text: "replay is PAUSED on this standby" + behind + ": pg_wal_replay_resume() resumes it"})
		case st.ReplayDelaySeconds != nil && *st.ReplayDelaySeconds >= standbyBehindSeconds:
			out = append(out, finding{key: "replay", label: "REPLAY",
				text: fmt.Sprintf("replay is %s behind the primary's last commit%s", human.Duration(secondsOf(*st.ReplayDelaySeconds)), behind)})
		}
	}
	for i := range r.Standbys {
		sb := &r.Standbys[i]
		far := sb.ReplayLagBytes != nil && *sb.ReplayLagBytes >= standbyBehindBytes
		late := sb.ReplayLag != nil && *sb.ReplayLag >= standbyBehindSeconds
		if !far && !late {
			continue
		}
		text := fmt.Sprintf("standby %s (%s) replays", orNone(clean(sb.ApplicationName)), orNone(clean(sb.ClientAddr)))
		if sb.ReplayLagBytes != nil {
			text += " " + human.Bytes(*sb.ReplayLagBytes)
		}
		if sb.ReplayLag != nil {
			text += " / " + human.Duration(secondsOf(*sb.ReplayLag))
		}
		text += " behind"
		if r.WALBytesPerSecond != nil {
			text += fmt.Sprintf("; WAL written at %s/s", human.Bytes(int64(*r.WALBytesPerSecond)))
		}
		out = append(out, finding{key: fmt.Sprintf("standby:%d", sb.PID), label: "STANDBY", text: text, target: target{pid: sb.PID}})
	}
	if sp := r.WALSpike; sp != nil {
		f := finding{key: "walspike", label: "WAL", text: walSpikeText(sp)}
		if len(sp.Suspects) > 0 {
			f.target, f.hint = target{pid: sp.Suspects[0].PID}, "[enter] details"
		}
		out = append(out, f)
	}
	for i := range r.Slots {
		sl := &r.Slots[i]
		big := sl.RetainedBytes != nil && *sl.RetainedBytes >= slotRetainsBytes
		going := sl.WALStatus == "unreserved" || sl.WALStatus == "lost"
		if sl.Active || sl.Temporary || !big && !going {
			continue
		}
		text := fmt.Sprintf("slot %s inactive", clean(sl.Name))
		if sl.RetainedBytes != nil {
			text += ", retains " + human.Bytes(*sl.RetainedBytes) + " of WAL"
		}
		switch sl.WALStatus {
		case "lost":
			text += ": its WAL is already removed, the slot is useless"
		case "unreserved":
			text += ": its WAL is about to be removed (max_slot_wal_keep_size)"
		default:
			text += ": disk fills until it is used or dropped"
		}
		out = append(out, finding{key: "slot:" + sl.Name, label: "SLOT", text: text})
	}
	return out
}

func secondsOf(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// walSpikeText names the rate, the minutes before, and the likeliest
// writer: "likely", since before PostgreSQL 18 the server does not say.
func walSpikeText(sp *inspect.WALSpike) string {
	text := fmt.Sprintf("WAL at %s/s", human.Bytes(int64(sp.BytesPerSecond)))
	if sp.BaselineBytesPerSecond >= 1 {
		text += fmt.Sprintf(", %.0f× the minutes before (%s/s)", sp.BytesPerSecond/sp.BaselineBytesPerSecond, human.Bytes(int64(sp.BaselineBytesPerSecond)))
	} else {
		text += " after quiet minutes"
	}
	if len(sp.Suspects) == 0 {
		return text + ": no session seen writing in bulk (a checkpoint's full-page writes?)"
	}
	w := sp.Suspects[0]
	return text + fmt.Sprintf(": likely pid %d (%s) %s", w.PID, orNone(clean(w.Application)), clean(w.What))
}
