package tui

import (
	"fmt"
	"strings"
)

// KeyTable renders the keymap as the README's Markdown table, so the
// documentation and the `?` help come from the same bindings.
func KeyTable() string {
	k := DefaultKeyMap()
	var b strings.Builder
	b.WriteString("| group | key | does |\n|---|---|---|\n")
	for i, g := range k.FullHelp() {
		for _, bind := range g {
			keys := make([]string, len(bind.Keys()))
			for j, key := range bind.Keys() {
				keys[j] = "`" + key + "`"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", HelpGroupTitles[i], strings.Join(keys, " "), bind.Help().Desc)
		}
	}
	return b.String()
}
