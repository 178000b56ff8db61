package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyTable renders the key stack as the README's Markdown table, so the
// documentation, the footer and the `?` help come from the same commands.
// A key that does the same in several places is one row.
func KeyTable() string {
	m := New(nil, Options{})
	type row struct{ keys, desc string }
	var rows []row
	where := map[row][]string{}
	// In the views the footer words a key for the row and the moment
	// ("sort by age", "copy query"); the table gives its general words.
	general := map[string]string{}
	k := &m.c.keys
	for _, b := range []key.Binding{k.Sort, k.Copy, k.Back, k.Pause} {
		general[strings.Join(b.Keys(), " ")] = b.Help().Desc
	}
	for i, l := range m.keyTableLayers() {
		for _, c := range l.cmds {
			if d, ok := general[strings.Join(c.key.Keys(), " ")]; ok && i <= len(m.panes) {
				c.key = bind(c.key, d)
			}
			if c.elsewhere != "" {
				continue
			}
			keys := make([]string, len(c.key.Keys()))
			for j, k := range c.key.Keys() {
				keys[j] = "`" + k + "`"
			}
			r := row{strings.Join(keys, " "), c.key.Help().Desc}
			if _, ok := where[r]; !ok {
				rows = append(rows, r)
			}
			if !slices.Contains(where[r], l.title) {
				where[r] = append(where[r], l.title)
			}
		}
	}
	var b strings.Builder
	b.WriteString("| key | does | where |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.keys, r.desc, strings.Join(where[r], ", "))
	}
	return b.String()
}
