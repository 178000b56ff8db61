package tui

import (
	"fmt"

	"charm.land/lipgloss/v2"
)

// Styles are chosen from the 16 base ANSI colours so they survive 256- and
// 16-colour terminals (SSH rarely forwards COLORTERM) and are remapped by
// the user's own palette. Meaning never rides on colour alone: every state
// also has a word or symbol.
type Styles struct {
	Title     lipgloss.Style
	Header    lipgloss.Style
	Dim       lipgloss.Style
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Column    lipgloss.Style
	Selected  lipgloss.Style
	Footer    lipgloss.Style
	Key       lipgloss.Style

	OK, Warn, Bad, Info lipgloss.Style
	Stale               lipgloss.Style
	Box                 lipgloss.Style
}

// Themes pgmedic knows.
var Themes = []string{"dark", "light", "high-contrast"}

// StylesFor returns a theme's styles.
func StylesFor(theme string) (Styles, error) {
	switch theme {
	case "dark", "":
		return DefaultStyles(), nil
	case "light":
		return LightStyles(), nil
	case "high-contrast":
		return HighContrastStyles(), nil
	}
	return Styles{}, fmt.Errorf("unknown theme %q (dark, light or high-contrast)", theme)
}

// LightStyles trade yellow, unreadable on white, for blue and magenta.
func LightStyles() Styles {
	st := DefaultStyles()
	blue, magenta := lipgloss.Color("4"), lipgloss.Color("5")
	st.Warn = lipgloss.NewStyle().Foreground(magenta).Bold(true)
	st.Info = lipgloss.NewStyle().Foreground(blue)
	st.Stale = lipgloss.NewStyle().Foreground(magenta).Bold(true).Reverse(true)
	return st
}

// HighContrastStyles use only bold, reverse, underline and the base
// colours as backgrounds, for projectors and compressed video: every state
// stands out even when colour is lost.
func HighContrastStyles() Styles {
	st := DefaultStyles()
	bold := lipgloss.NewStyle().Bold(true)
	st.Dim = bold
	st.OK = bold
	st.Info = bold
	st.Warn = bold.Underline(true)
	st.Bad = lipgloss.NewStyle().Bold(true).Reverse(true)
	st.Stale = lipgloss.NewStyle().Bold(true).Reverse(true)
	st.Column = bold.Underline(true)
	return st
}

// DefaultStyles is the palette for a dark background.
func DefaultStyles() Styles {
	red, yellow, green, cyan := lipgloss.Color("1"), lipgloss.Color("3"), lipgloss.Color("2"), lipgloss.Color("6")
	return Styles{
		Title:     lipgloss.NewStyle().Bold(true),
		Header:    lipgloss.NewStyle(),
		Dim:       lipgloss.NewStyle().Faint(true),
		Tab:       lipgloss.NewStyle(),
		TabActive: lipgloss.NewStyle().Bold(true).Reverse(true),
		Column:    lipgloss.NewStyle().Bold(true).Underline(true),
		Selected:  lipgloss.NewStyle().Reverse(true).Bold(true),
		// Help text is read over compressed video: plain, never faint.
		Footer: lipgloss.NewStyle(),
		Key:    lipgloss.NewStyle().Bold(true),
		OK:     lipgloss.NewStyle().Foreground(green),
		Warn:   lipgloss.NewStyle().Foreground(yellow).Bold(true),
		Bad:    lipgloss.NewStyle().Foreground(red).Bold(true),
		Info:   lipgloss.NewStyle().Foreground(cyan),
		Stale:  lipgloss.NewStyle().Foreground(yellow).Bold(true).Reverse(true),
		Box:    lipgloss.NewStyle().Border(lipgloss.NormalBorder()).Padding(0, 1),
	}
}
