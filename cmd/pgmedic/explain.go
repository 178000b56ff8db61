package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pgmedic/pgmedic/inspect"
	"github.com/pgmedic/pgmedic/internal/connect"
	"github.com/pgmedic/pgmedic/internal/redact"
	"github.com/pgmedic/pgmedic/internal/report"
)

// runExplain is `pgmedic explain PID`: the plan of what the backend runs,
// for runbooks. A refusal comes at once, on stderr, with exit status 1.
func runExplain(ctx context.Context, f *flags, target string, stdout io.Writer) error {
	pid, _ := strconv.Atoi(target) // parseCommand checked it
	d := newDeadline(ctx, f.limit("explain"), interruptGrace)
	defer d.stop()
	ctx = d.ctx
	conn, _, err := openConn(ctx, f, d)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	d.waitingFor("the server to plan the statement (it accepted the connection, then stopped answering)")
	p, err := inspect.ExplainBackend(ctx, conn, pid)
	if err != nil {
		return d.explain(connect.ExplainRead(err))
	}
	if f.redact {
		redact.New().Plan(p)
	}
	if f.json || f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return err
		}
	} else if p.Refusal == "" {
		if _, err := fmt.Fprintln(stdout, strings.Join(report.PlanLines(p), "\n")); err != nil {
			return err
		}
	}
	if p.Refusal != "" {
		return errors.New(strings.Join(report.PlanLines(p), "\n"))
	}
	return nil
}
