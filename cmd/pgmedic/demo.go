package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/demo"
	"github.com/pgmedic/pgmedic/internal/pgcluster"
)

// runDemo is `pgmedic demo`: a throwaway cluster with the incident staged
// on it, opened in the full-screen view (or, with --print-dsn, left
// running until Ctrl+C). Every way out removes the cluster.
func runDemo(ctx context.Context, f *flags, stdout, stderr io.Writer) error {
	// Said before the cluster is built, not after the ~40 s it takes.
	if !f.printDSN && !haveTerminal() {
		return usageError("the demo opens the full-screen view, which needs a terminal for its screen and its keys; " +
			"with --print-dsn it needs none: it prints how to connect and runs until Ctrl+C")
	}
	if f.pgBin != "" {
		// --pg-bin is checked as PGMEDIC_PG_BIN is: same checks, same advice.
		os.Setenv(pgcluster.EnvBinDir, f.pgBin)
	}
	binDir, err := pgcluster.FindBinDir()
	if err != nil {
		return err // says where it looked and how to install
	}
	fmt.Fprintln(stderr, "pgmedic demo: starting a throwaway PostgreSQL cluster and staging an incident…")
	// PgBouncer, when installed, stands in front of a second application:
	// the pooler's side of the incident. Without it the demo is the same
	// but for that.
	bouncer, _ := pgcluster.FindPgBouncer()
	d, err := demo.Start(ctx, demo.Options{BinDir: binDir, PgBouncer: bouncer, Standby: true})
	if err != nil {
		return fmt.Errorf("the demo could not start: %w", err)
	}
	defer d.Stop()
	c := d.Cluster
	if f.printDSN {
		fmt.Fprintf(stdout, "pgmedic demo: PostgreSQL %s with a staged incident is running.\n\n", c.Version)
		fmt.Fprintf(stdout, "  export PGHOST=%s PGPORT=%d PGUSER=postgres PGDATABASE=shop\n\n", c.SocketDir, c.Port)
		if d.Bouncer != nil {
			fmt.Fprintf(stdout, "PgBouncer's admin console: --pgbouncer 'host=127.0.0.1 port=%d user=postgres'\n\n", d.Bouncer.Port)
		}
		if d.Standby != nil {
			fmt.Fprintf(stdout, "Its standby: --server '%s'\n\n", d.Standby.ConnString("shop", ""))
		}
		fmt.Fprintln(stdout, "then, in another terminal: pgmedic, pgmedic snapshot, pgmedic terminate PID ...")
		fmt.Fprintln(stdout, "Ctrl+C stops it and removes everything.")
		<-ctx.Done()
		return nil
	}
	useDemo(f, c)
	if d.Bouncer != nil && f.pgbouncer == "" {
		f.pgbouncer = d.Bouncer.ConnString("", "")
	}
	if d.Standby != nil {
		// c lists it, to switch to the replica's side.
		f.servers = append(f.servers, d.Standby.ConnString("shop", ""))
	}
	return runTUI(ctx, f, stdout)
}

// useDemo points the full-screen view at the demo's cluster. Its actions
// are recorded in the cluster's directory, removed with it, so that a
// rehearsal does not land in the audit log of real incidents (nor in the
// summaries made from it), unless --audit-log names a log.
func useDemo(f *flags, c *pgcluster.Cluster) {
	f.conn = connect.Options{Host: c.SocketDir, Port: strconv.Itoa(c.Port), User: "postgres", DBName: "shop"}
	f.banner = "DEMO: throwaway cluster, staged incident; q quits and removes it"
	if f.auditLog == "" {
		f.auditLog = filepath.Join(c.Dir, "audit.jsonl")
		f.auditGone = "removed with the demo's cluster"
	}
}
