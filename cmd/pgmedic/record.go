package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/clipboard"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/human"
	"github.com/pgmedic/pgmedic/internal/recording"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/safetext"
	"github.com/pgmedic/pgmedic/internal/timeline"
	"github.com/pgmedic/pgmedic/internal/watch"
	"github.com/pgmedic/pgmedic/tui"
)

// retention is what the recordings directory keeps.
type retention struct {
	maxAge  time.Duration
	maxSize int64
}

// parseRetention reads --recordings-max-age (a Go duration, or whole
// days as "14d") and --recordings-max-size ("1GB", "500MB", bytes); 0
// turns a limit off.
func parseRetention(age, size string) (retention, error) {
	var r retention
	var err error
	if d, ok := strings.CutSuffix(age, "d"); ok {
		n, e := strconv.Atoi(d)
		r.maxAge, err = time.Duration(n)*24*time.Hour, e
	} else {
		r.maxAge, err = time.ParseDuration(age)
	}
	if err != nil || r.maxAge < 0 {
		return r, usageError("--recordings-max-age is an age such as 14d or 72h (0 keeps recordings whatever their age), not %q", age)
	}
	num, unit := size, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(strings.ToUpper(size), u.suffix); ok {
			num, unit = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return r, usageError("--recordings-max-size is a size such as 1GB or 500MB (0 keeps recordings whatever their size), not %q", size)
	}
	r.maxSize = n * unit
	return r, nil
}

// checkRecordingFlags refuses the recording options given to a command
// they mean nothing to: silently ignored, they would promise a file, a
// stream or a range that never comes.
func checkRecordingFlags(c *command) error {
	f := c.f
	is := func(names ...string) bool {
		for _, n := range names {
			if c.name == n {
				return true
			}
		}
		return false
	}
	switch {
	case (f.noRecord || f.record != "") && !is(""):
		return usageError("--record and --no-record are for the full-screen view; pgmedic record writes to --out")
	case (f.out != "" || f.duration != 0) && !is("record"):
		return usageError("--out and --duration are for pgmedic record")
	case f.events != "" && !is("", "record"):
		return usageError("--events is for pgmedic record and the full-screen view")
	case f.events == "-" && is(""):
		return usageError("--events - writes to standard output, which the full-screen view draws on: give a file, or use pgmedic record")
	case f.to != "" && !is("timeline"):
		return usageError("--to is for pgmedic timeline")
	case f.from != "" && !is("timeline", "snapshot"):
		return usageError("--from is for pgmedic timeline (a time) and pgmedic snapshot (a recording)")
	case f.at != "" && (!is("snapshot") || f.from == ""):
		return usageError("--at is for pgmedic snapshot --from RECORDING")
	}
	return nil
}

// recorderFor makes the recorder of a watching session: the file (none
// with --no-record), the events stream, and the audit log to follow.
// The recordings directory is pruned first.
func recorderFor(f *flags, src *watch.Source, audit *actions.Audit, path string, warnings io.Writer) (*recording.Recorder, error) {
	rec := &recording.Recorder{Path: path,
		Header: recording.Header{PGMedic: version, Started: time.Now(), Target: src.Target(),
			Interval: f.interval, WarnPercent: f.warnAt, Redacted: f.redact},
		Detector: inspect.NewDetector(inspect.DetectorOptions{WarnPercent: f.warnAt}),
		// A copy: the recorder learns the server's identity from its
		// first snapshot, and the executor's log must not change under it.
		Audit: &actions.Audit{Path: audit.Path, Server: audit.Server, Database: audit.Database, User: audit.User,
			SystemIdentifier: audit.SystemIdentifier},
	}
	if path == "" && f.out == "" && !f.noRecord {
		dir := recording.DefaultDir()
		rec.Path = recording.NewName(dir, src.Target(), time.Now())
		if removed, err := recording.Prune(dir, f.retention.maxAge, f.retention.maxSize, time.Now()); err != nil {
			fmt.Fprintf(warnings, "pgmedic: recordings in %s were not pruned: %v\n", dir, err)
		} else if len(removed) > 0 {
			fmt.Fprintf(warnings, "pgmedic: removed %d old recording(s) from %s (--recordings-max-age %s, --recordings-max-size %s)\n",
				len(removed), dir, f.maxAge, f.maxSize)
		}
	}
	switch f.events {
	case "":
	case "-":
		rec.Events = os.Stdout
	default:
		w, err := os.OpenFile(f.events, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("--events: %w", err)
		}
		rec.Events = w
	}
	return rec, nil
}

// recordedSource is the watching session's source with every refresh
// handed to the recorder. A recording that stops (a full disk) is said
// in the snapshot's warnings; the watching goes on.
type recordedSource struct {
	*watch.Source
	rec *recording.Recorder
}

func (s *recordedSource) Snapshot(ctx context.Context) (*inspect.Snapshot, error) {
	snap, err := s.Source.Snapshot(ctx)
	if err != nil {
		s.rec.Lost(time.Now(), err)
		return nil, err
	}
	s.rec.Snapshot(snap)
	if err := s.rec.Err(); err != nil {
		snap.Warnings = append(snap.Warnings, err.Error())
	}
	return snap, nil
}

// Events are the latest events the recorder found.
func (s *recordedSource) Events() []inspect.Event { return s.rec.Seen() }

// runRecord records without a screen: for a bastion host, a cron job or
// a terminal left running through the night. One connection and the
// same statements as the full-screen view.
func runRecord(ctx context.Context, f *flags, stdout, stderr io.Writer) error {
	if err := refuseExisting(f.out); err != nil {
		return err
	}
	cfg, err := connect.Config(f.conn)
	if err != nil {
		return err
	}
	src := watch.New(cfg, f.allDatabases)
	if err := addPooler(f, src); err != nil {
		return err
	}
	if f.redact {
		src.Redact = redact.New()
	}
	defer src.Close()
	err = withPassword(cfg, f.ask, func() error {
		start, cancel := context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
		return src.Connect(start)
	})
	if err != nil {
		return err
	}
	rec, err := recorderFor(f, src, auditFor(f, cfg, ""), f.out, stderr)
	if err != nil {
		return err
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	recorded := &recordedSource{Source: src, rec: rec}
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	n, lost := 0, false
	for {
		if _, err := recorded.Snapshot(ctx); err == nil {
			n++
			if lost {
				fmt.Fprintln(stderr, "pgmedic: reading again")
			}
			lost = false
		} else if ctx.Err() == nil && !lost {
			// Said once per outage; the recorder keeps trying.
			lost = true
			fmt.Fprintf(stderr, "pgmedic: %s; trying again every %s\n", safetext.Line(err.Error()), f.interval)
		}
		if err := rec.Err(); err != nil {
			rec.Close()
			return err
		}
		select {
		case <-ctx.Done():
			err := rec.Close()
			where := rec.Written()
			if where == "" {
				where = "nothing (no refresh was read)"
			}
			fmt.Fprintf(stderr, "pgmedic: recorded %d refresh(es) to %s\n", n, where)
			return err
		case <-tick.C:
		}
	}
}

// openRecording opens path, or with none the newest recording, and says
// on w when its tail was damaged.
func openRecording(path string, w io.Writer) (*recording.Reader, error) {
	if path == "" {
		dir := recording.DefaultDir()
		files, err := recording.List(dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no recordings in %s: the full-screen view records every session there, "+
				"and pgmedic record writes one", dir)
		}
		path = files[0].Path
	}
	r, err := recording.Open(path)
	if err != nil {
		return nil, err
	}
	if d := r.Damage(); d != nil {
		fmt.Fprintf(w, "pgmedic: %v\n", d)
	}
	if r.Len() == 0 {
		r.Close()
		return nil, fmt.Errorf("recording %s holds no refresh", path)
	}
	return r, nil
}

// maxPick is how many recordings the replay's question lists.
const maxPick = 20

// pickRecording asks which recording to replay, newest first; enter
// takes the newest.
func pickRecording(files []recording.File, in io.Reader, out io.Writer) (string, error) {
	fmt.Fprintf(out, "recordings in %s, newest first:\n", filepath.Dir(files[0].Path))
	n := min(len(files), maxPick)
	for i := range n {
		f := files[i]
		fmt.Fprintf(out, "%3d  %s  %8s  %s\n", i+1, f.ModTime.Local().Format("2006-01-02 15:04"), human.Bytes(f.Size),
			safetext.Line(filepath.Base(f.Path)))
	}
	if len(files) > n {
		fmt.Fprintf(out, "     (%d older: pgmedic replay FILE opens any of them)\n", len(files)-n)
	}
	fmt.Fprintf(out, "replay which? [1] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no answer: give the recording as pgmedic replay FILE")
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return files[0].Path, nil
	}
	i, err := strconv.Atoi(line)
	if err != nil || i < 1 || i > n {
		return "", usageError("%q is not one of the recordings listed (1 to %d)", line, n)
	}
	return files[i-1].Path, nil
}

// parseWhen reads a time given for a recording: RFC 3339, "YYYY-MM-DD
// HH:MM[:SS]" or "HH:MM[:SS]" in the local time zone (the day is the
// recording's), "+5m" after its start or "-5m" before its end.
func parseWhen(s string, r *recording.Reader) (time.Time, error) {
	start, end := r.Start().Local(), r.End().Local()
	if d, err := time.ParseDuration(s); err == nil && (strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-")) {
		if d < 0 {
			return end.Add(d), nil
		}
		return start.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			day := time.Date(start.Year(), start.Month(), start.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
			if day.Before(start.Add(-time.Second)) && end.Day() != start.Day() {
				day = day.AddDate(0, 0, 1) // a recording over midnight
			}
			return day, nil
		}
	}
	return time.Time{}, usageError("%q is not a time: give 2026-12-02T02:07:13Z, \"2026-12-02 02:07:13\", 02:07 "+
		"(local time, on the recording's day), +5m (after its start) or -5m (before its end)", s)
}

// runSnapshotFrom prints the snapshot recorded nearest before --at (the
// last one without --at), in any of the snapshot command's formats.
func runSnapshotFrom(f *flags, stdout io.Writer) error {
	r, err := openRecording(f.from, os.Stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	i := r.Len() - 1
	if f.at != "" {
		at, err := parseWhen(f.at, r)
		if err != nil {
			return err
		}
		if at.Before(r.Start().Add(-time.Second)) || at.After(r.End().Add(r.Header().Interval+time.Second)) {
			return fmt.Errorf("%s is outside the recording, which runs from %s to %s", at.Format(time.RFC3339),
				r.Start().Local().Format(time.RFC3339), r.End().Local().Format(time.RFC3339))
		}
		if i, err = r.Index(at); err != nil {
			return err
		}
	}
	snap, err := r.At(i)
	if err != nil {
		return err
	}
	// The actions of the recording's time are among its events; the
	// markdown summary lists them as it lists the audit log's.
	var log []actions.Record
	for _, e := range r.Events() {
		if e.Kind == inspect.ActionTaken && !e.At.After(snap.ServerTime) {
			log = append(log, actions.Record{Time: e.At, ID: e.ActionID, Action: actions.Kind(e.Action), SQL: e.SQL,
				Outcome: e.Outcome, Message: e.Text})
		}
	}
	return printSnapshot(f, snap, log, stdout)
}

// runReplay opens the full-screen views on a recording: the newest one
// when none is named.
func runReplay(ctx context.Context, f *flags, path string, stdout io.Writer) error {
	if !haveTerminal() {
		return usageError("pgmedic replay needs a terminal; pgmedic timeline and pgmedic snapshot --from read a recording without one")
	}
	profile, err := colorProfile(f.color, os.Environ())
	if err != nil {
		return err
	}
	theme := f.theme
	if theme == "" {
		theme = os.Getenv("PGMEDIC_THEME")
	}
	if path == "" {
		files, err := recording.List(recording.DefaultDir())
		if err != nil {
			return err
		}
		if len(files) > 1 {
			if path, err = pickRecording(files, os.Stdin, os.Stderr); err != nil {
				return err
			}
		}
	}
	r, err := openRecording(path, os.Stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	h := r.Header()
	model := tui.NewReplay(r, "recording of "+h.Target, tui.Options{Interval: h.Interval, WarnPercent: h.WarnPercent,
		Theme: theme, Redacted: h.Redacted, Clipboard: clipboard.FromEnviron()})
	err = tui.Run(ctx, model, os.Stdin, os.Stdout, profile)
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted), errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil
	}
	return fmt.Errorf("the screen failed: %w", err)
}

// runTimeline writes the post-mortem timeline of a recording: its
// events and the actions on one time axis, the durations, the peaks, and
// what changed between --from and --to.
func runTimeline(f *flags, path string, stdout io.Writer) error {
	switch f.format {
	case "", "markdown", "text", "json":
	default:
		return usageError("pgmedic timeline --format is markdown or json, not %q", f.format)
	}
	r, err := openRecording(path, os.Stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	from, to := r.Start(), r.End()
	if f.from != "" {
		if from, err = parseWhen(f.from, r); err != nil {
			return err
		}
	}
	if f.to != "" {
		if to, err = parseWhen(f.to, r); err != nil {
			return err
		}
	}
	if to.Before(from) {
		return usageError("--to (%s) is before --from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	samples, err := r.Samples(from, to)
	if err != nil {
		return err
	}
	in := timeline.Input{Server: r.Header().Target, Events: r.Events(), Samples: samples, From: from, To: to}
	if in.First, err = snapshotAt(r, from); err != nil {
		return err
	}
	if in.Last, err = snapshotAt(r, to); err != nil {
		return err
	}
	tl := timeline.Build(in)
	if f.json || f.format == "json" {
		return timeline.JSON(stdout, tl)
	}
	return timeline.Markdown(stdout, tl)
}

// snapshotAt is the last refresh at or before t.
func snapshotAt(r *recording.Reader, t time.Time) (*inspect.Snapshot, error) {
	i, err := r.Index(t)
	if err != nil {
		return nil, err
	}
	return r.At(i)
}

// refuseExisting says before anything is opened that a recording would
// be written over: it never is.
func refuseExisting(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("recording %s: the file exists; pgmedic never records over a recording", path)
	}
	return nil
}
