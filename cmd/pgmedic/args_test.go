package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/internal/connect"
)

// parsed is what a command line should come to, without connecting.
type parsed struct {
	name, target string
	conn         connect.Options
	yes, dryRun  bool
	expect       string
}

func parsedOf(c *command) parsed {
	return parsed{name: c.name, target: c.target, conn: c.f.conn, yes: c.f.yes, dryRun: c.f.dryRun, expect: c.f.expect}
}

// Every `pgmedic ...` line of the README's command-line examples parses
// into what its text means; a new example must be added here too.
func TestReadmeCommandLines(t *testing.T) {
	want := map[string]parsed{
		"pgmedic terminate 4101 -h db1 -U postgres shop": {name: "terminate", target: "4101",
			conn: connect.Options{Host: "db1", User: "postgres", DBName: "shop"}},
		"pgmedic cancel 4102 --yes":                          {name: "cancel", target: "4102", yes: true},
		"pgmedic drop-index public.orders_code_uq --dry-run": {name: "drop-index", target: "public.orders_code_uq", dryRun: true},
		`pgmedic rebuild-index '"Sales"."orders by day"'`:    {name: "rebuild-index", target: `"Sales"."orders by day"`},
		"pgmedic rollback-prepared 'pay-batch-17'":           {name: "rollback-prepared", target: "pay-batch-17"},
		"pgmedic terminate 4101 --dry-run -h db1 shop": {name: "terminate", target: "4101", dryRun: true,
			conn: connect.Options{Host: "db1", DBName: "shop"}},
		"pgmedic terminate 4101 --expect 4101@2026-12-02T02:07:00.512331Z --yes -h db1 shop": {name: "terminate", target: "4101",
			yes: true, expect: "4101@2026-12-02T02:07:00.512331Z", conn: connect.Options{Host: "db1", DBName: "shop"}},
	}
	lines := readmeCommandLines(t, "../../README.md", "### On the command line")
	if len(lines) < len(want) {
		t.Errorf("found %d command lines in the README, want at least %d: %q", len(lines), len(want), lines)
	}
	for _, line := range lines {
		w, ok := want[line]
		if !ok {
			t.Errorf("README line %q has no expected parse in this test: add one", line)
			continue
		}
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		c, err := parseCommand(words[1:])
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if got := parsedOf(c); got != w {
			t.Errorf("%q parses as %+v, want %+v", line, got, w)
		}
	}
}

// Flags may come before, between or after the positional arguments, as
// psql takes them; the target is always the first positional argument
// after the command.
func TestActionCommandLines(t *testing.T) {
	shop := connect.Options{Host: "db1", User: "postgres", DBName: "shop"}
	for args, w := range map[string]parsed{
		"terminate 4101 -h db1 -U postgres shop":        {name: "terminate", target: "4101", conn: shop},
		"-h db1 -U postgres terminate 4101 shop":        {name: "terminate", target: "4101", conn: shop},
		"-h db1 terminate 4101 shop postgres --yes":     {name: "terminate", target: "4101", conn: shop, yes: true},
		"terminate --dry-run 4101 -h db1 shop postgres": {name: "terminate", target: "4101", conn: shop, dryRun: true},
		"cancel 4102 -d shop -U postgres -h db1":        {name: "cancel", target: "4102", conn: shop},
		"drop-index public.ix -h db1 shop postgres":     {name: "drop-index", target: "public.ix", conn: shop},
		"rollback-prepared -h db1 -- -odd-gid shop":     {name: "rollback-prepared", target: "-odd-gid", conn: connect.Options{Host: "db1", DBName: "shop"}},
		"snapshot -h db1 shop postgres":                 {name: "snapshot", conn: shop},
		"-h db1 -U postgres shop":                       {conn: shop},
		"rebuild-index public.ix -p 5433 -h db1 shop":   {name: "rebuild-index", target: "public.ix", conn: connect.Options{Host: "db1", Port: "5433", DBName: "shop"}},
		"terminate 4101 -d postgres://db1/shop":         {name: "terminate", target: "4101", conn: connect.Options{DBName: "postgres://db1/shop"}},
	} {
		c, err := parseCommand(strings.Fields(args))
		if err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		if got := parsedOf(c); got != w {
			t.Errorf("%q parses as %+v, want %+v", args, got, w)
		}
	}
	for args, why := range map[string]string{
		"terminate":                            "takes one PID",
		"drop-index":                           "takes one [SCHEMA.]INDEX",
		"rollback-prepared":                    "takes one GID",
		"terminate 4101 4102":                  "takes one PID; run it once for each session",
		"cancel app":                           `"app" is not a process id`,
		"terminate 0":                          `"0" is not a process id`,
		"terminate 4101 shop postgres bob":     "too many arguments",
		"terminate 4101 -d shop other":         "database given twice",
		"terminate 4101 -U bob shop alice":     "user name given twice",
		"snapshot --expect oid:1":              "--expect is for the action commands",
		"terminate 1 --expect 1":               "is not an identity pgmedic prints",
		"--no-audit":                           "--no-audit is for the action commands",
		"terminate 1 --no-audit --audit-log x": "contradict each other",
	} {
		_, err := parseCommand(strings.Fields(args))
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want a usage error saying %q", args, err, why)
		}
	}
}

// readmeCommandLines returns the `pgmedic` lines of the first ```sh block
// under heading, without their comments.
func readmeCommandLines(t *testing.T, path, heading string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	under, in := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !under:
			under = strings.TrimSpace(line) == heading
		case !in && strings.HasPrefix(line, "#"):
			t.Fatalf("no ```sh block under %q", heading)
		case !in:
			in = strings.HasPrefix(line, "```sh")
		case strings.HasPrefix(line, "```"):
			return out
		default:
			if cmd := stripComment(line); strings.HasPrefix(cmd, "pgmedic ") {
				out = append(out, cmd)
			}
		}
	}
	t.Fatalf("no ```sh block under %q in %s", heading, path)
	return nil
}

// stripComment drops a trailing shell comment: a # that starts a word
// outside quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// shellWords splits a line as sh would for plain words, single quotes,
// double quotes and backslashes (no expansions: the README has none).
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			continue
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j == len(rs) {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(string(rs[i+1 : j]))
			i = j
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[j+1]) {
					j++
				}
				cur.WriteRune(rs[j])
			}
			if j == len(rs) {
				return nil, errors.New("unterminated double quote")
			}
			i = j
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
		default:
			cur.WriteRune(r)
		}
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// The command a dry run prints runs that very plan: read back as sh and
// pgmedic would, it has the same target, the identity and the same
// connection, and never a password.
func TestRerunCommand(t *testing.T) {
	for _, c := range []struct {
		kind   actions.Kind
		target string
		f      flags
		conn   connect.Options // what the printed command connects with
	}{
		{actions.Terminate, "4101", flags{conn: connect.Options{Host: "db1", User: "postgres", DBName: "shop"}},
			connect.Options{Host: "db1", User: "postgres", DBName: "shop"}},
		{actions.Rebuild, `"Sales"."orders by day"`, flags{conn: connect.Options{Host: "/var/run/postgresql", Port: "5433"}, redact: true},
			connect.Options{Host: "/var/run/postgresql", Port: "5433"}},
		{actions.RollbackPrepared, "-it's odd", flags{conn: connect.Options{DBName: "host=db1 password='s3cr et' dbname=shop sslpassword=k3y"}},
			connect.Options{DBName: "host=db1 dbname=shop"}},
		{actions.DropIndex, "ix", flags{conn: connect.Options{DBName: "postgres://bob:s3cret@db1/shop?sslmode=require&password=s3cret"}, auditLog: "/tmp/a log"},
			connect.Options{DBName: "postgres://bob@db1/shop?sslmode=require"}},
		{actions.Cancel, "12", flags{conn: connect.Options{DBName: "postgres://bob@db1/shop?application_name=a%20b"}, askPassword: true},
			connect.Options{DBName: "postgres://bob@db1/shop?application_name=a%20b"}},
	} {
		id := "oid:16390"
		line := rerunCommand(c.kind, c.target, id, &c.f)
		if strings.Contains(line, "s3cr") || strings.Contains(line, "k3y") {
			t.Errorf("%s: the command carries a password: %s", c.kind, line)
		}
		words, err := shellWords(line)
		if err != nil || words[0] != "pgmedic" {
			t.Fatalf("%s: %q does not read back as one command: %v", c.kind, line, err)
		}
		got, err := parseCommand(words[1:])
		if err != nil {
			t.Errorf("%s: %s: %v", c.kind, line, err)
			continue
		}
		if got.name != string(c.kind) || got.target != c.target || got.f.expect != id || !got.f.yes || got.f.conn != c.conn ||
			got.f.auditLog != c.f.auditLog || got.f.redact != c.f.redact || got.f.askPassword != c.f.askPassword {
			t.Errorf("%s\nreads back as %s %q --expect %q yes=%v %+v audit=%q redact=%v -W=%v", line, got.name, got.target,
				got.f.expect, got.f.yes, got.f.conn, got.f.auditLog, got.f.redact, got.f.askPassword)
		}
	}
}

// A value that cannot work is a usage error (exit 2) naming the option
// and what it takes, found before any connection: the host does not
// exist, so a check made after connecting would fail with a connection
// error instead.
func TestValuesCheckedBeforeConnecting(t *testing.T) {
	for _, c := range []struct {
		args string
		says []string
	}{
		{"snapshot --format yaml", []string{"--format", "text, json or markdown", `"yaml"`}},
		{"snapshot --json --format markdown", []string{"--json and --format=markdown contradict"}},
		{"--color bogus", []string{"--color", "auto, always or never", `"bogus"`}},
		{"snapshot --color bogus", []string{"--color", "auto, always or never"}},
		{"--theme bogus", []string{"--theme", "dark, light or high-contrast", `"bogus"`}},
		{"terminate 4101 --theme bogus", []string{"--theme", "dark, light or high-contrast"}},
		{"--interval 0", []string{"--interval", "from 250ms to 1m0s"}},
		{"--interval -1s", []string{"--interval", "from 250ms to 1m0s"}},
		{"--interval 10ms", []string{"--interval", "from 250ms to 1m0s"}},
		{"--interval 2m", []string{"--interval", "from 250ms to 1m0s", "not 2m0s"}},
		{"--warn-at 150", []string{"--warn-at", "at most 100", "150"}},
		{"--warn-at 0", []string{"--warn-at", "more than 0"}},
		{"--warn-at NaN", []string{"--warn-at", "more than 0"}},
		{"snapshot --timeout -1s", []string{"--timeout cannot be negative"}},
		{"snapshot -p abc", []string{"--port", "1 to 65535", `"abc"`}},
		{"snapshot -p 70000", []string{"--port", "1 to 65535"}},
		{"snapshot -p 5432,x", []string{"--port", "comma-separated"}},
		{"terminate abc", []string{`"abc" is not a process id`}},
		{"cancel -5", []string{"unknown shorthand flag"}},
	} {
		args := append(strings.Fields(c.args), "-h", "/nonexistent", "-U", "postgres")
		err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%q: %v, want a usage error (exit 2)", c.args, err)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q: %q does not say %q", c.args, err, s)
			}
		}
	}
	// The values that work still do.
	for _, args := range []string{"snapshot --format markdown", "snapshot --json --format json", "--interval 250ms --warn-at 100",
		"--color never --theme high-contrast", "snapshot -p 5432,,5433"} {
		if _, err := parseCommand(strings.Fields(args)); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}
