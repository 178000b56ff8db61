package recording

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	mk := func(name string, size int, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now.Add(-age), now.Add(-age))
		return p
	}
	old := mk("a-old"+Ext, 10, 20*24*time.Hour)
	big1 := mk("b"+Ext, 400, 3*time.Hour)
	big2 := mk("c"+Ext, 400, 2*time.Hour)
	recent := mk("d"+Ext, 400, time.Hour)
	live := mk("e"+Ext, 900, time.Minute) // another pgmedic is writing it
	other := mk("notes.txt", 10, 30*24*time.Hour)

	removed, err := Prune(dir, 14*24*time.Hour, 1500, now)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: live (900, kept: active), recent (1300), c (1700 > 1500: removed), b removed, old removed by age.
	want := []string{big2, big1, old}
	if strings.Join(removed, ",") != strings.Join(want, ",") {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	for _, p := range []string{recent, live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s was removed", p)
		}
	}
	// Limits of 0 keep everything.
	if removed, _ := Prune(dir, 0, 0, now.Add(365*24*time.Hour)); len(removed) != 0 {
		t.Fatalf("removed %v with no limits", removed)
	}
	files, _ := List(dir)
	if len(files) != 2 || files[0].Path != live {
		t.Fatalf("list %+v", files)
	}
}

func TestNewName(t *testing.T) {
	n := NewName("/r", "postgres@socket /tmp/x y:5432/shöp", time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(n, "/r/20261202T020000Z-postgres_socket__tmp_x_y_5432_sh_p-") || !strings.HasSuffix(n, Ext) {
		t.Fatal(n)
	}
}
