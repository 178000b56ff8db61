// Package pgtest starts throwaway PostgreSQL clusters for tests. It is
// apart from pgcluster so that the testing package, which it needs, stays
// out of the pgmedic binary (the demo uses pgcluster).
package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// startTimeout bounds Start's start-up.
const startTimeout = 2 * time.Minute

// Start starts a cluster for a test and stops it in t.Cleanup. It logs
// through t.Logf unless opts.Logf is set.
//
// When the PostgreSQL binaries cannot be found the test is skipped, unless
// pgcluster.Required says a machine must have them (the README's test
// command sets PGMEDIC_REQUIRE_PG): then it fails, so that a machine
// without PostgreSQL cannot silently skip the tests that need it. Any other
// start failure fails the test.
func Start(t testing.TB, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.BinDir == "" {
		dir, err := pgcluster.FindBinDir()
		if err != nil {
			if pgcluster.Required() {
				t.Fatalf("PostgreSQL is required (CI or PGMEDIC_REQUIRE_PG is set): %v", err)
			}
			t.Skipf("skipping: PostgreSQL not available (set PGMEDIC_REQUIRE_PG=1 to make this a failure): %v", err)
		}
		opts.BinDir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := pgcluster.Start(ctx, opts)
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

// StartBouncer starts a PgBouncer in front of c and stops it in t.Cleanup,
// before the cluster stops. A missing pgbouncer skips the test, unless
// pgcluster.Required says a machine must have it, as for PostgreSQL.
func StartBouncer(t testing.TB, c *pgcluster.Cluster, opts pgcluster.BouncerOptions) *pgcluster.Bouncer {
	t.Helper()
	bin, err := pgcluster.FindPgBouncer()
	if err != nil {
		if pgcluster.Required() {
			t.Fatalf("PgBouncer is required (CI or PGMEDIC_REQUIRE_PG is set): %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := c.StartBouncer(ctx, bin, opts)
	if err != nil {
		t.Fatalf("starting PgBouncer: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// StartStandby clones c into a streaming standby, waits until it has
// replayed everything c wrote, and stops it in t.Cleanup.
func StartStandby(t testing.TB, c *pgcluster.Cluster) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := c.StartStandby(ctx)
	if err != nil {
		t.Fatalf("starting a standby: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the standby: %v", err)
		}
	})
	if err := s.CaughtUp(ctx, c); err != nil {
		t.Fatalf("the standby did not catch up: %v", err)
	}
	return s
}
