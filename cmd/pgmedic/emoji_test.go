package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// Emoji whose drawn width terminals disagree on: joined, skin-toned, a
// flag, one chosen by a variation selector.
const disputedEmoji = "👩‍👩‍👧‍👦👍🏽🇩🇪❤️"

// The real binary in tmux, with emoji in what the server sends: the
// session's user name and query text (and its application_name, which
// PostgreSQL 15 and older turn into question marks before we see it). No
// row is pushed past the edge: the header stays on the first row, the
// footer on the last, and the dialog's box stays closed.
func TestDisputedEmojiEndToEnd(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Start(t, pgcluster.Options{})
	for _, sql := range []string{"CREATE DATABASE shop", `CREATE ROLE "` + disputedEmoji + `" LOGIN`} {
		if err := c.Exec(ctx, "postgres", sql); err != nil {
			t.Fatal(err)
		}
	}
	st, err := scenario.NewStage(ctx, func(app string) string {
		return c.ConnString("shop", disputedEmoji) + " application_name='" + app + "'"
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := st.Open(ctx, disputedEmoji)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "BEGIN; SELECT '"+disputedEmoji+"' AS family, '"+strings.Repeat(disputedEmoji, 8)+"'"); err != nil {
		t.Fatal(err)
	}

	bin := buildBinary(t)
	const w, h = 80, 24
	tm := startTmux(t, w, h, fmt.Sprintf("%s -h %s -p %d -U postgres shop; sleep 60", bin, c.SocketDir, c.Port))
	tm.waitFor("▸ 1 Triage")
	tm.keys("2")
	screen := tm.waitFor("▸ 2 Connections", "IDLE IN TX")
	checkFrame(t, screen, w, h, "q quit")
	if !strings.Contains(screen, "\uFFFD") {
		t.Errorf("the emoji reached the screen:\n%s", screen)
	}
	tm.keys("/")
	for _, r := range "family" {
		tm.keys(string(r))
	}
	tm.keys("Enter")
	tm.waitFor("filter: family")
	tm.keys("K")
	screen = tm.waitFor("Terminate backend", "[y] yes, run it")
	checkFrame(t, screen, w, h, "any other key: no")
	checkBox(t, screen)
	tm.keys("n")
	tm.waitFor("not run: nothing was changed")
	tm.keys("Enter")
	screen = tm.waitFor("QUERY", "family")
	checkFrame(t, screen, w, h, "not run")
}

// checkFrame fails when a row ran past the edge: tmux then wraps it, so
// the header leaves the first row or the footer the last.
func checkFrame(t *testing.T, screen string, w, h int, footer string) {
	t.Helper()
	rows := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
	if len(rows) != h || !strings.HasPrefix(rows[0], "pgmedic") || !strings.Contains(rows[h-1], footer) {
		t.Errorf("the frame moved: %d rows, first %q, last %q:\n%s", len(rows), rows[0], rows[len(rows)-1], screen)
	}
	for i, r := range rows {
		if n := max(ansi.StringWidth(r), ansi.StringWidthWc(r)); n > w {
			t.Errorf("row %d is %d wide: %q", i, n, r)
		}
	}
}

// checkBox fails unless every row of the dialog has its right border in
// the column of the top right corner.
func checkBox(t *testing.T, screen string) {
	t.Helper()
	rows := strings.Split(screen, "\n")
	col := -1
	for _, r := range rows {
		r = strings.TrimRight(r, " ")
		switch {
		case strings.Contains(r, "┌"):
			col = ansi.StringWidth(r)
		case col < 0:
		case strings.Contains(r, "└"):
			if ansi.StringWidth(r) != col {
				t.Errorf("the bottom border ends in column %d, not %d: %q", ansi.StringWidth(r), col, r)
			}
			return
		case !strings.HasSuffix(r, "│") || ansi.StringWidth(r) != col:
			t.Errorf("the dialog's border is cut: %q\n%s", r, screen)
		}
	}
	t.Errorf("no closed dialog on screen:\n%s", screen)
}
