//go:build linux || darwin || freebsd || dragonfly

package actions

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// logFile is the audit log opened for one Check or Append.
type logFile struct{ fd int }

// openLog opens path without following a symlink at it: a link planted
// there would otherwise have pgmedic append names and SQL to whatever file
// it points at. O_RDWR rather than O_WRONLY because Append reads the last
// byte through the descriptor it locked; a second open by name could reach
// another file. O_NONBLOCK keeps a FIFO at the path from hanging start-up.
func openLog(path string) (*logFile, error) {
	flags := unix.O_RDWR | unix.O_APPEND | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	var fd int
	err := retry(func() (err error) { fd, err = unix.Open(path, flags, 0o600); return err })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := &logFile{fd: fd}
	if err := f.vet(); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// vet refuses a file another user could have prepared for us, and takes
// read access away from everyone else: a log created by an older pgmedic,
// or by hand, may be 0644.
func (f *logFile) vet() error {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return err
	}
	if t := uint32(st.Mode) & unix.S_IFMT; t != unix.S_IFREG {
		kind, ok := fileKinds[t]
		if !ok {
			kind = "of another kind"
		}
		return refusal("is not a regular file (it is " + kind + ")")
	}
	if me := os.Geteuid(); st.Uid != uint32(me) {
		return refusal(fmt.Sprintf("is owned by uid %d, not by this user (uid %d); pgmedic will not write to it", st.Uid, me))
	}
	if uint32(st.Mode)&0o7777 != 0o600 {
		if err := unix.Fchmod(f.fd, 0o600); err != nil {
			return fmt.Errorf("cannot make it private (mode 0600): %w", err)
		}
	}
	return nil
}

// fileKinds names the file types the log must not be.
var fileKinds = map[uint32]string{
	unix.S_IFDIR:  "a directory",
	unix.S_IFIFO:  "a named pipe",
	unix.S_IFSOCK: "a socket",
	unix.S_IFCHR:  "a character device",
	unix.S_IFBLK:  "a block device",
	unix.S_IFLNK:  "a symbolic link",
}

// room reports ENOSPC when the file system has no block left for us.
// The slack of the log's last block might still hold a line, but an action
// needs two (started, then its outcome): refusing early is the safe side.
func (f *logFile) room() error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(f.fd, &st); err != nil {
		return err
	}
	free := int64(st.Bavail)
	if os.Geteuid() == 0 {
		free = int64(st.Bfree) // root may use the reserved blocks
	}
	if free <= 0 {
		return unix.ENOSPC
	}
	return nil
}

// appendLine writes line in one write under an exclusive flock, so two
// pgmedic processes never interleave, and cuts the file back to its old
// size when the write fails, comes up short or cannot be synced.
func (f *logFile) appendLine(line []byte) (err error) {
	if err := retry(func() error { return unix.Flock(f.fd, unix.LOCK_EX) }); err != nil {
		return fmt.Errorf("cannot lock it: %w", err)
	}
	defer unix.Flock(f.fd, unix.LOCK_UN)
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return err
	}
	size := st.Size
	if size > 0 {
		var last [1]byte
		if _, err := unix.Pread(f.fd, last[:], size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			// A crash mid-write left a torn line; end it, or this record
			// would be read as part of it.
			line = append([]byte{'\n'}, line...)
		}
	}
	var n int
	err = retry(func() (err error) { n, err = unix.Write(f.fd, line); return err })
	if err == nil && n < len(line) {
		// A short write on a regular file is nearly always a full disk,
		// which the next call would name; say so rather than ask again.
		err = io.ErrShortWrite
		if f.room() != nil {
			err = unix.ENOSPC
		}
		err = fmt.Errorf("%w (%d of %d bytes fitted)", err, n, len(line))
	}
	if err == nil {
		// Some file systems (NFS among them) report a full disk only here.
		err = unix.Fsync(f.fd)
	}
	if err != nil {
		if terr := unix.Ftruncate(f.fd, size); terr != nil {
			// The next Append ends the torn line; the record is lost
			// either way and the caller hears so.
			return errors.Join(err, fmt.Errorf("and the partial line could not be cut back off: %w", terr))
		}
		return err
	}
	return nil
}

func (f *logFile) close() { unix.Close(f.fd) }

// retry repeats a system call interrupted by a signal before it did
// anything.
func retry(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
