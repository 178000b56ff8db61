package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyBackup clones primary into s.DataDir without pg_basebackup: the
// low-level base backup of the PostgreSQL manual ("Making a Base Backup
// Using the Low Level API"). Over one session it starts a non-exclusive
// backup, copies the data directory, stops the backup and writes the
// backup_label it returns, then copies the WAL written meanwhile. The
// standby streams the rest, like one made with pg_basebackup -R.
func (s *Cluster) copyBackup(ctx context.Context, primary *Cluster) error {
	if entries, err := os.ReadDir(filepath.Join(primary.DataDir, "pg_tblspc")); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	} else if len(entries) > 0 {
		// The copy would point at the primary's tablespace directories, so
		// the two servers would write the same files.
		return errors.New("pgcluster: a primary with tablespaces can only be cloned with pg_basebackup, which these server binaries lack")
	}
	s.logf("pgcluster: low-level base backup of port %d into %s", primary.Port, s.DataDir)
	conn, err := pgx.Connect(ctx, primary.ConnString("", ""))
	if err != nil {
		return fmt.Errorf("pgcluster: connecting to the primary: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// A temporary slot keeps the primary from recycling the WAL the backup
	// starts from before it is copied; it goes with the session at the
	// latest, and is dropped explicitly so a test never sees it.
	slot := "pgmedic_clone_" + strings.TrimPrefix(filepath.Base(s.Dir), "pgmedic-")
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_create_physical_replication_slot($1, true, true)", slot); err != nil {
		return fmt.Errorf("pgcluster: reserving WAL for the clone: %w", err)
	}
	start, stop := "SELECT pg_catalog.pg_backup_start($1, true)",
		"SELECT labelfile, coalesce(spcmapfile, '') FROM pg_catalog.pg_backup_stop(false)"
	if primary.Major < 15 {
		// Renamed in 15; the three-argument form is the non-exclusive one.
		start, stop = "SELECT pg_catalog.pg_start_backup($1, true, false)",
			"SELECT labelfile, coalesce(spcmapfile, '') FROM pg_catalog.pg_stop_backup(false, false)"
	}
	if _, err := conn.Exec(ctx, start, "pgmedic standby"); err != nil {
		return fmt.Errorf("pgcluster: starting the base backup: %w", err)
	}
	if err := copyDataDir(primary.DataDir, s.DataDir); err != nil {
		return err
	}
	var label, spcmap string
	if err := conn.QueryRow(ctx, stop).Scan(&label, &spcmap); err != nil {
		return fmt.Errorf("pgcluster: stopping the base backup: %w", err)
	}
	if err := copyWAL(filepath.Join(primary.DataDir, "pg_wal"), filepath.Join(s.DataDir, "pg_wal")); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_drop_replication_slot($1)", slot); err != nil {
		return fmt.Errorf("pgcluster: dropping the clone's slot: %w", err)
	}
	files := map[string]string{"backup_label": label, "standby.signal": ""}
	if spcmap != "" {
		files["tablespace_map"] = spcmap
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.DataDir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	// What pg_basebackup -R writes: stream from the primary's socket.
	if s.settings == nil {
		s.settings = map[string]string{}
	}
	s.settings["primary_conninfo"] = fmt.Sprintf("host=%s port=%d user=%s",
		conninfoQuote(primary.SocketDir), primary.Port, conninfoQuote(superuser))
	return nil
}

// What the copy leaves out or leaves empty, as the manual and pg_basebackup
// do: the running server's files, the other backup's files, our include
// file (writeConf writes the standby's own), and directories the server
// empties or rebuilds at start.
var (
	notCopied = map[string]bool{
		"postmaster.pid": true, "postmaster.opts": true,
		"backup_label": true, "backup_label.old": true, "tablespace_map": true,
		"standby.signal": true, "recovery.signal": true,
		confIncludeFile: true,
	}
	copiedEmpty = map[string]bool{
		"pg_wal": true, "pg_replslot": true, "pg_dynshmem": true, "pg_notify": true,
		"pg_serial": true, "pg_snapshots": true, "pg_stat_tmp": true, "pg_subtrans": true,
	}
	walFile = regexp.MustCompile(`^([0-9A-F]{24}|[0-9A-F]{8}\.history)$`)
)

// copyDataDir copies the data directory src to dst while the server
// writes to it: files that vanish meanwhile were dropped and are left out,
// and what changes is made consistent by replaying the WAL.
func copyDataDir(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			if copiedEmpty[rel] {
				if rel == "pg_wal" {
					if err := os.Mkdir(filepath.Join(to, "archive_status"), 0o700); err != nil {
						return err
					}
				}
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file or directory", path)
		case notCopied[rel] || strings.HasPrefix(d.Name(), "pgsql_tmp"):
			return nil
		}
		return copyFile(path, to)
	})
	if err != nil {
		return fmt.Errorf("pgcluster: copying the data directory: %w", err)
	}
	return nil
}

// copyWAL copies the WAL segments and timeline history files of src.
func copyWAL(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && walFile.MatchString(e.Name()) {
			if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return fmt.Errorf("pgcluster: copying WAL: %w", err)
			}
		}
	}
	return nil
}

// copyFile copies one file, owner-only; one that was removed before it
// could be opened is skipped.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// conninfoQuote quotes a libpq connection string value.
func conninfoQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
