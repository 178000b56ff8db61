package tui

import (
	"os"
	"strings"
	"testing"
)

// The README's key table is the keymap's: regenerate it with
// `UPDATE_README=1 go test ./tui -run TestReadmeKeyTable`.
func TestReadmeKeyTable(t *testing.T) {
	const begin, end = "<!-- keys:begin -->\n", "<!-- keys:end -->"
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	want := KeyTable()
	if got := readme[i+len(begin) : j]; got != want {
		if os.Getenv("UPDATE_README") != "" {
			if err := os.WriteFile("../README.md", []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README key table is out of date; run UPDATE_README=1 go test ./tui -run TestReadmeKeyTable\nwant:\n%s", want)
	}
}
