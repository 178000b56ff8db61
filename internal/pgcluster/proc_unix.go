//go:build unix

package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Signals understood by the postmaster: SIGINT requests a "fast" shutdown
// (roll back sessions, checkpoint, exit), SIGQUIT an "immediate" one (like
// pg_ctl stop -m immediate: no checkpoint, crash recovery on next start).
var (
	sigFastShutdown      os.Signal = syscall.SIGINT
	sigImmediateShutdown os.Signal = syscall.SIGQUIT
)

// osUser is the unprivileged account the server runs as when we are root.
type osUser struct {
	name     string
	uid, gid uint32
}

// serverUser returns the account to run initdb and postgres as: nil (the
// current user) unless we are root, because initdb and postgres refuse to
// run as root.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New(`pgcluster: running as root, but neither user "postgres" nor "nobody" exists ` +
		`to run the server as (initdb and postgres refuse to run as root)`)
}

// chownTree hands dir and everything below it to u, so that the server,
// running as u, can use the files root created.
func chownTree(dir string, u *osUser) error {
	if u == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
}

// chownFile hands a single file to u (no-op when u is nil).
func chownFile(path string, u *osUser) error {
	if u == nil {
		return nil
	}
	return os.Lchown(path, int(u.uid), int(u.gid))
}

// searchable reports whether u may traverse every directory from / down to
// dir, judging by the permission bits only (supplementary groups are not
// considered because child processes run with none).
func searchable(dir string, u *osUser) bool {
	if u == nil {
		return true
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		var bit fs.FileMode
		switch {
		case st.Uid == u.uid:
			bit = 0o100
		case st.Gid == u.gid:
			bit = 0o010
		default:
			bit = 0o001
		}
		if fi.Mode().Perm()&bit == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// sysProcAttr puts a child in its own process group, so that a Ctrl+C
// delivered to the caller's foreground process group does not reach it (the
// caller decides when to stop the server), and switches it to u when set.
func sysProcAttr(u *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		// An empty Groups slice drops root's supplementary groups.
		attr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
	}
	setParentDeathSignal(attr)
	return attr
}

func platformCheck() error { return nil }

func (u *osUser) String() string {
	if u == nil {
		return "current user"
	}
	return fmt.Sprintf("%s (uid %d)", u.name, u.uid)
}
