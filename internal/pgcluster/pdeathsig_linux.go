package pgcluster

import "syscall"

// setParentDeathSignal makes the kernel send SIGQUIT (immediate shutdown) to
// the child if our process dies without calling Stop, e.g. when `go test`
// times out or is interrupted, so that no orphaned postmaster survives.
//
// Linux ties this to the thread that started the child rather than the
// process; the Go runtime only retires threads when a goroutine exits while
// locked to its thread, which this package never does.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGQUIT
}
