package pgcluster

import (
	"context"
	"os"
	"testing"
	"time"
)

// testStartTimeout bounds StartForTest's start-up.
const testStartTimeout = 2 * time.Minute

// StartForTest starts a cluster for a test and stops it in t.Cleanup. It logs
// through t.Logf unless opts.Logf is set.
//
// When the PostgreSQL binaries cannot be found the test is skipped, unless the
// environment variable CI or PGMEDIC_REQUIRE_PG is non-empty (the README's
// test command sets the latter): then it fails, so that a machine without
// PostgreSQL cannot silently skip the tests that need it. Any other start
// failure fails the test.
func StartForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.BinDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			if os.Getenv("CI") != "" || os.Getenv("PGMEDIC_REQUIRE_PG") != "" {
				t.Fatalf("PostgreSQL is required (CI or PGMEDIC_REQUIRE_PG is set): %v", err)
			}
			t.Skipf("skipping: PostgreSQL not available (set PGMEDIC_REQUIRE_PG=1 to make this a failure): %v", err)
		}
		opts.BinDir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), testStartTimeout)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return c
}
