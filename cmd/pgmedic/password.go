package main

import (
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"
	"golang.org/x/term"

	"github.com/pgmedic/pgmedic/internal/connect"
)

// askFunc asks the user for a password, showing prompt.
type askFunc func(prompt string) (string, error)

// terminalAsker is how a password the server wants is asked for: on the
// terminal, or not at all (nil) when stdin is not one, as there is then
// no one to answer. Tests replace it.
var terminalAsker = func(stderr io.Writer) askFunc {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil
	}
	return func(prompt string) (string, error) { return promptPassword(stderr, prompt) }
}

// needsPassword reports whether a connection failed for want of a
// password no one gave. pgconn does not stop at an empty password as
// libpq does: it sends it, and the server refuses it with SQLSTATE 28P01
// ("password authentication failed for user", or for method password
// "empty password returned by client"). A password that was given and is
// wrong is not asked for again, as in psql.
func needsPassword(err error, cfg *pgx.ConnConfig) bool {
	return cfg.Password == "" && connect.PasswordRefused(err)
}

// withPassword runs connect with cfg; when that failed for want of a
// password and ask is not nil, it asks once, as psql does, and runs
// connect again with the answer in cfg.
func withPassword(cfg *pgx.ConnConfig, ask askFunc, connect func() error) error {
	err := connect()
	if ask == nil || !needsPassword(err, cfg) {
		return err
	}
	pw, askErr := ask(fmt.Sprintf("Password for user %s: ", cfg.User))
	if askErr != nil {
		return askErr
	}
	cfg.Password = pw
	return connect()
}

// promptPassword reads a password from the terminal without echo.
func promptPassword(stderr io.Writer, prompt string) (string, error) {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return "", fmt.Errorf("no terminal to ask for the password on: %w", err)
	}
	defer tty.Close()
	fmt.Fprint(stderr, prompt)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(pw), nil
}
