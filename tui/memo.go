package tui

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
