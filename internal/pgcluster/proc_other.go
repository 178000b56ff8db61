//go:build !unix

package pgcluster

import (
	"errors"
	"os"
	"runtime"
	"syscall"
)

// Throwaway clusters are only supported on Unix-like systems. These stubs keep
// the package compiling elsewhere; Start reports the limitation.

var (
	sigFastShutdown      = os.Kill
	sigImmediateShutdown = os.Kill
)

type osUser struct{ name string }

func (*osUser) String() string { return "current user" }

func serverUser() (*osUser, error)             { return nil, nil }
func chownTree(string, *osUser) error          { return nil }
func chownFile(string, *osUser) error          { return nil }
func searchable(string, *osUser) bool          { return true }
func sysProcAttr(*osUser) *syscall.SysProcAttr { return nil }

func platformCheck() error {
	return errors.New("pgcluster: throwaway PostgreSQL clusters are not supported on " + runtime.GOOS)
}
