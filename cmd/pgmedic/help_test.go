package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("pgmedic %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// Each command's --help (and pgmedic help COMMAND, and -?) is that
// command's: its synopsis, its own options, each of which pgmedic takes,
// and an example; not the whole tool's help.
func TestCommandHelp(t *testing.T) {
	conn := []string{"-h, --host=HOST", "-p, --port=PORT", "-U, --username=USER", "-d, --dbname=DBNAME", "-W, --password"}
	act := append(conn, "--dry-run", "--yes", "--expect=IDENTITY", "--read-only", "--redact", "--audit-log=PATH", "--no-audit", "--timeout=")
	options := map[string][]string{
		"demo": {"--print-dsn", "--pg-bin=DIR", "--interval=", "--warn-at=", "--color=", "--theme=", "--read-only", "--redact",
			"--audit-log=PATH"},
		"snapshot":          append(conn, "--format=FORMAT", "--json", "--all-databases", "--redact", "--audit-log=PATH", "--timeout="),
		"cancel":            act,
		"terminate":         act,
		"drop-index":        act,
		"rebuild-index":     act,
		"rollback-prepared": act,
		"overview":          append(conn, "--server=DSN", "--json", "--timeout="),
		"version":           {"-V, --version"},
		"help":              {"-?, --help"},
	}
	synopsis := map[string]string{
		"cancel": "pgmedic cancel PID", "terminate": "pgmedic terminate PID", "drop-index": "pgmedic drop-index [SCHEMA.]INDEX",
		"rebuild-index": "pgmedic rebuild-index [SCHEMA.]INDEX", "rollback-prepared": "pgmedic rollback-prepared GID",
		"snapshot": "pgmedic snapshot [OPTION]... [DBNAME [USERNAME]]", "demo": "pgmedic demo [OPTION]...",
		"version": "pgmedic version", "help": "pgmedic help [COMMAND]", "overview": "pgmedic overview [--server DSN]... [OPTION]...",
	}
	fs := newFlagSet(&flags{})
	long := regexp.MustCompile(`--([a-z][a-z-]*)`)
	short := regexp.MustCompile(`(?m)^\s+-(.), --`)
	for name := range commandHelp {
		if !isCommand(name) {
			t.Errorf("help for %q, which is not a command", name)
		}
	}
	for name, opts := range options {
		help := helpOf(t, name, "--help")
		for _, other := range [][]string{{"help", name}, {name, "-?"}} {
			if got := helpOf(t, other...); got != help {
				t.Errorf("pgmedic %s differs from pgmedic %s --help:\n%s", strings.Join(other, " "), name, got)
			}
		}
		if help == usageText {
			t.Errorf("pgmedic %s --help is the global help", name)
			continue
		}
		if !strings.Contains(help, "Usage:\n  "+synopsis[name]) {
			t.Errorf("pgmedic %s --help lacks the synopsis %q:\n%s", name, synopsis[name], help)
		}
		if !regexp.MustCompile(`(?m)^Examples?:\n  pgmedic ` + name + `\b`).MatchString(help) {
			t.Errorf("pgmedic %s --help has no example of it:\n%s", name, help)
		}
		for _, o := range opts {
			if !strings.Contains(help, o) {
				t.Errorf("pgmedic %s --help does not list %s", name, o)
			}
		}
		for _, m := range long.FindAllStringSubmatch(help, -1) {
			if fs.Lookup(m[1]) == nil {
				t.Errorf("pgmedic %s --help lists --%s, which pgmedic does not take", name, m[1])
			}
		}
		for _, m := range short.FindAllStringSubmatch(help, -1) {
			if fs.ShorthandLookup(m[1]) == nil {
				t.Errorf("pgmedic %s --help lists -%s, which pgmedic does not take", name, m[1])
			}
		}
	}
	// Every command has its help; pgmedic help alone, --help and -? are
	// the whole tool's.
	for _, name := range []string{"snapshot", "version", "help", "demo", "cancel", "terminate", "drop-index", "rebuild-index", "rollback-prepared"} {
		if _, ok := options[name]; !ok {
			t.Errorf("command %s is not covered here", name)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-?"}, {"help"}, {"-h", "db1", "--help"}} {
		if got := helpOf(t, args...); got != usageText {
			t.Errorf("pgmedic %s is not the global help:\n%.200s", strings.Join(args, " "), got)
		}
	}
}

// -V and --version print what pgmedic version prints, as psql -V does.
func TestVersionFlag(t *testing.T) {
	want := helpOf(t, "version")
	if !strings.HasPrefix(want, "pgmedic ") {
		t.Fatalf("pgmedic version = %q", want)
	}
	for _, args := range [][]string{{"-V"}, {"--version"}, {"snapshot", "-V"}} {
		if got := helpOf(t, args...); got != want {
			t.Errorf("pgmedic %s = %q, want %q", strings.Join(args, " "), got, want)
		}
	}
}
