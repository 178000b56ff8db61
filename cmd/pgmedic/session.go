package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/watch"
)

// openConn parses the connection flags and opens pgmedic's one
// connection; the caller closes it. d shuts it, and every other
// connection made from the returned configuration, when its limit passes.
func openConn(ctx context.Context, f *flags, d *deadline) (*pgx.Conn, *pgx.ConnConfig, error) {
	cfg, err := connect.Config(f.conn)
	if err != nil {
		return nil, nil, err
	}
	d.track(cfg)
	ask := f.ask
	if ask != nil {
		// The user's time to type is not the server's.
		ask = func(prompt string) (string, error) {
			d.pause()
			defer d.resume()
			return f.ask(prompt)
		}
	}
	var conn *pgx.Conn
	err = withPassword(cfg, ask, func() (err error) {
		conn, err = connect.Open(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, nil, d.explain(err)
	}
	if connected != nil {
		connected(conn)
	}
	return conn, cfg, nil
}

// connected, when set, is called with each connection openConn opens:
// tests freeze its backend there, as a server that stops answering right
// after it accepted pgmedic would.
var connected func(*pgx.Conn)

// auditFor is the audit log of a connection: --audit-log, or the default
// under $XDG_STATE_HOME. The server is host:port, never with a password;
// systemID is its system_identifier, which names it whatever the address
// ("" when not known yet: each record then takes its plan's snapshot's).
func auditFor(f *flags, cfg *pgx.ConnConfig, systemID string) *actions.Audit {
	a := &actions.Audit{Path: f.auditLog, Server: serverName(cfg), Database: cfg.Database, User: cfg.User, SystemIdentifier: systemID}
	if a.Path == "" {
		a.Path = actions.DefaultAuditPath()
	}
	return a
}

func serverName(cfg *pgx.ConnConfig) string { return fmt.Sprintf("%s:%d", cfg.Host, cfg.Port) }

// addPooler gives src the PgBouncer admin console of --pgbouncer.
func addPooler(f *flags, src *watch.Source) error {
	if f.pgbouncer == "" {
		return nil
	}
	cfg, err := connect.PoolerConfig(f.pgbouncer)
	if err != nil {
		return fmt.Errorf("--pgbouncer: %w", err)
	}
	src.WithPooler(cfg)
	return nil
}

// readPooler reads the admin console of --pgbouncer once, for the
// snapshot command, and ties it to snap.
func readPooler(ctx context.Context, f *flags, snap *inspect.Snapshot) error {
	cfg, err := connect.PoolerConfig(f.pgbouncer)
	if err != nil {
		return fmt.Errorf("--pgbouncer: %w", err)
	}
	conn, err := connect.OpenPooler(ctx, cfg)
	if err != nil {
		return fmt.Errorf("--pgbouncer: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	p, err := inspect.ReadPooler(ctx, conn)
	if err != nil {
		return fmt.Errorf("--pgbouncer: reading the admin console at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	p.Target = fmt.Sprintf("%s@%s:%d", cfg.User, cfg.Host, cfg.Port)
	inspect.MapPooler(p, snap)
	snap.Pooler = p
	return nil
}
