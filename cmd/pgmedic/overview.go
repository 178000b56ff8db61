package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/report"
	"github.com/pgmedic/pgmedic/internal/watch"
)

// runOverview is `pgmedic overview`: a line per server, read at once,
// one connection each, closed at the end. The servers are the --server
// values, or without any the services of the service files; the
// connection options add the server they name.
func runOverview(ctx context.Context, f *flags, stdout io.Writer) error {
	servers := overviewServers(f)
	if len(servers) == 0 {
		return usageError("pgmedic overview needs servers: --server DSN (repeat it), the connection options, " +
			"or services in ~/.pg_service.conf")
	}
	fleet := watch.NewFleet(servers, false)
	defer fleet.Close()
	d := newDeadline(ctx, f.limit("overview"), interruptGrace)
	defer d.stop()
	lines := fleet.Overview(d.ctx, "")
	if f.json || f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lines); err != nil {
			return err
		}
	} else if err := report.Overview(stdout, lines); err != nil {
		return err
	}
	down := 0
	for _, l := range lines {
		if l.Error != "" {
			down++
		}
	}
	if down > 0 {
		return fmt.Errorf("%d of %d servers could not be read (their lines say why)", down, len(lines))
	}
	return nil
}

// overviewServers are the server of the connection options when any is
// given, then each --server; with neither, the service files' services.
func overviewServers(f *flags) []watch.Server {
	var out []watch.Server
	if f.conn.Host != "" || f.conn.Port != "" || f.conn.User != "" || f.conn.DBName != "" {
		out = append(out, serverOf(f.conn.ConnString()))
	}
	for _, s := range f.servers {
		out = append(out, serverOf(s))
	}
	if len(out) > 0 {
		return out
	}
	for _, name := range connect.ServiceNames() {
		out = append(out, watch.Server{Name: name, Conn: "service=" + name})
	}
	return out
}
