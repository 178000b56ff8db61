package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgmedic/pgmedic/internal/scenario"
)

// Load is the shape of the backends the harness holds open while pgmedic
// watches: the incident of the issue, at scale.
type Load struct {
	Backends int // every backend the harness opens
	Waiting  int // of which waiting on heavyweight locks
	IdleInTx int // of which idle in transaction, each holding Tables locks
	Active   int // of which running a long pg_sleep
	Tables   int // relations each idle-in-transaction session has read
}

// Roots is the number of backends that hold the locks the waiters queue
// on: two, one per queue.
const roots = 2

func (l Load) validate() error {
	if l.Waiting < 4 || l.Waiting%2 != 0 {
		return fmt.Errorf("-waiting must be even and at least 4 (two queues of at least two), not %d", l.Waiting)
	}
	if min(l.IdleInTx, l.Active, l.Tables) < 0 {
		return fmt.Errorf("counts cannot be negative")
	}
	if need := roots + l.Waiting + l.IdleInTx + l.Active; l.Backends < need {
		return fmt.Errorf("-backends %d is fewer than the %d the other counts need", l.Backends, need)
	}
	return nil
}

// Idle is what is left once the others are counted.
func (l Load) Idle() int { return l.Backends - roots - l.Waiting - l.IdleInTx - l.Active }

func (l Load) String() string {
	return fmt.Sprintf("%d backends: %d waiting on locks (half queued behind a migration's ALTER TABLE, half in a "+
		"row-lock queue), %d idle in transaction holding %d relation locks each, %d active, %d idle, %d lock holders",
		l.Backends, l.Waiting, l.IdleInTx, 2*l.Tables, l.Active, l.Idle(), roots)
}

// stage opens every backend of l, from this one process, in database
// "app", and waits until each is in the state it was put in.
func stage(ctx context.Context, st *scenario.Stage, l Load) error {
	orders := scenario.Table{Schema: "public", Name: "orders"}
	accounts := scenario.Table{Schema: "public", Name: "accounts"}
	for _, t := range []scenario.Table{orders, accounts} {
		if err := st.CreateTable(ctx, t, 1000); err != nil {
			return err
		}
	}
	// The idle transactions read many small tables, so that their locks
	// overflow the 16 fast-path slots into the shared lock table that
	// pg_locks and pg_blocking_pids() walk: the costly case.
	var reads []string
	for i := range l.Tables {
		t := scenario.Table{Schema: "public", Name: "t" + strconv.Itoa(i)}
		if err := st.CreateTable(ctx, t, 10); err != nil {
			return err
		}
		reads = append(reads, "SELECT v FROM "+t.Ident()+" WHERE id = 1")
	}

	half := l.Waiting / 2
	// A migration's ALTER TABLE waits behind an idle transaction; readers
	// queue behind the ALTER: half-1 readers + the ALTER.
	if _, err := st.MigrationBehindIdleTx(ctx, orders, half-1); err != nil {
		return err
	}
	// A row-lock queue: one waiter on the holder's transaction, the rest
	// on the tuple lock.
	if _, err := st.RowLockChain(ctx, accounts, half-1); err != nil {
		return err
	}
	for i := range l.IdleInTx {
		s, err := st.Open(ctx, "worker-"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		if err := s.Exec(ctx, "BEGIN; "+strings.Join(append(reads, "SELECT 1"), "; ")); err != nil {
			return err
		}
	}
	for i := range l.Active {
		s, err := st.Open(ctx, "report-"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		s.Go("SELECT pg_sleep(3600)")
	}
	if _, err := st.Fill(ctx, "api-pool", l.Idle()); err != nil {
		return err
	}
	return nil
}
