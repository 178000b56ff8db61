//go:build !(linux || darwin || freebsd || dragonfly)

package actions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// logFile is the audit log where the Unix rails are missing: the symlink
// check is a look before opening rather than O_NOFOLLOW, nothing locks the
// file against another process, ownership and free space are not checked.
type logFile struct{ f *os.File }

func openLog(path string) (*logFile, error) {
	if isSymlink(path) {
		return nil, refusal("is a symbolic link; pgmedic will not follow it")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = refusal("is not a regular file (it is " + describe(fi.Mode()) + ")")
	}
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f}, nil
}

func (*logFile) room() error { return nil }

func (l *logFile) appendLine(line []byte) error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size > 0 {
		var last [1]byte
		if _, err := l.f.ReadAt(last[:], size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	_, err = l.f.Write(line)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if terr := l.f.Truncate(size); terr != nil {
			return errors.Join(err, fmt.Errorf("and the partial line could not be cut back off: %w", terr))
		}
		return err
	}
	return nil
}

func (l *logFile) close() { l.f.Close() }

// describe names a file type the log must not be.
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "of another kind"
}
