package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// EnvBinDir names the environment variable that, when set, is the only place
// FindBinDir looks for the PostgreSQL server binaries.
const EnvBinDir = "PGMEDIC_PG_BIN"

// serverBinaries are the executables a usable bin directory must contain.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// versionedDirPatterns are globs whose single '*' is a PostgreSQL version;
// within each pattern the highest version is tried first.
var versionedDirPatterns = []string{
	"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu (PGDG and distro packages)
	"/usr/pgsql-*/bin",                   // Fedora, RHEL (PGDG packages)
	"/opt/homebrew/opt/postgresql@*/bin", // Homebrew on Apple silicon
	"/usr/local/opt/postgresql@*/bin",    // Homebrew on Intel macOS
}

// fixedDirs are tried last; Homebrew links the unversioned formula here.
var fixedDirs = []string{"/opt/homebrew/bin", "/usr/local/bin"}

// NotFoundError is returned by FindBinDir (and Start) when no directory with
// the PostgreSQL server binaries can be found. Its message lists where it
// looked and how to install PostgreSQL.
type NotFoundError struct {
	// EnvValue is the value of PGMEDIC_PG_BIN when it was set. A set but
	// unusable PGMEDIC_PG_BIN is an error in its own right: FindBinDir does
	// not silently fall back to other locations, because the user asked for
	// that directory explicitly.
	EnvValue string
	// Missing lists the binaries absent from EnvValue (only when EnvValue != "").
	Missing []string
	// Searched describes each location examined, in order.
	Searched []string
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	if e.EnvValue != "" {
		fmt.Fprintf(&b, "pgcluster: %s=%q is not a PostgreSQL server bin directory: missing %s.\n",
			EnvBinDir, e.EnvValue, strings.Join(e.Missing, ", "))
		fmt.Fprintf(&b, "Point %s at the directory containing initdb, pg_ctl and postgres "+
			"(for example /usr/lib/postgresql/17/bin), or unset it to search the usual locations.\n", EnvBinDir)
	} else {
		b.WriteString("pgcluster: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found.\nSearched:\n")
		for _, s := range e.Searched {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
		fmt.Fprintf(&b, "Or set %s to the directory containing initdb, pg_ctl and postgres.\n", EnvBinDir)
	}
	b.WriteString("To install the PostgreSQL server:\n" +
		"  Debian/Ubuntu:  sudo apt-get install postgresql\n" +
		"  macOS:          brew install postgresql@17\n" +
		"  Fedora/RHEL:    sudo dnf install postgresql-server")
	return b.String()
}

// IsNotFound reports whether err says the PostgreSQL binaries are missing.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// Required reports whether a missing PostgreSQL must fail a test rather
// than skip it: on CI, and under the README's test command, a machine
// without it must not pass by skipping.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("PGMEDIC_REQUIRE_PG") != ""
}

// FindBinDir locates a directory holding initdb, pg_ctl and postgres. It tries,
// in order: $PGMEDIC_PG_BIN (exclusively, if set); the directory of initdb on
// PATH, with symlinks resolved; /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin
// (highest version first); the Homebrew locations
// /opt/homebrew/opt/postgresql@*/bin, /usr/local/opt/postgresql@*/bin,
// /opt/homebrew/bin and /usr/local/bin. The returned path is absolute. On
// failure the error is a *NotFoundError.
func FindBinDir() (string, error) {
	if env := os.Getenv(EnvBinDir); env != "" {
		if missing := missingBinaries(env); len(missing) > 0 {
			return "", &NotFoundError{EnvValue: env, Missing: missing}
		}
		return filepath.Abs(env)
	}

	var searched []string
	// check records dir in searched and reports whether it is usable.
	check := func(dir, label string) bool {
		missing := missingBinaries(dir)
		if len(missing) == 0 {
			return true
		}
		if label == "" {
			label = dir
		}
		searched = append(searched, fmt.Sprintf("%s (missing %s)", label, strings.Join(missing, ", ")))
		return false
	}

	if p, err := exec.LookPath("initdb"); err != nil {
		searched = append(searched, "PATH (no initdb)")
	} else {
		// Distribution packages and Homebrew put symlinks on PATH; the real
		// directory is where pg_ctl and postgres live beside initdb.
		if real, err := filepath.EvalSymlinks(p); err == nil && check(filepath.Dir(real), "PATH: "+filepath.Dir(real)) {
			return filepath.Abs(filepath.Dir(real))
		}
		if check(filepath.Dir(p), "PATH: "+filepath.Dir(p)) {
			return filepath.Abs(filepath.Dir(p))
		}
	}

	for _, pattern := range versionedDirPatterns {
		dirs := globByVersion(pattern)
		if len(dirs) == 0 {
			searched = append(searched, pattern+" (no matches)")
		}
		for _, dir := range dirs {
			if check(dir, "") {
				return dir, nil
			}
		}
	}
	for _, dir := range fixedDirs {
		if check(dir, "") {
			return dir, nil
		}
	}
	return "", &NotFoundError{Searched: searched}
}

// missingBinaries returns the server binaries that are not executable files in dir.
func missingBinaries(dir string) []string {
	var missing []string
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// globByVersion expands pattern, whose single '*' stands for a version, and
// orders the matches by that version, highest first. Matches whose version is
// not numeric (e.g. "postgresql@latest") sort after all numeric ones.
func globByVersion(pattern string) []string {
	matches, _ := filepath.Glob(pattern) // the only possible error is a malformed pattern
	star := strings.IndexByte(pattern, '*')
	prefix, suffix := pattern[:star], pattern[star+1:]
	version := func(m string) []int {
		s := strings.TrimSuffix(strings.TrimPrefix(m, prefix), suffix)
		var v []int
		for _, part := range strings.Split(s, ".") {
			n, err := strconv.Atoi(part)
			if err != nil {
				return nil
			}
			v = append(v, n)
		}
		return v
	}
	slices.SortStableFunc(matches, func(a, b string) int {
		return slices.Compare(version(b), version(a))
	})
	return matches
}
