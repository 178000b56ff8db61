// Command loadharness measures what pgmedic costs the client host and the
// server during an incident at scale. It starts a throwaway cluster, opens
// the backends of the incident from this one process (idle, idle in
// transaction, active, and queued on locks), runs the real pgmedic binary
// in a private tmux terminal for a fixed time, and reports:
//
//   - client CPU (utime+stime from /proc over the window) and peak RSS
//     (VmHWM, which covers start-up too);
//   - server time and statements per refresh, from pg_stat_statements for
//     a role only pgmedic uses;
//   - pgmedic's connections, sampled every second, and reconnects;
//   - the time from starting the process to its first full frame, and from
//     a key press to its frame (through a tmux control client, an upper
//     bound).
//
// Run it from the repository:
//
//	go run ./internal/loadharness -backends 600 -waiting 60 -duration 60s
//
// It exits 1 when a target is missed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// Config is one harness run.
type Config struct {
	Load     Load
	Duration time.Duration // the measured window
	Warmup   time.Duration // from the first frame to the window's start
	Interval time.Duration // pgmedic's --interval
	FPS      int           // with Floor, the empty program's frame rate; 0 is Bubble Tea's 60
	Width    int
	Height   int
	Bin      string // the pgmedic binary; "" builds one
	// Hold stages the load, prints how to connect and waits for a signal
	// instead of measuring: for profiling by hand.
	Hold  bool
	PGBin string // PostgreSQL's bin directory; "" finds one
	Logf  func(format string, args ...any)

	// MinRefreshes, when set, keeps the window open past Duration until
	// pgmedic has refreshed this often, so that what is counted per
	// refresh does not depend on how fast the machine is.
	MinRefreshes int64
}

// role is the role pgmedic connects as: pg_stat_statements has no
// application_name, but it does have the role.
const role = "pgmedic"

func main() {
	if os.Getenv(emptyEnv) != "" {
		if err := runEmptyTUI(); err != nil {
			fmt.Fprintln(os.Stderr, "loadharness:", err)
			os.Exit(1)
		}
		return
	}
	cfg := Config{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "loadharness: "+f+"\n", a...) }}
	flag.IntVar(&cfg.Load.Backends, "backends", 600, "backends to open, all kinds together")
	flag.IntVar(&cfg.Load.Waiting, "waiting", 60, "of which waiting on locks (even)")
	flag.IntVar(&cfg.Load.IdleInTx, "idle-in-tx", 40, "of which idle in transaction")
	flag.IntVar(&cfg.Load.Active, "active", 10, "of which running pg_sleep")
	flag.IntVar(&cfg.Load.Tables, "tables", 20, "tables each idle transaction has read (2 locks each)")
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "measured window")
	flag.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "wait after the first frame before measuring")
	flag.DurationVar(&cfg.Interval, "interval", time.Second, "pgmedic's refresh interval")
	flag.IntVar(&cfg.FPS, "fps", 0, "with -floor, the empty Bubble Tea program's frame rate (default: Bubble Tea's 60)")
	size := flag.String("size", "200x60", "terminal size, WxH")
	floor := flag.Bool("floor", false, "measure an empty Bubble Tea program in the same terminal instead: the idle floor")
	flag.StringVar(&cfg.Bin, "bin", "", "pgmedic binary (default: built as make build does)")
	flag.BoolVar(&cfg.Hold, "hold", false, "stage the load, print the pgmedic command and wait for Ctrl+C instead of measuring")
	flag.StringVar(&cfg.PGBin, "pg-bin", "", "PostgreSQL bin directory (default: as pgmedic demo finds it)")
	flag.Parse()
	if _, err := fmt.Sscanf(*size, "%dx%d", &cfg.Width, &cfg.Height); err != nil {
		fmt.Fprintf(os.Stderr, "loadharness: -size %q: want WxH, e.g. 200x60\n", *size)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *floor {
		cpu, window, rss, err := Floor(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadharness:", err)
			os.Exit(1)
		}
		fmt.Printf("An empty Bubble Tea program, terminal %dx%d, %s: %.3f %% of a core (%s of CPU in %s), peak RSS %.1f MB.\n",
			cfg.Width, cfg.Height, runtime.Version(), 100*cpu.Seconds()/window.Seconds(), cpu, window.Round(time.Second),
			float64(rss)/(1<<20))
		return
	}
	r, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadharness:", err)
		os.Exit(1)
	}
	r.Print(os.Stdout)
	if !r.Met() {
		os.Exit(1)
	}
}

// Run stages the load, runs pgmedic on it and measures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Load.validate(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		return nil, fmt.Errorf("tmux is needed to run pgmedic in a terminal: %w", err)
	}
	tmp, err := os.MkdirTemp("", "pgmedic-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if cfg.Bin == "" {
		cfg.Bin = filepath.Join(tmp, "pgmedic")
		cfg.Logf("building pgmedic as make build does (CGO_ENABLED=0)")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.Bin, "github.com/pgmedic/pgmedic/cmd/pgmedic")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}

	cfg.Logf("starting PostgreSQL")
	c, err := pgcluster.Start(ctx, pgcluster.Options{BinDir: cfg.PGBin, Logf: cfg.Logf, Settings: map[string]string{
		"max_connections":                   strconv.Itoa(cfg.Load.Backends + 40),
		"shared_preload_libraries":          "pg_stat_statements",
		"pg_stat_statements.track_planning": "on",
	}})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	for _, sql := range []string{"CREATE DATABASE app", "CREATE ROLE " + role + " LOGIN SUPERUSER"} {
		if err := c.Exec(ctx, "", sql); err != nil {
			return nil, err
		}
	}
	if err := c.Exec(ctx, "app", "CREATE EXTENSION pg_stat_statements"); err != nil {
		return nil, err
	}
	st, err := scenario.NewStage(ctx, func(app string) string {
		return c.ConnString("app", "") + " application_name='" + app + "'"
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	cfg.Logf("opening %s", cfg.Load)
	if err := stage(ctx, st, cfg.Load); err != nil {
		return nil, err
	}

	r := &Report{Config: cfg, Server: c.Version, CPUs: runtime.NumCPU()}
	argv := []string{cfg.Bin, "-h", c.SocketDir, "-p", strconv.Itoa(c.Port), "-U", role, "-d", "app",
		"--interval", cfg.Interval.String(), "--audit-log", filepath.Join(tmp, "audit.jsonl")}
	r.Command = "pgmedic " + strings.Join(argv[1:], " ")
	if cfg.Hold {
		fmt.Printf("staged; run:\n  %s\nCtrl+C ends it\n", strings.Join(argv, " "))
		<-ctx.Done()
		return nil, ctx.Err()
	}
	started := time.Now()
	term, err := startTerminal(cfg.Width, cfg.Height, argv)
	if err != nil {
		return nil, err
	}
	defer term.close()
	pid, err := term.pid()
	if err != nil {
		return nil, err
	}
	if err := firstFrame(ctx, term); err != nil {
		return nil, err
	}
	r.FirstFrame = time.Since(started)
	cfg.Logf("first frame after %s; measuring for %s after %s", r.FirstFrame.Round(time.Millisecond), cfg.Duration, cfg.Warmup)
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return nil, err
	}
	if err := r.measure(ctx, st.Admin(), term, pid); err != nil {
		return nil, err
	}
	return r, nil
}

// firstFrame waits until the terminal shows a frame drawn from a
// snapshot: the pool gauge with numbers in it.
func firstFrame(ctx context.Context, term *terminal) error {
	// Only a bound on a hang: the speed is what the report measures.
	deadline := time.Now().Add(time.Minute)
	for {
		screen, err := term.screen()
		if err != nil {
			return fmt.Errorf("pgmedic ended before its first frame: %w", err)
		}
		if strings.Contains(screen, "POOL") && !strings.Contains(screen, "waiting for the first snapshot") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no full frame after a minute:\n%s", screen)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// measure runs the window: CPU and statements from its start to its end,
// pgmedic's sessions sampled every second in between.
func (r *Report) measure(ctx context.Context, admin *pgx.Conn, term *terminal, pid int) error {
	if _, err := admin.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	seen := map[session]bool{}
	var ticks int64
	for time.Since(t0) < r.Config.Duration || ticks < r.Config.MinRefreshes {
		sessions, err := pgmedicSessions(ctx, admin)
		if err != nil {
			return err
		}
		if r.Config.MinRefreshes > 0 {
			if ticks, err = tickCalls(ctx, admin, role); err != nil {
				return err
			}
		}
		r.MaxConnections = max(r.MaxConnections, len(sessions))
		for _, s := range sessions {
			seen[s] = true
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return fmt.Errorf("pgmedic is gone at the end of the window: %w", err)
	}
	r.Window = time.Since(t0)
	r.CPU = cpu1 - cpu0
	if r.PeakRSS, r.RSS, err = memory(pid); err != nil {
		return err
	}
	r.Sessions = len(seen)
	if r.Statements, err = statements(ctx, admin, role); err != nil {
		return err
	}
	if r.KeyToFrame, err = keyToFrame(ctx, term, keyPresses); err != nil {
		return err
	}
	if r.Screen, err = term.screen(); err != nil {
		return err
	}
	_, _ = term.tmux("send-keys", "-t", "load", "q")
	return r.count()
}

// keyPresses is how many view keys keyToFrame times: an even number, so
// the screen ends on the view it started on.
const keyPresses = 20

// keyToFrame presses keys that switch between the Triage and Connections
// views, after the window so as not to count in it, and times each from
// sending it until pgmedic has written the new view's tab row. It goes
// through a tmux control-mode client: keys go in on its standard input,
// and pgmedic's output comes back as %output notifications as soon as
// tmux reads it, with no process per command and no polling of the
// screen. tmux's relaying is still included: it is an upper bound.
func keyToFrame(ctx context.Context, term *terminal, presses int) ([]time.Duration, error) {
	cmd := exec.CommandContext(ctx, "tmux", "-L", term.socket, "-C", "attach", "-t", "load")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tmux control client: %w", err)
	}
	defer func() {
		_ = in.Close() // detaches the client
		_ = cmd.Wait()
	}()
	output := make(chan string, 1024) // %output payloads
	go func() {
		defer close(output)
		lines := bufio.NewScanner(out)
		lines.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), "%output "); ok {
				_, payload, _ := strings.Cut(rest, " ") // after the pane id
				output <- payload
			}
		}
	}()

	var took []time.Duration
	for i := range presses {
		key, want := "2", "▸ 2 Connections"
		if i%2 == 1 {
			key, want = "1", "▸ 1 Triage"
		}
		for drained := false; !drained; { // what came before the key
			select {
			case <-output:
			default:
				drained = true
			}
		}
		start := time.Now()
		if _, err := fmt.Fprintf(in, "send-keys -t load %s\n", key); err != nil {
			return nil, fmt.Errorf("tmux control client: %w", err)
		}
		var seen strings.Builder                // a row may come in more than one notification
		timeout := time.After(30 * time.Second) // a hang, not a slow frame
		for !strings.Contains(seen.String(), want) {
			select {
			case payload, ok := <-output:
				if !ok {
					return nil, fmt.Errorf("key %q: the tmux control client ended", key)
				}
				seen.WriteString(payload)
			case <-timeout:
				return nil, fmt.Errorf("key %q: its frame did not come in 30s", key)
			}
		}
		took = append(took, time.Since(start))
		// Apart, and at varying points of the refresh cycle.
		if err := sleep(ctx, 137*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return took, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Report is one run's numbers.
type Report struct {
	Config  Config
	Command string
	Server  string // PostgreSQL version
	CPUs    int

	FirstFrame time.Duration
	KeyToFrame []time.Duration // each key press until its frame
	Window     time.Duration
	CPU        time.Duration
	PeakRSS    int64
	RSS        int64

	Statements []Statement
	Refreshes  int64 // calls of the tick statement, which every refresh sends
	// PerRefresh counts the statements run on every refresh; the others
	// run on a slower cadence.
	PerRefresh int
	ExecMS     float64 // all of pgmedic's statements, per refresh
	PlanMS     float64

	MaxConnections int // most pgmedic sessions seen at once
	Sessions       int // distinct pgmedic sessions seen: 1 means no reconnect

	Screen string // the terminal at the end of the window
}

func (r *Report) count() error {
	var exec, plan float64
	calls := map[string]int64{} // the activity statement has two variants
	for _, s := range r.Statements {
		calls[s.Name] += s.Calls
		exec += s.ExecMS
		plan += s.PlanMS
	}
	r.Refreshes = calls["tick"]
	if r.Refreshes == 0 {
		return errors.New("pg_stat_statements recorded no tick statement: did pgmedic refresh?")
	}
	for _, n := range calls {
		// The statements of a refresh share its batch; the window's reset
		// can fall inside one, so they may differ from the tick by one.
		if n >= r.Refreshes-1 {
			r.PerRefresh++
		}
	}
	r.ExecMS = exec / float64(r.Refreshes)
	r.PlanMS = plan / float64(r.Refreshes)
	return nil
}

// keyMax is the slowest key press, or an hour when none was timed.
func (r *Report) keyMax() time.Duration {
	if len(r.KeyToFrame) == 0 {
		return time.Hour
	}
	return slices.Max(r.KeyToFrame)
}

func (r *Report) keyToFrame() string {
	if len(r.KeyToFrame) == 0 {
		return "not measured"
	}
	k := slices.Sorted(slices.Values(r.KeyToFrame))
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("median %s, slowest %s of %d", ms(k[len(k)/2]), ms(k[len(k)-1]), len(k))
}

// CPUPercent is the share of one core used over the window.
func (r *Report) CPUPercent() float64 { return 100 * r.CPU.Seconds() / r.Window.Seconds() }

type target struct {
	name, got, want string
	met             bool
}

func (r *Report) targets() []target {
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	return []target{
		{"client CPU, share of one core", fmt.Sprintf("%.3f %% (%s of CPU in %s)", r.CPUPercent(),
			r.CPU, r.Window.Round(time.Second)), "≤ 0.15 %", r.CPUPercent() <= 0.15},
		{"client peak RSS", mb(r.PeakRSS) + " (now " + mb(r.RSS) + ")", "≤ 20 MB", r.PeakRSS <= 20<<20},
		{"server execution time per refresh", fmt.Sprintf("%.2f ms (+ %.3f ms planning)", r.ExecMS, r.PlanMS),
			"≤ 2.5 ms", r.ExecMS <= 2.5},
		{"statements on every refresh", strconv.Itoa(r.PerRefresh), "≤ 3", r.PerRefresh <= 3},
		{"connections at once", strconv.Itoa(r.MaxConnections), "1", r.MaxConnections == 1},
		{"reconnects", strconv.Itoa(r.Sessions - 1), "0", r.Sessions == 1},
		{"start to first full frame", r.FirstFrame.Round(time.Millisecond).String(), "≤ 150ms",
			r.FirstFrame <= 150*time.Millisecond},
		{"key press to its frame, through tmux", r.keyToFrame(), "≤ 16ms", r.keyMax() <= 16*time.Millisecond},
	}
}

// Met says whether every target was met.
func (r *Report) Met() bool {
	for _, t := range r.targets() {
		if !t.met {
			return false
		}
	}
	return true
}

// Print writes the report as Markdown, ready for the README.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "Load: %s. PostgreSQL %s, %d CPUs, %s, terminal %dx%d, refresh every %s.\n\nCommand: `%s`\n\n",
		r.Config.Load, r.Server, r.CPUs, runtime.Version(), r.Config.Width, r.Config.Height, r.Config.Interval, r.Command)
	fmt.Fprintf(w, "| measure | result | target | |\n|---|---|---|---|\n")
	for _, t := range r.targets() {
		verdict := "met"
		if !t.met {
			verdict = "**missed**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.name, t.got, t.want, verdict)
	}
	fmt.Fprintf(w, "\nStatements over %d refreshes (pg_stat_statements, role %s):\n\n", r.Refreshes, role)
	fmt.Fprintf(w, "| statement | calls | mean execution | rows per call |\n|---|---|---|---|\n")
	for _, s := range r.Statements {
		rows := float64(0)
		if s.Calls > 0 {
			rows = float64(s.Rows) / float64(s.Calls)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f ms | %.0f |\n", s.Name, s.Calls, s.PerCallM, rows)
	}
	lines := strings.Split(r.Screen, "\n")
	fmt.Fprintf(w, "\nThe screen's header at the end:\n\n```\n%s\n```\n", strings.Join(lines[:min(len(lines), 3)], "\n"))
}
