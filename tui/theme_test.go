package tui

import (
	"image/color"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"
)

var sgr = regexp.MustCompile("\x1b\\[([0-9;:]*)m")

// colourCodes lists the colour parameters of every SGR sequence in s.
func colourCodes(s string) []string {
	var out []string
	for _, m := range sgr.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.Split(m[1], ";") {
			if n := len(p); n == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] != '9' || p == "38" || p == "48" {
				out = append(out, p)
			}
		}
	}
	return out
}

func themed(t *testing.T, theme string) *Model {
	t.Helper()
	m := New(&fakeSource{snap: fixture(6)}, Options{Now: func() time.Time { return fixedNow }, Theme: theme})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapshotMsg{gen: m.gen, snap: fixture(6)})
	return m
}

// Golden frames per theme, escapes included: the colours are the theme.
func TestThemeGoldens(t *testing.T) {
	for _, theme := range Themes {
		t.Run(theme, func(t *testing.T) {
			golden.RequireEqual(t, themed(t, theme).View().Content)
		})
	}
}

func TestHighContrastUsesNoColour(t *testing.T) {
	m := themed(t, "high-contrast")
	for _, keys := range [][]string{nil, {"2"}, {"3"}, {"4"}} {
		press(m, keys...)
		if codes := colourCodes(m.View().Content); len(codes) > 0 {
			t.Errorf("high-contrast frame uses colour codes %v", codes)
		}
	}
	if codes := colourCodes(themed(t, "dark").View().Content); len(codes) == 0 {
		t.Error("the dark theme should use colour (the check above must be able to fail)")
	}
}

func TestBackgroundPicksTheTheme(t *testing.T) {
	m := themed(t, "")
	m.Update(tea.BackgroundColorMsg{Color: color.White})
	if m.c.styles.Warn.Render("x") != LightStyles().Warn.Render("x") {
		t.Error("a light background should pick the light theme")
	}
	fixed := themed(t, "high-contrast")
	fixed.Update(tea.BackgroundColorMsg{Color: color.White})
	if fixed.c.styles.Bad.Render("x") != HighContrastStyles().Bad.Render("x") {
		t.Error("an explicit theme is not overridden by the background")
	}
	if _, err := StylesFor("neon"); err == nil {
		t.Error("an unknown theme must be an error")
	}
}
