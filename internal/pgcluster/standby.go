package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartStandby starts a streaming hot standby of the running cluster c, in
// its own temporary directory with its own port and socket directory. It
// is cloned with pg_basebackup -R over c's unix socket, whose pg_hba.conf
// trusts local replication connections, so the standby streams from c
// from then on. Where the server binaries come without pg_basebackup (the
// packaged servers the version matrix uses), the data directory is copied
// between pg_backup_start and pg_backup_stop instead: the documented
// low-level base backup. The caller stops it with Stop, before or after c.
func (c *Cluster) StartStandby(ctx context.Context) (*Cluster, error) {
	_, err := os.Stat(filepath.Join(c.BinDir, "pg_basebackup"))
	return c.startStandby(ctx, err == nil)
}

func (c *Cluster) startStandby(ctx context.Context, basebackup bool) (*Cluster, error) {
	if c.PID() == 0 {
		return nil, errors.New("pgcluster: StartStandby needs the primary running")
	}
	dir, err := makeTempRoot(c.runAs)
	if err != nil {
		return nil, err
	}
	s := &Cluster{
		BinDir:    c.BinDir,
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: filepath.Join(dir, "sock"),
		Superuser: superuser,
		// The clone carries the primary's roles, passwords included.
		Password: c.Password,
		Version:  c.Version,
		Major:    c.Major,
		logf:     c.logf,
		runAs:    c.runAs,
		logPath:  filepath.Join(dir, "server.log"),
		settings: maps.Clone(c.settings),
	}
	began := time.Now()
	if err := s.cloneAndStart(ctx, c, basebackup); err != nil {
		err = s.withLogTail(err)
		if stopErr := s.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	s.logf("pgcluster: standby of port %d running on port %d in %s (%.1fs)", c.Port, s.Port, s.Dir, time.Since(began).Seconds())
	return s, nil
}

func (s *Cluster) cloneAndStart(ctx context.Context, primary *Cluster, basebackup bool) error {
	if err := os.Mkdir(s.SocketDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	clone := s.basebackup
	if !basebackup {
		clone = s.copyBackup
	}
	if err := clone(ctx, primary); err != nil {
		return err
	}
	if err := chownTree(s.Dir, s.runAs); err != nil {
		return fmt.Errorf("pgcluster: handing %s to %s: %w", s.Dir, s.runAs, err)
	}
	// writeConf gives the standby its own port and socket directory in
	// place of the primary's (pg_basebackup copies the include file).
	return s.startOnFreePort(ctx)
}

// basebackup clones primary into s.DataDir with pg_basebackup -R.
func (s *Cluster) basebackup(ctx context.Context, primary *Cluster) error {
	// pg_basebackup runs as the server user and creates s.DataDir in s.Dir.
	if err := chownTree(s.Dir, s.runAs); err != nil {
		return fmt.Errorf("pgcluster: handing %s to %s: %w", s.Dir, s.runAs, err)
	}
	s.logf("pgcluster: pg_basebackup of port %d into %s", primary.Port, s.DataDir)
	cmd := s.command(ctx, "pg_basebackup",
		"-D", s.DataDir,
		"-h", primary.SocketDir,
		"-p", strconv.Itoa(primary.Port),
		"-U", superuser,
		// -R writes standby.signal and primary_conninfo (the same socket).
		"-R",
		"-X", "stream",
		// An idle primary would otherwise take up to checkpoint_timeout to
		// reach the checkpoint the backup starts from.
		"--checkpoint=fast",
		"--no-sync",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: pg_basebackup failed: %w\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

// CaughtUp waits until the standby s has replayed everything the primary
// had written when it was called, so what a test staged on the primary
// is visible on s.
func (s *Cluster) CaughtUp(ctx context.Context, primary *Cluster) error {
	var lsn string
	// The insert position, not pg_current_wal_lsn(): with asynchronous
	// commit the last commit record may not be written out yet, and a
	// standby caught up to the written position would not see it.
	if err := queryRow(ctx, primary, "SELECT pg_catalog.pg_current_wal_insert_lsn()::text", &lsn); err != nil {
		return err
	}
	for {
		var done bool
		err := queryRow(ctx, s, "SELECT coalesce(pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", &done, lsn)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: standby on port %d has not replayed up to %s: %w", s.Port, lsn, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func queryRow(ctx context.Context, c *Cluster, sql string, dest any, args ...any) error {
	conn, err := pgx.Connect(ctx, c.ConnString("", ""))
	if err != nil {
		return fmt.Errorf("pgcluster: connecting to %s: %w", c.SocketDir, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}
