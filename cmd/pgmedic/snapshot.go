package main

import (
	"context"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/actions"
	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/report"
)

// rateInterval separates the two samples taken when index builds run, so
// their progress has a rate and an ETA.
const rateInterval = time.Second

func runSnapshot(ctx context.Context, f *flags, stdout io.Writer) error {
	d := newDeadline(ctx, f.limit("snapshot"), interruptGrace)
	defer d.stop()
	ctx = d.ctx
	conn, cfg, err := openConn(ctx, f, d)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	d.waitingFor("the server to answer the snapshot's statements (it accepted the connection, then stopped answering)")
	snap, err := takeSnapshot(ctx, conn, cfg, f.allDatabases)
	if err != nil {
		return d.explain(connect.ExplainRead(err))
	}
	if f.pgbouncer != "" {
		d.waitingFor("PgBouncer's admin console to answer")
		if err := readPooler(ctx, f, snap); err != nil {
			return d.explain(err)
		}
	}
	if f.redact {
		redact.New().Snapshot(snap)
	}
	var log []actions.Record
	if f.format == "markdown" {
		a := auditFor(f, cfg, snap.Server.SystemIdentifier)
		if log, err = actions.ReadAudit(a.Path, a.Server, a.Database, a.SystemIdentifier, time.Now().Add(-12*time.Hour)); err != nil {
			return err
		}
	}
	return printSnapshot(f, snap, log, stdout)
}

// printSnapshot writes snap in the format asked for; log is the actions
// the markdown summary lists.
func printSnapshot(f *flags, snap *inspect.Snapshot, log []actions.Record, stdout io.Writer) error {
	switch {
	case f.json || f.format == "json":
		return report.JSON(stdout, snap)
	case f.format == "markdown":
		return report.Markdown(stdout, snap, log)
	default: // parseCommand let only text through
		return report.Text(stdout, snap, report.Options{})
	}
}

func takeSnapshot(ctx context.Context, conn *pgx.Conn, cfg *pgx.ConnConfig, allDatabases bool) (*inspect.Snapshot, error) {
	c, err := inspect.NewCollector(ctx, conn)
	if err != nil {
		return nil, err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// A rate needs two refreshes, and a rewrite's table is read in the
	// one after it was first seen.
	if len(snap.Builds) > 0 || len(snap.Operations) > 0 || len(snap.Rewrites) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(rateInterval):
		}
		if snap, err = c.Snapshot(ctx); err != nil {
			return nil, err
		}
	}
	if allDatabases {
		open := func(ctx context.Context, db string) (*pgx.Conn, error) {
			other := cfg.Copy()
			other.Database = db
			return connect.Open(ctx, other)
		}
		if err := c.CheckOtherDatabases(ctx, snap, open); err != nil {
			return nil, err
		}
	}
	return snap, nil
}
