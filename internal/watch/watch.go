// Package watch is the live source of snapshots for the TUI: pgmedic's one
// monitoring connection, reopened when it is lost. The TUI's action
// executor lives here too (executor.go), because it shares that connection.
package watch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
)

// OtherDatabasesEvery is how often --all-databases checks the other
// databases' indexes: one short-lived connection each, so not every second.
const OtherDatabasesEvery = 30 * time.Second

// Source holds the connection. Snapshot is called by one refresh at a
// time; Close may come from another goroutine at exit.
type Source struct {
	cfg          *pgx.ConnConfig
	target       string
	allDatabases bool
	// Redact, when set, takes the literals out of every query text before
	// anything else sees it: the screen, copies, plans, the audit log.
	Redact interface{ Snapshot(*inspect.Snapshot) }

	mu   sync.Mutex
	conn *pgx.Conn
	coll *inspect.Collector

	otherAt      time.Time
	otherIndexes []inspect.Index
	otherDBs     []string
	otherWarn    []string
}

// New prepares a source; nothing is opened until Connect or Snapshot.
func New(cfg *pgx.ConnConfig, allDatabases bool) *Source {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host
	}
	target := fmt.Sprintf("%s@%s:%d/%s", cfg.User, host, cfg.Port, cfg.Database)
	return &Source{cfg: cfg, target: target, allDatabases: allDatabases}
}

// Target is user@host:port/database, for the header. The password is not
// part of it.
// It is asked for on every frame, so it is made once.
func (s *Source) Target() string { return s.target }

// Connect opens the connection now, so that a failure at start-up is
// reported before the screen takes over.
func (s *Source) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect(ctx)
}

func (s *Source) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	conn, err := connect.Open(ctx, s.cfg)
	if err != nil {
		return err
	}
	coll, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return err
	}
	s.conn, s.coll = conn, coll
	return nil
}

// Snapshot reads the server, reconnecting first when the connection was
// lost. Errors are explained for the header.
func (s *Source) Snapshot(ctx context.Context) (*inspect.Snapshot, error) {
	return s.snapshot(ctx, false)
}

// fullSnapshot is Snapshot with the slow-changing data (indexes, settings)
// read afresh: for the snapshots that verify an action's effect.
func (s *Source) fullSnapshot(ctx context.Context) (*inspect.Snapshot, error) {
	return s.snapshot(ctx, true)
}

func (s *Source) snapshot(ctx context.Context, all bool) (*inspect.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	read := s.coll.Snapshot
	if all {
		read = s.coll.FullSnapshot
	}
	snap, err := read(ctx)
	if err != nil {
		if s.conn.IsClosed() {
			s.conn = nil // reopened on the next refresh
		}
		return nil, connect.ExplainRead(err)
	}
	if s.allDatabases {
		s.addOtherDatabases(ctx, snap)
	}
	if s.Redact != nil {
		s.Redact.Snapshot(snap)
	}
	return snap, nil
}

// addOtherDatabases refreshes the other databases' indexes every
// OtherDatabasesEvery and adds the last result to every snapshot.
func (s *Source) addOtherDatabases(ctx context.Context, snap *inspect.Snapshot) {
	if time.Since(s.otherAt) >= OtherDatabasesEvery {
		probe := &inspect.Snapshot{Server: snap.Server, Saturation: snap.Saturation}
		open := func(ctx context.Context, db string) (*pgx.Conn, error) {
			other := s.cfg.Copy()
			other.Database = db
			return connect.Open(ctx, other)
		}
		if err := s.coll.CheckOtherDatabases(ctx, probe, open); err != nil {
			probe.Warnings = append(probe.Warnings, err.Error())
		}
		s.otherIndexes, s.otherDBs, s.otherWarn = probe.Indexes, probe.Databases, probe.Warnings
		s.otherAt = time.Now()
	}
	snap.Indexes = append(snap.Indexes, s.otherIndexes...)
	snap.Databases = append(snap.Databases, s.otherDBs...)
	snap.Warnings = append(snap.Warnings, s.otherWarn...)
}

// Locks reads what one backend holds and waits for, on the same
// connection, between refreshes; the TUI asks only while a detail pane is
// open.
func (s *Source) Locks(ctx context.Context, pid int) ([]inspect.Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	locks, err := inspect.ReadLocks(ctx, s.conn, pid)
	if err != nil {
		if s.conn.IsClosed() {
			s.conn = nil
		}
		return nil, connect.ExplainRead(err)
	}
	return locks, nil
}

// Close ends the connection.
func (s *Source) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close(context.Background())
		s.conn = nil
	}
}
