package tui

import (
	"fmt"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/report"
)

// When replication is worth a line in Triage: a standby this far behind,
// a slot nobody uses holding back this much WAL.
const (
	standbyBehindBytes   = 16 << 20
	standbyBehindSeconds = 30
	slotRetainsBytes     = 1 << 30
)

// replicationFindings are a WAL spike and who writes it, a standby
// falling behind, an inactive slot retaining disk (or whose WAL is
// already going), and, on a standby, replay paused, waiting for a
// session here, or delayed.
func replicationFindings(s *inspect.Snapshot) []finding {
	r := s.Replication
	if r == nil {
		return nil
	}
	var out []finding
	if r.WALSpike != nil {
		out = append(out, walSpikeFinding(r.WALSpike))
	}
	if st := r.Standby; st != nil {
		behind := ""
		if st.ReplayLagBytes != nil && *st.ReplayLagBytes > 0 {
			behind = ", " + human.Bytes(*st.ReplayLagBytes) + " received and not replayed"
		}
		switch {
		case st.ReplayPaused:
			out = append(out, finding{key: "replay", label: "REPLAY",
				text: "replay is PAUSED on this standby" + behind + ": pg_wal_replay_resume() resumes it"})
		case st.ReplayWaits != "":
			// Who is in replay's way, so that enter shows it and K ends it.
			f := finding{key: "replay", label: "REPLAY", text: report.ReplayWait(s, clean) + behind}
			if len(st.ReplayHeldBy) > 0 {
				f.target, f.hint = target{pid: st.ReplayHeldBy[0]}, "[enter] details"
			}
			out = append(out, f)
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

// walSpikeFinding names the first suspect of a WAL spike, and says
// whether its own WAL counter shows it writing (measured) or what it
// runs only makes it the likely writer.
func walSpikeFinding(sp *inspect.WALSpike) finding {
	rate := func(r float64) string { return human.Bytes(int64(r)) + "/s" }
	text := "WAL at " + rate(sp.BytesPerSecond)
	if base := sp.BaselineBytesPerSecond; base > 0 && sp.BytesPerSecond < 100*base {
		text += fmt.Sprintf(", %.0f× the last minutes' %s", sp.BytesPerSecond/base, rate(base))
	} else {
		text += ", up from " + rate(base) + " over the last minutes"
	}
	f := finding{key: "wal", label: "WAL"}
	if len(sp.Suspects) == 0 {
		f.text = text + ": no running session explains it (a statement that ended, a checkpoint's full-page images, a background process)"
		return f
	}
	w := &sp.Suspects[0]
	who := fmt.Sprintf("pid %d (%s)", w.PID, orNone(clean(w.ApplicationName)))
	what := gist(w.Query)
	switch {
	case w.Attribution == inspect.Measured && w.Bytes != nil && sp.MeasuredBytes != nil:
		text += fmt.Sprintf(": %s %s writes it (measured: %s of the last %s)", who, orNone(what),
			human.Bytes(*w.Bytes), human.Bytes(*sp.MeasuredBytes))
	case w.Evidence == inspect.LongestWrite && what != "":
		text += fmt.Sprintf(": likely %s, %s: %s", who, w.Evidence, what)
	default:
		text += fmt.Sprintf(": likely %s, %s", who, clean(w.Evidence))
	}
	if n := len(sp.Suspects) - 1; n > 0 {
		text += fmt.Sprintf("; %d more suspect(s)", n)
	}
	f.text, f.hint, f.target = text, "[enter] details", target{pid: w.PID}
	return f
}

func secondsOf(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
