package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The shipped binary carries no test code: the demo starts its cluster
// through internal/pgcluster, and helpers that need the testing package
// live in internal/pgcluster/pgtest, which only tests import.
func TestBinaryLeavesTestingOut(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/pgmedic/pgmedic/internal/pgcluster") {
		t.Fatalf("go list -deps lists %d packages, not the demo's pgcluster: not the binary's list", len(deps))
	}
	for _, p := range []string{"testing", "github.com/pgmedic/pgmedic/internal/pgcluster/pgtest"} {
		if slices.Contains(deps, p) {
			t.Errorf("the pgmedic binary links %s", p)
		}
	}
}
