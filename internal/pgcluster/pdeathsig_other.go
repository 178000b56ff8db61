//go:build unix && !linux

package pgcluster

import "syscall"

// setParentDeathSignal is a no-op: only Linux has a parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}
