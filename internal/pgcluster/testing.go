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
// environment variable CI is non-empty: then it fails, so that a CI image
// without PostgreSQL cannot silently skip the tests that need it. Any other
// start failure fails the test.
func StartForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.BinDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("PostgreSQL is required when CI is set: %v", err)
			}
			t.Skipf("skipping: PostgreSQL not available (set CI=1 to make this a failure): %v", err)
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
