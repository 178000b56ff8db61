package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// outcomes keeps one record per action run: its final record, or its
// "started" record when there is no final one (pgmedic died while it ran).
func outcomes(log []actions.Record) []actions.Record {
	final := map[string]bool{}
	for _, r := range log {
		if r.ID != "" && r.Outcome != "started" {
			final[r.ID] = true
		}
	}
	var out []actions.Record
	for _, r := range log {
		if r.Outcome != "started" || !final[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

// Markdown writes the incident summary a responder pastes into the
// incident channel every few minutes, and the post-mortem starts from:
// time, server, pool, root blockers with their victims and ages, invalid
// indexes, builds, and the actions taken.
func Markdown(w io.Writer, s *inspect.Snapshot, log []actions.Record) error {
	var b strings.Builder
	now := s.ServerTime
	srv := &s.Server
	sat := &s.Saturation
	fmt.Fprintf(&b, "### pgmedic incident summary, %s\n\n", s.TakenAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&b, "**Server** PostgreSQL %s %s, database %s as %s (%s)\n\n", inspect.VersionString(srv.VersionNum),
		srv.ModeWord(), code(srv.Database), code(srv.User), srv.RoleWord())
	level := sat.Level(inspect.DefaultWarnPercent)
	fmt.Fprintf(&b, "**Pool** %d of %d usable slots (%.0f%%, %s), %d reserved; %d active, %d idle, %d idle in transaction, %d waiting on locks\n\n",
		sat.Used, sat.Usable, sat.Percent, level, srv.Reserved, sat.Active, sat.Idle, sat.IdleInTx+sat.IdleInTxAborted, sat.WaitingOnLock)

	f := &s.LockForest
	if len(f.Roots) == 0 {
		b.WriteString("**Root blockers** none: no session waits for another\n\n")
	} else {
		b.WriteString("**Root blockers**\n")
		for _, r := range f.Roots {
			n := &f.Nodes[r]
			fmt.Fprintf(&b, "- %s: holds up %d session(s), longest wait %s\n", rootText(s, n, now), n.BlockedTotal, human.Duration(n.LongestWait))
		}
		b.WriteString("\n")
	}
	if len(s.Indexes) > 0 {
		b.WriteString("**Invalid indexes**\n")
		for i := range s.Indexes {
			ix := &s.Indexes[i]
			line := fmt.Sprintf("- %s on %s: %s", code(ix.QualifiedName()), code(ix.QualifiedTable()), ix.Status.Describe())
			if ix.RejectsDuplicates() {
				line += " (UNIQUE: still rejects duplicates)"
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	if len(s.Builds) > 0 {
		b.WriteString("**Builds in progress**\n")
		for i := range s.Builds {
			bd := &s.Builds[i]
			line := fmt.Sprintf("- pid %d %s %s on %s: %s", bd.PID, md(bd.Command), code(orNew(bd.Index)), code(bd.Table), md(bd.Phase))
			if bd.Step > 0 {
				line += fmt.Sprintf(" (phase %d of %d)", bd.Step, bd.Steps)
			}
			if bd.Percent != nil {
				line += fmt.Sprintf(", %.0f%%", *bd.Percent)
			}
			if bd.ETASeconds != nil {
				line += ", ETA " + human.Duration(time.Duration(*bd.ETASeconds*float64(time.Second)))
			}
			b.WriteString(line + "\n")
		}
		b.WriteString("\n")
	}
	if len(s.Operations) > 0 || len(s.Rewrites) > 0 {
		b.WriteString("**Long operations**\n")
		for i := range s.Operations {
			b.WriteString("- " + OperationLine(&s.Operations[i], s.ServerTime, md) + "\n")
		}
		for i := range s.Rewrites {
			rw := &s.Rewrites[i]
			b.WriteString("- " + RewriteLine(rw, s.ServerTime, md) + ". " + md(rw.Meaning) + " " + md(rw.Unknown) + "\n")
		}
		b.WriteString("\n")
	}
	replicationMarkdown(&b, s)
	poolerMarkdown(&b, s.Pooler)
	if log = outcomes(log); len(log) > 0 {
		b.WriteString("**Actions taken**\n")
		for _, r := range log {
			msg := r.Message
			if r.Outcome == "started" {
				msg = "no final record: pgmedic was stopped while it ran (killed?); look at the server for what it left"
			}
			fmt.Fprintf(&b, "- %s %s %s: %s", r.Time.Format("15:04:05"), strings.ToUpper(r.Outcome), md(string(r.Action)), md(msg))
			if len(r.SQL) > 0 {
				fmt.Fprintf(&b, " %s", code(r.SQL[len(r.SQL)-1]))
			}
			b.WriteString("\n")
		}
	} else {
		b.WriteString("**Actions taken** none by pgmedic\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func rootText(s *inspect.Snapshot, n *inspect.LockNode, now time.Time) string {
	switch {
	case n.Backend < 0 && n.PID == 0:
		return "prepared transaction " + code(n.PreparedGID)
	case n.Backend < 0:
		return fmt.Sprintf("pid %d (gone)", n.PID)
	}
	be := &s.Backends[n.Backend]
	what := md(be.State)
	if be.IdleInTransaction() {
		what = "idle in transaction " + human.Duration(be.StateAge(now))
	} else if be.State == "active" {
		what = "active " + human.Duration(be.QueryAge(now))
	}
	text := fmt.Sprintf("pid %d (%s, user %s) %s", n.PID, code(be.ApplicationName), code(be.User), what)
	if n.Cycle {
		text += ", in a wait cycle (deadlock)"
	}
	return text + ", query " + code(human.Truncate(safetext.Line(be.Query), 120))
}

// md makes server text safe for Markdown prose: no control characters, and
// the characters Markdown would act on escaped.
func md(s string) string {
	s = safetext.Line(s)
	return strings.NewReplacer("*", `\*`, "_", `\_`, "`", "'", "[", `\[`, "<", "&lt;").Replace(s)
}

// code renders server text as a code span, long enough a fence for any
// backticks inside.
func code(s string) string {
	s = safetext.Line(s)
	if s == "" {
		return "`-`"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func orNew(s string) string {
	if s == "" {
		return "(new index)"
	}
	return s
}

// Inline renders server text as plain Markdown text on one line, safe on
// a terminal: what the timeline writes too.
func Inline(s string) string { return md(s) }
