package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestExplainRead(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("reading pg_stat_activity: %w", &pgconn.PgError{Code: code, Message: "x"})
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{pg("57014"), "did not answer within pgmedic's statement_timeout"},
		{pg("55P03"), "pgmedic does not wait"},
		{pg("42501"), "pg_monitor"},
		{pg("57P01"), "our session was terminated"},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), "lost the connection"},
		{context.Canceled, "interrupted"},
	} {
		got := ExplainRead(c.err)
		if !strings.Contains(got.Error(), c.want) {
			t.Errorf("ExplainRead(%v) = %q, want it to say %q", c.err, got, c.want)
		}
		if c.err != context.Canceled && !errors.Is(got, errors.Unwrap(c.err)) && !errors.Is(got, c.err) {
			t.Errorf("ExplainRead(%v) lost the original error", c.err)
		}
	}
	other := pg("XX000")
	if got := ExplainRead(other); got != other {
		t.Errorf("an unknown server error should pass through, got %v", got)
	}
}
