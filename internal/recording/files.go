package recording

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Ext ends every recording's name.
const Ext = ".pgmedic"

// Default retention: what the recordings directory keeps.
const (
	DefaultMaxAge  = 14 * 24 * time.Hour
	DefaultMaxSize = 1 << 30
)

// DefaultDir is $XDG_STATE_HOME/pgmedic/recordings, or
// ~/.local/state/pgmedic/recordings.
func DefaultDir() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "pgmedic", "recordings")
}

// NewName names a new recording of target started at t: the time first,
// so that names sort as the recordings were made, and the process id, so
// that two pgmedic started in the same second do not collide.
func NewName(dir, target string, t time.Time) string {
	clean := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			return r
		}
		return '_'
	}, target)
	if len(clean) > 60 {
		clean = clean[:60]
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%s-%d%s", t.UTC().Format("20060102T150405Z"), clean, os.Getpid(), Ext))
}

// File is one recording in a directory.
type File struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// List is the recordings in dir, newest first.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), Ext) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, File{Path: filepath.Join(dir, e.Name()), Size: info.Size(), ModTime: info.ModTime()})
	}
	slices.SortFunc(out, func(a, b File) int { return b.ModTime.Compare(a.ModTime) })
	return out, nil
}

// activeFor is how recently a recording must have been written to count
// as another pgmedic's, still recording: those are never removed.
const activeFor = 5 * time.Minute

// Prune removes the recordings older than maxAge, then the oldest until
// the directory holds at most maxSize bytes. A recording written in the
// last few minutes is kept whatever its age or size: another pgmedic may
// be recording to it. It returns the files removed. 0 turns either limit
// off.
func Prune(dir string, maxAge time.Duration, maxSize int64, now time.Time) ([]string, error) {
	files, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var total int64
	for _, f := range files { // newest first: the oldest go over the size
		active := now.Sub(f.ModTime) < activeFor
		total += f.Size
		if active || (maxAge <= 0 || now.Sub(f.ModTime) <= maxAge) && (maxSize <= 0 || total <= maxSize) {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		total -= f.Size
		removed = append(removed, f.Path)
	}
	return removed, nil
}
