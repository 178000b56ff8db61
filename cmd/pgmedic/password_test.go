package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
)

// Which failures lead to a password prompt: the server's refusal of the
// empty password, only when no password was given and there is someone
// to ask; then exactly once.
func TestWithPassword(t *testing.T) {
	cfg := func(password string) *pgx.ConnConfig {
		c, err := pgx.ParseConfig("host=db1 user=alice dbname=shop")
		if err != nil {
			t.Fatal(err)
		}
		c.Password = password
		return c
	}
	// As connect.Open returns them: explained, the server's error inside.
	server := func(code, msg string) error {
		return connect.Explain(&pgconn.PgError{Severity: "FATAL", Code: code, Message: msg}, cfg(""))
	}
	scram := server("28P01", `password authentication failed for user "alice"`)
	for _, c := range []struct {
		name     string
		password string // given before connecting
		noAsker  bool
		first    error // what the first attempt returns
		asks     bool
	}{
		{"scram, none given", "", false, scram, true},
		{"method password, none given", "", false, server("28P01", "empty password returned by client"), true},
		{"wrong password given", "wrong", false, scram, false},
		{"no terminal", "", true, scram, false},
		{"no pg_hba.conf entry", "", false, server("28000", `no pg_hba.conf entry for host "10.0.0.1"`), false},
		{"no such database", "", false, server("3D000", `database "shop" does not exist`), false},
		{"too many clients", "", false, server("53300", "sorry, too many clients already"), false},
		{"no server", "", false, connect.Explain(syscall.ECONNREFUSED, cfg("")), false},
		{"connected", "", false, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cf := cfg(c.password)
			var prompts []string
			ask := func(prompt string) (string, error) {
				prompts = append(prompts, prompt)
				return "typed", nil
			}
			var passwords []string
			err := withPassword(cf, map[bool]askFunc{false: ask, true: nil}[c.noAsker], func() error {
				passwords = append(passwords, cf.Password)
				if len(passwords) == 1 {
					return c.first
				}
				return nil
			})
			switch {
			case c.asks && (len(prompts) != 1 || prompts[0] != "Password for user alice: "):
				t.Errorf("prompts = %q, want one, psql's", prompts)
			case c.asks && (err != nil || len(passwords) != 2 || passwords[1] != "typed"):
				t.Errorf("attempts with passwords %q, error %v; want a second one with the typed password", passwords, err)
			case !c.asks && (len(prompts) != 0 || len(passwords) != 1 || !errors.Is(err, c.first) && err != c.first):
				t.Errorf("prompts %q, attempts %q, error %v; want the first attempt's error and no prompt", prompts, passwords, err)
			}
		})
	}
	t.Run("asking fails", func(t *testing.T) {
		broken := errors.New("reading the password: EOF")
		attempts := 0
		err := withPassword(cfg(""), func(string) (string, error) { return "", broken },
			func() error { attempts++; return scram })
		if !errors.Is(err, broken) || attempts != 1 {
			t.Errorf("error %v after %d attempts, want the prompt's error after one", err, attempts)
		}
	})
}

// noPasswordFromEnv keeps the developer's PGPASSWORD and ~/.pgpass out of
// a test that connects without a password.
func noPasswordFromEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv("HOME", t.TempDir())
}

// setHBA makes TCP connections to c use method, and waits until the
// server does.
func setHBA(t *testing.T, c *pgcluster.Cluster, method string) {
	t.Helper()
	hba := "local all all trust\nhost all all 127.0.0.1/32 " + method + "\n"
	if err := os.WriteFile(filepath.Join(c.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int
		conn, err := pgx.Connect(ctx, c.ConnString("postgres", ""))
		if err != nil {
			t.Fatal(err)
		}
		err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = $1`, method).Scan(&n)
		conn.Close(ctx)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pg_hba.conf with %s not loaded: %v", method, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Against a server that wants a password and none given: without a
// terminal, the clear error of before, and no prompt; with one (the
// asker injected), one prompt, and the connection is made with the answer.
func TestPasswordPrompt(t *testing.T) {
	bin := buildBinary(t) // before HOME moves: go build keeps its caches there
	noPasswordFromEnv(t)
	c := pgtest.Start(t, pgcluster.Options{})
	tcp := []string{"snapshot", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres", "postgres"}
	for _, method := range []string{"scram-sha-256", "password"} {
		t.Run(method, func(t *testing.T) {
			setHBA(t, c, method)

			cmd := exec.Command(bin, tcp...) // stdin: /dev/null
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("without a terminal: %v, want exit 1\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("the password was rejected")) || !bytes.Contains(out, []byte("No password was given")) ||
				bytes.Contains(out, []byte("Password for user")) || bytes.Count(bytes.TrimSpace(out), []byte("\n")) != 0 {
				t.Errorf("without a terminal, want the one-line error and no prompt:\n%s", out)
			}

			var prompts []string
			asker := terminalAsker
			terminalAsker = func(io.Writer) askFunc {
				return func(prompt string) (string, error) {
					prompts = append(prompts, prompt)
					return c.Password, nil
				}
			}
			defer func() { terminalAsker = asker }()
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), append(tcp, "--json"), &stdout, &stderr); err != nil {
				t.Fatalf("with the password typed at the prompt: %v\n%s", err, stderr.String())
			}
			if fmt.Sprint(prompts) != "[Password for user postgres: ]" {
				t.Errorf("prompts = %q, want psql's, once", prompts)
			}
			if !bytes.Contains(stdout.Bytes(), []byte(`"database": "postgres"`)) {
				t.Errorf("no snapshot:\n%.300s", stdout.String())
			}
		})
	}
}
