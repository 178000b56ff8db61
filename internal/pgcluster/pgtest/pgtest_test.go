package pgtest

import (
	"runtime"
	"testing"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// fakeTB records how Start ends a test. Like the real methods, its
// Skipf and Fatalf stop the calling goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = true
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	runtime.Goexit()
}

func TestStartCIRule(t *testing.T) {
	t.Setenv(pgcluster.EnvBinDir, t.TempDir()) // no binaries there
	for _, env := range []struct{ ci, require string }{{"", ""}, {"true", ""}, {"", "1"}} {
		t.Setenv("CI", env.ci)
		t.Setenv("PGMEDIC_REQUIRE_PG", env.require)
		mustFail := env.ci != "" || env.require != ""
		f := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(f, pgcluster.Options{})
			t.Error("Start returned without binaries")
		}()
		<-done
		if !mustFail && (!f.skipped || f.failed) {
			t.Errorf("%+v: skipped=%v failed=%v, want a skip", env, f.skipped, f.failed)
		}
		if mustFail && (f.skipped || !f.failed) {
			t.Errorf("%+v: skipped=%v failed=%v, want a failure", env, f.skipped, f.failed)
		}
	}
}
