package tui

import "charm.land/lipgloss/v2"

// memo keeps one rendered string until what it was rendered from
// changes. View runs after every message and most messages change little
// or nothing on screen; the header, tabs and footer are drawn again only
// when their inputs differ.
type memo[K comparable] struct {
	key K
	val string
	ok  bool
}

func (m *memo[K]) get(key K, render func() string) string {
	if !m.ok || m.key != key {
		m.key, m.val, m.ok = key, render(), true
	}
	return m.val
}

type paintKey struct {
	style *lipgloss.Style
	text  string
}

// paint renders text in style (a field of c.styles), remembering the
// result: the same few words, state words and column titles, are styled
// on every row of every refresh, and a lipgloss render costs more than
// the rest of the row.
func (c *common) paint(style *lipgloss.Style, text string) string {
	if c.painted == nil || c.paintedLook != c.look || len(c.painted) > 512 {
		c.painted, c.paintedLook = map[paintKey]string{}, c.look
	}
	k := paintKey{style, text}
	s, ok := c.painted[k]
	if !ok {
		s = style.Render(text)
		c.painted[k] = s
	}
	return s
}
