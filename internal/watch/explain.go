package watch

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/inspect"
)

// Explain plans one backend's statement on the same connection, between
// refreshes, when the responder asks (the details pane's x). A refusal is
// a Plan with Refusal set.
func (s *Source) Explain(ctx context.Context, pid int) (*inspect.Plan, error) {
	p, err := onDemand(ctx, s, func(ctx context.Context, conn *pgx.Conn) (*inspect.Plan, error) {
		return inspect.ExplainBackend(ctx, conn, pid)
	})
	if err == nil && s.Redact != nil {
		s.Redact.Plan(p)
	}
	return p, err
}
