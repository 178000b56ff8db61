package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/jackc/pgx/v5"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/clipboard"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/safetext"
	"github.com/pgmedic/pgmedic/internal/watch"
	"github.com/pgmedic/pgmedic/tui"
)

// runTUI opens the full-screen view. The connection is opened first, so a
// failure to connect reads like the snapshot command's.
func runTUI(ctx context.Context, f *flags, stdout io.Writer) error {
	if !haveTerminal() {
		return usageError("the full-screen view needs a terminal for its screen and its keys; " +
			"use `pgmedic snapshot` for text or --json")
	}
	profile, err := colorProfile(f.color, os.Environ())
	if err != nil {
		return err
	}
	if err := refuseExisting(f.record); err != nil {
		return err
	}
	theme := f.theme
	if theme == "" {
		theme = os.Getenv("PGMEDIC_THEME")
	}
	if _, err := tui.StylesFor(theme); err != nil {
		return usageError("%v", err)
	}
	cfg, err := connect.Config(f.conn)
	if err != nil {
		return err
	}
	src := watch.New(cfg, f.allDatabases)
	if err := addPooler(f, src); err != nil {
		return err
	}
	prepare := func(s *watch.Source) {
		if f.redact {
			s.Redact = redact.New()
		}
	}
	prepare(src)
	fleet := watch.NewFleet(serverList(f), f.allDatabases)
	fleet.Prepare = prepare
	name := currentName(f, src)
	fleet.Adopt(name, cfg, src)
	defer fleet.Close() // src too
	// Bounded like the snapshot command: a server that accepts the
	// connection and then stops answering must not leave the start-up
	// waiting with no screen to say so. A password is asked for here,
	// before the screen takes the terminal; src connects with cfg.
	err = withPassword(cfg, f.ask, func() error {
		start, cancel := context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
		return src.Connect(start)
	})
	if err != nil {
		return err
	}
	// The server list's enter ends a session for another: each server
	// gets a session of its own (its recording, its audit identity), on
	// the fleet's connection to it, kept from one visit to the next.
	notice := ""
	for {
		next, err := runSession(ctx, f, stdout, profile, theme, fleet, name, src, cfg, notice)
		if err != nil || next == "" {
			return err
		}
		f.record = "" // a session of its own gets a recording of its own, by default name
		nextSrc, nextCfg, err := fleet.Source(next)
		if err != nil {
			// Back to the server on screen, saying why: pressing enter
			// on a server must not end the watch on this one.
			notice = fmt.Sprintf("could not switch to %s: %v", next, err)
			continue
		}
		notice = ""
		askOnSwitch(ctx, f.ask, os.Stderr, next, nextSrc, nextCfg)
		src, cfg, name = nextSrc, nextCfg, next
	}
}

// switchTimeout bounds the connection askOnSwitch opens: as long as the
// server list waits for a server's line.
const switchTimeout = watch.OverviewTimeout

// askOnSwitch connects to the server switched to while no screen holds
// the terminal, so that a server that wants a password (the server list
// said so in its line) asks for it there, as at start-up, whether none
// was given or the one given was refused. Any other failure is left to
// the screen, which says why and keeps trying; a source the list had
// already connected returns at once.
func askOnSwitch(ctx context.Context, ask askFunc, stderr io.Writer, name string, src *watch.Source, cfg *pgx.ConnConfig) {
	try := func() error {
		c, cancel := context.WithTimeout(ctx, switchTimeout)
		defer cancel()
		return src.Connect(c)
	}
	if err := try(); ask == nil || !connect.PasswordRefused(err) {
		return
	}
	prompt := fmt.Sprintf("Password for user %s on %s: ", cfg.User, name)
	if cfg.Password != "" {
		prompt = fmt.Sprintf("%s refused the password for user %s; password: ", name, cfg.User)
	}
	pw, err := ask(safetext.Line(prompt))
	if err != nil {
		fmt.Fprintf(stderr, "pgmedic: %s\n", safetext.Line(err.Error()))
		return
	}
	src.SetPassword(pw)
	_ = try() // the screen shows how it went, and retries
}

// runSession is the full-screen view on one server, until quit (next
// "") or a switch to the server next.
func runSession(ctx context.Context, f *flags, stdout io.Writer, profile *colorprofile.Profile, theme string,
	fleet *watch.Fleet, name string, src *watch.Source, cfg *pgx.ConnConfig, notice string) (next string, err error) {
	// No snapshot has been read yet: each record takes the identity of
	// the snapshot its plan was made from.
	audit := auditFor(f, cfg, "")
	rec, err := recorderFor(f, src, audit, f.record, os.Stderr)
	if err != nil {
		return "", err
	}
	if f.noRecord {
		rec.Path = ""
	}
	defer func() {
		if err := rec.Close(); err != nil {
			fmt.Fprintf(stdout, "pgmedic: %s\n", safetext.Line(err.Error()))
		} else if where := rec.Written(); where != "" {
			fmt.Fprintf(stdout, "pgmedic: this session was recorded to %s (pgmedic replay, pgmedic timeline)\n", where)
		}
	}()
	model := tui.New(&recordedSource{Source: src, rec: rec}, tui.Options{Interval: f.interval, WarnPercent: f.warnAt,
		Executor: &watch.Executor{Source: src, Audit: audit}, ReadOnly: f.readOnly, Banner: f.banner,
		Clipboard: clipboard.FromEnviron(), Theme: theme, Redacted: f.redact, Servers: fleet, ServerName: name, Notice: notice})
	err = tui.Run(ctx, model, os.Stdin, os.Stdout, profile)
	printLog(stdout, model.Log(), f.auditWhere(audit.Path))
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted), errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		if ctx.Err() != nil {
			return "", nil
		}
		return model.SwitchTo(), nil
	case errors.Is(err, tea.ErrProgramPanic):
		return "", fmt.Errorf("pgmedic hit a bug and stopped (the panic is printed above); the terminal was restored " +
			"and nothing was changed on the server; `pgmedic snapshot` still works")
	}
	return "", fmt.Errorf("the screen failed: %w", err)
}

// serverList is what the server list offers besides the server pgmedic
// was started on: --server, in order, then the services of the service
// files.
func serverList(f *flags) []watch.Server {
	var out []watch.Server
	for _, s := range f.servers {
		out = append(out, serverOf(s))
	}
	for _, name := range connect.ServiceNames() {
		out = append(out, watch.Server{Name: name, Conn: "service=" + name})
	}
	return out
}

// serverOf is a --server value: a service name, or a connection string
// or URI, named by where it leads.
func serverOf(v string) watch.Server {
	if !connect.IsConnString(v) {
		return watch.Server{Name: v, Conn: "service=" + v}
	}
	if cfg, err := connect.Config(connect.Options{DBName: v}); err == nil {
		return watch.Server{Name: fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database), Conn: v}
	}
	// Its error shows in its line; a password in it must not.
	return watch.Server{Name: withoutPassword(v), Conn: v}
}

// currentName names the server pgmedic was started on in the list: its
// service when one was used, so that the service's own entry is this
// connection rather than a second one to the same server.
func currentName(f *flags, src *watch.Source) string {
	v := f.conn.DBName
	if i := strings.Index(v, "service="); connect.IsConnString(v) && i >= 0 {
		name, _, _ := strings.Cut(v[i+len("service="):], " ")
		return strings.Trim(name, "'")
	}
	if s := os.Getenv("PGSERVICE"); s != "" && f.conn.Host == "" && f.conn.Port == "" && !connect.IsConnString(v) {
		return s
	}
	return src.Target()
}

// auditWhere says where the audit log at path is, and when it will not be
// there after the run, why.
func (f *flags) auditWhere(path string) string {
	if f.auditGone != "" {
		return path + ", " + f.auditGone
	}
	return path
}

// haveTerminal reports whether the full-screen view has a terminal for
// its screen and its keys.
func haveTerminal() bool {
	return term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stdin.Fd()))
}

// printLog leaves the session's actions on the terminal, for the
// incident notes.
func printLog(w io.Writer, log []actions.Result, auditWhere string) {
	if len(log) == 0 {
		return
	}
	fmt.Fprintln(w, "pgmedic command log (also in "+auditWhere+"):")
	for i := range log {
		r := &log[i]
		fmt.Fprintf(w, "%s %s\n", r.Started.Format("15:04:05"), safetext.Line(r.Describe()))
		for _, st := range r.Plan.Statements {
			fmt.Fprintf(w, "    %s;\n", safetext.Line(st.Display))
		}
	}
}

// colorProfile turns --color and NO_COLOR into a profile; nil means detect.
// Any non-empty NO_COLOR disables colour (https://no-color.org); bold and
// reverse stay, and every state has its word.
func colorProfile(mode string, env []string) (*colorprofile.Profile, error) {
	noColor := false
	for _, kv := range env {
		if len(kv) > len("NO_COLOR=") && kv[:len("NO_COLOR=")] == "NO_COLOR=" {
			noColor = true
		}
	}
	p := colorprofile.Ascii
	switch mode {
	case "never":
		return &p, nil
	case "always":
		p = colorprofile.ANSI256
		return &p, nil
	case "auto", "":
		if noColor {
			return &p, nil
		}
		return nil, nil
	}
	return nil, usageError("--color must be auto, always or never, not %q", mode)
}
