// Package report renders a Snapshot as text for people (a compact report
// fit to paste into an incident channel) and as JSON for programs.
package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/safetext"
)

// JSON writes the snapshot as one JSON object (the documented contract),
// with every control and bidi character escaped: it is often read on a
// terminal, too.
func JSON(w io.Writer, s *inspect.Snapshot) error {
	b, err := safetext.EncodeJSON(s, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Options tune the text report.
type Options struct {
	// MaxChildren caps the waiters listed under one blocker; the rest are
	// summarised as "+N more". 0 means 10.
	MaxChildren int
	// QueryWidth caps the query text shown per line; 0 means 100.
	QueryWidth int
}

// Text writes the human report: saturation, lock forest with the roots
// first, invalid indexes, builds, warnings. Every string that came from
// the server goes through safetext.Line.
func Text(w io.Writer, s *inspect.Snapshot, o Options) error {
	if o.MaxChildren <= 0 {
		o.MaxChildren = 10
	}
	if o.QueryWidth <= 0 {
		o.QueryWidth = 100
	}
	r := &textReport{w: w, s: s, o: o, now: s.ServerTime}
	r.header()
	r.saturation()
	r.locks()
	r.indexes()
	r.builds()
	r.operations()
	r.replication()
	r.pooler()
	r.warnings()
	return r.err
}

type textReport struct {
	w   io.Writer
	s   *inspect.Snapshot
	o   Options
	now time.Time
	err error
}

func (r *textReport) printf(format string, args ...any) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, format, args...)
	}
}

func (r *textReport) header() {
	srv := &r.s.Server
	role, mode := srv.RoleWord(), srv.ModeWord()
	r.printf("pgmedic snapshot %s  PostgreSQL %s (%s)  database %s as %s (%s)\n",
		r.s.TakenAt.UTC().Format("2006-01-02 15:04:05Z"), clean(srv.Version), mode,
		clean(inspect.QuoteIdent(srv.Database)), clean(inspect.QuoteIdent(srv.User)), role)
}

func (r *textReport) saturation() {
	sat := &r.s.Saturation
	srv := &r.s.Server
	level := sat.Level(inspect.DefaultWarnPercent)
	r.printf("\nCONNECTIONS %s: %d of %d usable slots used (%.0f%%); max_connections %d, %d reserved\n",
		level, sat.Used, sat.Usable, sat.Percent, sat.Max, srv.Reserved)
	r.printf("  %d active, %d idle, %d idle in transaction", sat.Active, sat.Idle, sat.IdleInTx+sat.IdleInTxAborted)
	if sat.IdleInTxAborted > 0 {
		r.printf(" (%d aborted)", sat.IdleInTxAborted)
	}
	r.printf(", %d waiting on locks", sat.WaitingOnLock)
	if sat.OtherStates > 0 {
		r.printf(", %d other", sat.OtherStates)
	}
	r.printf("\n")
	switch {
	case sat.LongestIdleInTx > 0:
		r.printf("  oldest transaction %s, longest idle in transaction %s\n",
			human.Duration(sat.OldestXact), human.Duration(sat.LongestIdleInTx))
	case sat.OldestXact > 0:
		r.printf("  oldest transaction %s\n", human.Duration(sat.OldestXact))
	}
	if len(sat.ByApplication) > 0 {
		r.printf("  by application: %s\n", counts(sat.ByApplication, 6, "(none)"))
	}
}

func (r *textReport) locks() {
	f := &r.s.LockForest
	if len(f.Roots) == 0 {
		r.printf("\nLOCKS: no session is waiting on another\n")
		return
	}
	r.printf("\nLOCKS: %d root blocker(s), %d session(s) waiting\n", len(f.Roots), f.Waiting)
	for _, root := range f.Roots {
		r.node(root, "  ", "  ")
	}
}

// node prints one session of the forest and its subtree. first prefixes
// the node's own line, rest the lines beneath it.
func (r *textReport) node(i int, first, rest string) {
	f := &r.s.LockForest
	n := &f.Nodes[i]
	r.printf("%s%s\n", first, r.nodeLine(n))
	if q := r.nodeQuery(n); q != "" {
		bar := "   "
		if len(n.Children) > 0 {
			bar = "│  "
		}
		r.printf("%s%squery: %s\n", rest, bar, q)
	}
	shown := n.Children
	if len(shown) > r.o.MaxChildren {
		shown = shown[:r.o.MaxChildren]
	}
	for k, c := range shown {
		last := k == len(n.Children)-1
		if last {
			r.node(c, rest+"└─ ", rest+"   ")
		} else {
			r.node(c, rest+"├─ ", rest+"│  ")
		}
	}
	if more := len(n.Children) - len(shown); more > 0 {
		r.printf("%s└─ +%d more waiting directly on pid %d\n", rest, more, n.PID)
	}
}

func (r *textReport) nodeLine(n *inspect.LockNode) string {
	var b strings.Builder
	switch {
	case n.PreparedGID != "" || (n.PID == 0 && n.Backend < 0):
		gid := n.PreparedGID
		if gid == "" {
			gid = "(unknown gid)"
		}
		fmt.Fprintf(&b, "PREPARED TRANSACTION %s", clean(quoteLiteral(gid)))
		for _, p := range r.s.Prepared {
			if p.GID == n.PreparedGID {
				fmt.Fprintf(&b, " (owner %s, database %s, prepared %s ago)", clean(inspect.QuoteIdent(p.Owner)),
					clean(inspect.QuoteIdent(p.Database)), human.Duration(r.now.Sub(p.Prepared)))
			}
		}
		b.WriteString(": holds the lock with no backend; nothing to cancel or terminate, " +
			"only COMMIT PREPARED or ROLLBACK PREPARED in its database")
	case n.Gone:
		fmt.Fprintf(&b, "pid %d (exited before it could be read)", n.PID)
	default:
		be := &r.s.Backends[n.Backend]
		label := "WAITING"
		switch {
		case n.IsRoot() && n.Cycle:
			label = "CYCLE"
		case n.IsRoot():
			label = "ROOT"
		case n.Queued:
			label = "QUEUED"
		}
		fmt.Fprintf(&b, "%s pid %d", label, n.PID)
		if n.IsRoot() {
			fmt.Fprintf(&b, " %s", stateWord(be))
			if age := be.XactAge(r.now); age > 0 {
				fmt.Fprintf(&b, ", transaction open %s", human.Duration(age))
			}
			if be.IdleInTransaction() {
				fmt.Fprintf(&b, ", idle %s", human.Duration(be.StateAge(r.now)))
			}
		} else if be.Waiting != nil {
			fmt.Fprintf(&b, " waiting %s for %s", human.Duration(n.Wait), lockWord(be.Waiting))
			if n.Queued {
				fmt.Fprintf(&b, " (queued behind pid %d)", r.s.LockForest.Nodes[n.Parent].PID)
			}
		}
		fmt.Fprintf(&b, "  user=%s app=%s db=%s", clean(orDash(be.User)), clean(orDash(be.ApplicationName)), clean(orDash(be.Database)))
		if be.BackendType != "client backend" && be.BackendType != "" {
			fmt.Fprintf(&b, " [%s]", clean(be.BackendType))
		}
	}
	if n.BlockedTotal > 0 {
		fmt.Fprintf(&b, "  blocks %d (longest wait %s)", n.BlockedTotal, human.Duration(n.LongestWait))
	}
	if len(n.OtherBlockers) > 0 || n.BlockersTotal > len(n.OtherBlockers)+1 {
		fmt.Fprintf(&b, "  also blocked by %s", pids(n.OtherBlockers, n.BlockersTotal-1))
	}
	if n.Cycle {
		b.WriteString("  [wait cycle: a deadlock the server has not resolved yet]")
	}
	return b.String()
}

func (r *textReport) nodeQuery(n *inspect.LockNode) string {
	if n.Backend < 0 {
		return ""
	}
	return human.Truncate(clean(r.s.Backends[n.Backend].Query), r.o.QueryWidth)
}

func (r *textReport) indexes() {
	ixs := r.s.Indexes
	if len(ixs) == 0 {
		r.printf("\nINVALID INDEXES: none in %s\n", strings.Join(quoteAll(r.s.Databases), ", "))
		return
	}
	r.printf("\nINVALID INDEXES: %d\n", len(ixs))
	multiDB := len(r.s.Databases) > 1
	for i := range ixs {
		ix := &ixs[i]
		status := "INVALID"
		if ix.Status == inspect.IndexBuilding {
			status = "BUILDING"
		}
		name := ix.QualifiedName()
		if multiDB {
			name = inspect.QuoteIdent(ix.Database) + ":" + name
		}
		r.printf("  %s %s on %s: %s", status, clean(name), clean(ix.QualifiedTable()), ix.Status.Describe())
		if ix.BuildPID != 0 {
			r.printf(" (pid %d)", ix.BuildPID)
		}
		r.printf("\n    ")
		var facts []string
		if ix.Unique {
			facts = append(facts, "UNIQUE")
		}
		if ix.RejectsDuplicates() {
			facts = append(facts, "still rejects duplicates")
		}
		if ix.Constraint != "" {
			facts = append(facts, fmt.Sprintf("backs %s constraint %s", ix.ConstraintType, clean(inspect.QuoteIdent(ix.Constraint))))
		}
		if len(ix.ReferencedBy) > 0 {
			facts = append(facts, "referenced by foreign key "+clean(strings.Join(ix.ReferencedBy, ", ")))
		}
		if ix.Partitioned {
			facts = append(facts, "partitioned")
		}
		if ix.SizeBytes != nil {
			facts = append(facts, human.Bytes(*ix.SizeBytes))
		} else {
			facts = append(facts, "size unknown (locked)")
		}
		r.printf("%s\n", strings.Join(facts, ", "))
		if ix.Definition != "" {
			r.printf("    %s\n", clean(ix.Definition))
		} else {
			r.printf("    definition not read: the table is locked ACCESS EXCLUSIVE\n")
		}
	}
}

func (r *textReport) builds() {
	bs := r.s.Builds
	if len(bs) == 0 {
		r.printf("\nINDEX BUILDS: none running\n")
		return
	}
	r.printf("\nINDEX BUILDS: %d running\n", len(bs))
	for i := range bs {
		b := &bs[i]
		target := b.Index
		if target == "" {
			target = "(new index)"
		}
		r.printf("  pid %d %s %s on %s", b.PID, clean(b.Command), clean(target), clean(b.Table))
		if b.Database != r.s.Server.Database {
			r.printf(" in %s", clean(inspect.QuoteIdent(b.Database)))
		}
		r.printf(": %s", clean(b.Phase))
		if b.Step > 0 {
			r.printf(" (phase %d of %d)", b.Step, b.Steps)
		}
		if b.Percent != nil {
			r.printf(", %.1f%%", *b.Percent)
		}
		if b.ETASeconds != nil {
			r.printf(", about %s left in this phase", human.Duration(time.Duration(*b.ETASeconds*float64(time.Second))))
		}
		if b.LockersTotal > 0 {
			r.printf(", waited for %d of %d transactions", b.LockersDone, b.LockersTotal)
		}
		if b.CurrentLockerPID != 0 {
			r.printf(", now waiting for pid %d", b.CurrentLockerPID)
		}
		if b.Started != nil {
			r.printf(", running %s", human.Duration(r.now.Sub(*b.Started)))
		}
		r.printf("\n")
	}
}

// operations lists the other commands with a progress view, and the
// rewrites that have none.
func (r *textReport) operations() {
	if len(r.s.Operations) == 0 && len(r.s.Rewrites) == 0 {
		r.printf("\nLONG OPERATIONS: none running (VACUUM, CLUSTER, ANALYZE, COPY, base backup, table rewrite)\n")
		return
	}
	r.printf("\nLONG OPERATIONS: %d running\n", len(r.s.Operations)+len(r.s.Rewrites))
	for i := range r.s.Operations {
		r.printf("  %s\n", OperationLine(&r.s.Operations[i], r.now, clean))
	}
	for i := range r.s.Rewrites {
		rw := &r.s.Rewrites[i]
		r.printf("  %s\n    %s %s\n", RewriteLine(rw, r.now, clean), clean(rw.Meaning), clean(rw.Unknown))
	}
}

// OperationLine is one operation in words; esc makes the server's text
// safe for where it goes.
func OperationLine(op *inspect.Operation, now time.Time, esc func(string) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d %s", op.PID, esc(op.Kind))
	if op.Table != "" {
		fmt.Fprintf(&b, " on %s", esc(op.Table))
	}
	if op.Phase != "" {
		fmt.Fprintf(&b, ": %s", esc(op.Phase))
	}
	if op.Step > 0 {
		fmt.Fprintf(&b, " (phase %d of %d)", op.Step, op.Steps)
	}
	switch {
	case op.Percent != nil:
		fmt.Fprintf(&b, ", %.1f%% of %d %s", *op.Percent, op.Total, op.Unit)
	case op.Unit == "bytes":
		fmt.Fprintf(&b, ", %s so far", human.Bytes(op.Done))
	case op.Unit != "":
		fmt.Fprintf(&b, ", %d %s so far", op.Done, op.Unit)
	}
	if op.PerSecond != nil {
		if op.Unit == "bytes" {
			fmt.Fprintf(&b, " at %s/s", human.Bytes(int64(*op.PerSecond)))
		} else {
			fmt.Fprintf(&b, " at %.0f %s/s", *op.PerSecond, op.Unit)
		}
	}
	if op.ETASeconds != nil {
		fmt.Fprintf(&b, ", about %s left in this phase", human.Duration(time.Duration(*op.ETASeconds*float64(time.Second))))
	}
	if op.Detail != "" {
		fmt.Fprintf(&b, ", %s", esc(op.Detail))
	}
	if op.Blocking > 0 {
		fmt.Fprintf(&b, ", blocks %d session(s)", op.Blocking)
	}
	if op.Started != nil {
		fmt.Fprintf(&b, ", running %s", human.Duration(now.Sub(*op.Started)))
	}
	return b.String()
}

// RewriteLine is a rewrite in words.
func RewriteLine(rw *inspect.Rewrite, now time.Time, esc func(string) string) string {
	var b strings.Builder
	table := rw.Table
	if table == "" {
		table = "a table not yet known"
	}
	fmt.Fprintf(&b, "pid %d rewrites %s: %s", rw.PID, esc(table), esc(rw.Action))
	if !rw.Rewrites {
		b.Reset()
		fmt.Fprintf(&b, "pid %d on %s: %s", rw.PID, esc(table), esc(rw.Action))
	}
	if rw.SizeBytes != nil {
		fmt.Fprintf(&b, ", about %s", human.Bytes(*rw.SizeBytes))
	}
	if rw.Rows != nil {
		fmt.Fprintf(&b, ", %d rows estimated", *rw.Rows)
	}
	if rw.Blocking > 0 {
		fmt.Fprintf(&b, ", blocks %d session(s)", rw.Blocking)
	}
	if rw.Started != nil {
		fmt.Fprintf(&b, ", running %s", human.Duration(now.Sub(*rw.Started)))
	}
	return b.String()
}

func (r *textReport) warnings() {
	if len(r.s.Warnings) == 0 {
		return
	}
	r.printf("\nWARNINGS\n")
	for _, w := range r.s.Warnings {
		r.printf("  - %s\n", clean(w))
	}
}

func stateWord(b *inspect.Backend) string {
	switch b.State {
	case "idle in transaction":
		return "IDLE IN TX"
	case "idle in transaction (aborted)":
		return "IDLE IN TX (aborted)"
	case "":
		return "state unknown"
	}
	s := strings.ToUpper(clean(b.State))
	if b.WaitEventType != "" && b.WaitEventType != "Lock" {
		s += " (waiting on " + clean(b.WaitEventType) + ":" + clean(b.WaitEvent) + ")"
	}
	return s
}

func lockWord(w *inspect.LockWait) string {
	s := clean(w.Mode)
	if w.Relation != "" {
		return s + " on " + clean(w.Relation)
	}
	return s + " (" + clean(w.LockType) + ")"
}

func pids(ps []int, total int) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", p)
	}
	if more := total - len(ps); more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	return b.String()
}

func counts(cs []inspect.Count, limit int, empty string) string {
	var parts []string
	for i, c := range cs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("+%d more", len(cs)-limit))
			break
		}
		key := c.Key
		if key == "" {
			key = empty
		}
		parts = append(parts, fmt.Sprintf("%s %d", clean(key), c.N))
	}
	return strings.Join(parts, ", ")
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = clean(inspect.QuoteIdent(n))
	}
	return out
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clean(s string) string { return safetext.Line(s) }
