// Package watch is the live source of snapshots for the TUI: pgmedic's one
// monitoring connection, reopened when it is lost. The TUI's action
// executor lives here too (executor.go), because it shares that connection.
package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	Redact interface {
		Snapshot(*inspect.Snapshot)
		Plan(*inspect.Plan)
	}

	// life ends at Close. Every statement runs on a context that ends
	// with it: quitting must not wait for a server that stopped answering.
	life context.Context
	end  context.CancelFunc

	mu   sync.Mutex
	conn *pgx.Conn
	coll *inspect.Collector

	// sock is conn's socket, under a lock of its own: Close shuts it while
	// a stuck statement holds mu, which is what unsticks that statement.
	sockMu sync.Mutex
	sock   net.Conn

	// self is the session conn has on the server; former are this
	// process's earlier sessions that may still hold a slot (a backend
	// stopped or cut off from us does not notice our socket closing).
	// They are terminated before a new session reads, and counted as
	// pgmedic's, not the application's, for as long as they are seen.
	self   session
	former []session

	// pooler, when set, is the PgBouncer admin console (--pgbouncer),
	// read with every snapshot, under mu.
	pooler *pooler

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
	life, end := context.WithCancel(context.Background())
	return &Source{cfg: cfg, target: target, allDatabases: allDatabases, life: life, end: end}
}

// session is a backend by the identity pg_stat_activity gives it: a pid
// alone may be reused by another client.
type session struct {
	pid   int
	start time.Time
}

// errClosed is what a statement cut off by Close returns.
var errClosed = errors.New("pgmedic is quitting")

// closeWait bounds how long Close waits for a statement in flight to give
// way before it shuts the socket instead: a cancelled statement on a
// healthy server returns in milliseconds, one on a stopped server never.
const closeWait = 300 * time.Millisecond

// bound ties ctx to the source's life.
func (s *Source) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.life, func() { cancel(errClosed) })
	return ctx, func() { stop(); cancel(nil) }
}

// Target is user@host:port/database, for the header. The password is not
// part of it.
// It is asked for on every frame, so it is made once.
func (s *Source) Target() string { return s.target }

// Connect opens the connection now, so that a failure at start-up is
// reported before the screen takes over.
func (s *Source) Connect(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect(ctx)
}

// SetPassword is the password for the next connection: one typed at a
// prompt after the server refused to go without.
func (s *Source) SetPassword(pw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Password = pw
}

func (s *Source) connect(ctx context.Context) error {
	if s.life.Err() != nil {
		return errClosed
	}
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	if s.conn != nil {
		s.drop()
	}
	conn, err := connect.Open(ctx, s.cfg)
	if err != nil {
		return err
	}
	self, err := s.takeOver(ctx, conn)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return connect.ExplainRead(err)
	}
	coll, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return err
	}
	s.conn, s.coll, s.self = conn, coll, self
	s.sockMu.Lock()
	s.sock = conn.PgConn().Conn()
	s.sockMu.Unlock()
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
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
			s.drop() // reopened on the next refresh
		}
		return nil, connect.ExplainRead(err)
	}
	s.markFormer(snap)
	if s.allDatabases {
		s.addOtherDatabases(ctx, snap)
	}
	if s.pooler != nil {
		s.readPooler(ctx, snap)
	}
	if s.Redact != nil {
		s.Redact.Snapshot(snap)
	}
	return snap, nil
}

// takeOver makes sure the sessions this process had before are ending
// before the new one reads: one connection means one slot. It returns
// the new session's identity.
func (s *Source) takeOver(ctx context.Context, conn *pgx.Conn) (session, error) {
	kept := s.former[:0]
	for _, old := range s.former {
		// In the select list, not the WHERE clause, so that only the row
		// with the remembered start is signalled: a pid can be reused.
		var signalled bool
		err := conn.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity `+
			`WHERE pid = $1 AND backend_start = $2`, old.pid, old.start).Scan(&signalled)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue // gone
		case err != nil:
			// Not ours to end after all (a changed role): still counted
			// as pgmedic's while it lasts.
			if conn.IsClosed() {
				return session{}, err
			}
		}
		kept = append(kept, old)
	}
	s.former = kept
	self := session{pid: int(conn.PgConn().PID())}
	err := conn.QueryRow(ctx, `SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&self.start)
	return self, err
}

// drop forgets a connection pgx has closed. Its backend may live on.
func (s *Source) drop() {
	if s.self.pid != 0 {
		s.former = append(s.former, s.self)
	}
	s.conn, s.self = nil, session{}
	s.sockMu.Lock()
	s.sock = nil
	s.sockMu.Unlock()
}

// markFormer counts this process's earlier sessions as its own, not the
// application's, and forgets those that have left.
func (s *Source) markFormer(snap *inspect.Snapshot) {
	if len(s.former) == 0 {
		return
	}
	kept, marked := s.former[:0], false
	for _, old := range s.former {
		b := snap.Backend(old.pid)
		if b == nil || b.BackendStart == nil || !b.BackendStart.Equal(old.start) {
			continue
		}
		kept = append(kept, old)
		if !b.Own {
			b.Own, marked = true, true
			if b.IsClient() {
				snap.Server.ClientConnections--
			}
		}
	}
	s.former = kept
	if marked {
		snap.Saturation = inspect.ComputeSaturation(snap.Server, snap.Backends, snap.ServerTime)
	}
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
	return onDemand(ctx, s, func(ctx context.Context, conn *pgx.Conn) ([]inspect.Lock, error) {
		return inspect.ReadLocks(ctx, conn, pid)
	})
}

// onDemand runs read on the watching connection between refreshes, bound
// like them, reconnecting first if it is down.
func onDemand[T any](ctx context.Context, s *Source, read func(context.Context, *pgx.Conn) (T, error)) (T, error) {
	var zero T
	ctx, cancel := s.bound(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return zero, err
	}
	v, err := read(ctx, s.conn)
	if err != nil {
		if s.conn.IsClosed() {
			s.drop()
		}
		return zero, connect.ExplainRead(err)
	}
	return v, nil
}

// Close ends the connection without waiting on the server: a statement in
// flight is cancelled, and if it has not given way within closeWait (the
// server stopped answering), the socket is shut under it, with no
// Terminate. Nothing is opened after Close.
func (s *Source) Close() {
	s.end()
	got := make(chan struct{})
	go func() {
		s.mu.Lock()
		close(got)
	}()
	select {
	case <-got:
		defer s.mu.Unlock()
		s.closeConn()
	case <-time.After(closeWait):
		s.sockMu.Lock()
		if s.sock != nil {
			_ = s.sock.Close() // the only way left to stop the stuck read
		}
		s.sockMu.Unlock()
		go func() {
			<-got
			defer s.mu.Unlock()
			s.closeConn()
		}()
	}
}

// closeConn says goodbye to the server, bounded by closeWait: a
// Terminate cannot be written when the network stalls.
func (s *Source) closeConn() {
	if s.pooler != nil {
		s.pooler.close()
	}
	if s.conn == nil {
		return
	}
	s.sockMu.Lock()
	if s.sock != nil {
		_ = s.sock.SetDeadline(time.Now().Add(closeWait))
	}
	s.sockMu.Unlock()
	_ = s.conn.Close(context.Background())
	s.conn = nil
}
