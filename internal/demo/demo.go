// Package demo stages the incident pgmedic was made for on a throwaway
// cluster, and keeps it alive and moving: an API's connection pool piling
// up behind a migration's lock, invalid indexes from failed builds, a build
// in progress, forgotten transactions.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgmedic/pgmedic/internal/pgcluster"
	"github.com/pgmedic/pgmedic/internal/scenario"
)

// Settings make the story visible: a pool small enough to fill, with
// room for the PgBouncer's few server connections. The standby, cloned
// with them, lets a report hold its replay back for as long as it runs
// rather than cancel it after 30 s: a replica that falls behind.
var Settings = map[string]string{
	"max_connections":                "45",
	"superuser_reserved_connections": "3",
	"max_standby_streaming_delay":    "-1",
}

// APIWorkers is the size of the application's pool.
const APIWorkers = 26

// A second application reaches the database through PgBouncer, in
// transaction pooling: BouncerPool server connections for WebClients
// clients. Behind the migration's lock every server connection waits, and
// the other clients queue in the pooler: the 503s.
const (
	BouncerPool = 4
	WebClients  = 24
)

// Options configure the demo.
type Options struct {
	BinDir string
	// PgBouncer is the pgbouncer binary; "" stages no pooler.
	PgBouncer string
	// Standby stages a streaming standby whose replay a report holds
	// back.
	Standby bool
	Logf    func(format string, args ...any)
}

// Demo is a running incident.
type Demo struct {
	Cluster *pgcluster.Cluster
	stage   *scenario.Stage
	// standbyStage holds the report's session on the standby.
	standbyStage *scenario.Stage
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	// Migration is the session holding the lock everything queues behind.
	Migration *scenario.Session
	// Bouncer is the PgBouncer in front of the cluster, when staged.
	Bouncer *pgcluster.Bouncer
	// Standby streams from Cluster, when staged; Report is the session
	// on it whose lock holds replay back.
	Standby *pgcluster.Cluster
	Report  *scenario.Session
	standby bool
}

var (
	users  = scenario.Table{Schema: "public", Name: "users"}
	orders = scenario.Table{Schema: "public", Name: "orders"}
	events = scenario.Table{Schema: "public", Name: "events"}
	audit  = scenario.Table{Schema: "public", Name: "audit_log"}
	// archive is vacuumed slowly, over and over: a long operation with
	// a progress view, for the Progress view (6).
	archive = scenario.Table{Schema: "public", Name: "archive"}
)

// Start creates the cluster and stages the incident. On failure it removes
// everything it made.
func Start(ctx context.Context, opts Options) (*Demo, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{BinDir: opts.BinDir, Settings: Settings, Logf: logf})
	if err != nil {
		return nil, err
	}
	d := &Demo{Cluster: c, standby: opts.Standby}
	if opts.PgBouncer != "" {
		logf("demo: starting PgBouncer")
		if d.Bouncer, err = c.StartBouncer(ctx, opts.PgBouncer, pgcluster.BouncerOptions{PoolMode: "transaction",
			PoolSize: BouncerPool, Users: []string{"app"}}); err != nil {
			d.Stop()
			return nil, err
		}
	}
	if err := d.stageIncident(ctx, logf); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *Demo) stageIncident(ctx context.Context, logf func(string, ...any)) (err error) {
	c := d.Cluster
	for _, sql := range []string{"CREATE DATABASE shop", "CREATE ROLE app LOGIN"} {
		if err := c.Exec(ctx, "postgres", sql); err != nil {
			return err
		}
	}
	d.stage, err = scenario.NewStage(ctx, func(app string) string {
		return c.ConnString("shop", "") + " application_name='" + app + "'"
	})
	if err != nil {
		return err
	}
	st := d.stage
	steps := []struct {
		what string
		do   func() error
	}{
		{"tables", func() error {
			if err := st.CreateTable(ctx, users, 100000); err != nil {
				return err
			}
			if err := st.CreateTable(ctx, orders, 20000); err != nil {
				return err
			}
			return st.Exec(ctx, "GRANT ALL ON ALL TABLES IN SCHEMA public TO app")
		}},
		{"a standby, its replay held back by a report", func() error { return d.stageStandby(ctx) }},
		{"a unique index build that failed on duplicates", func() error { return st.FailedUniqueIndex(ctx, orders, "orders_code_uq") }},
		{"a build in progress", func() error {
			_, err := st.SlowBuild(ctx, events, "events_key_idx", 20000, 25*time.Millisecond)
			return err
		}},
		{"a build killed by a statement timeout", func() error {
			if err := st.CreateSlowTable(ctx, audit, 2000, 5*time.Millisecond); err != nil {
				return err
			}
			return st.KilledBuild(ctx, audit, "audit_log_key_idx")
		}},
		{"forgotten transactions", func() error { _, err := st.IdleInTransaction(ctx, "ops-console", 2); return err }},
		{"a slow VACUUM", func() error { return st.CreateTable(ctx, archive, 30000) }},
	}
	for _, s := range steps {
		logf("demo: staging %s", s.what)
		if err := s.do(); err != nil {
			return fmt.Errorf("staging %s: %w", s.what, err)
		}
	}
	trafficCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for i := range APIWorkers {
		d.wg.Add(1)
		go d.apiWorker(trafficCtx, i)
	}
	if d.Bouncer != nil {
		for i := range WebClients {
			d.wg.Add(1)
			go d.webClient(trafficCtx, i)
		}
	}
	d.wg.Add(2)
	go d.maintenance(trafficCtx)
	go d.backfill(trafficCtx)
	time.Sleep(500 * time.Millisecond) // the traffic runs before the migration
	logf("demo: the migration takes its lock")
	if d.Migration, err = st.Open(ctx, "migrate"); err != nil {
		return err
	}
	return d.Migration.Exec(ctx, "BEGIN; ALTER TABLE "+users.Ident()+" ADD COLUMN referral_code text")
}

// apiWorker is one connection of the application's pool: short reads and
// updates, forever. When its session is terminated it reconnects.
func (d *Demo) apiWorker(ctx context.Context, i int) {
	defer d.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, d.Cluster.ConnString("shop", "app")+" application_name='api'")
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for ctx.Err() == nil {
			id := rng.IntN(100000) + 1
			_, err := conn.Exec(ctx, `SELECT code FROM public.users WHERE id = $1`, id)
			if err == nil && rng.IntN(3) == 0 {
				_, err = conn.Exec(ctx, `UPDATE public.users SET v = v + 1 WHERE id = $1`, id)
			}
			if err != nil {
				break
			}
			sleep(ctx, time.Duration(100+rng.IntN(300))*time.Millisecond)
		}
		conn.Close(context.Background())
	}
}

// stageStandby clones the cluster into a streaming standby and opens a
// report on it that reads users in a repeatable-read transaction and
// stays open. When the migration's ACCESS EXCLUSIVE lock on users reaches
// the standby, replay must wait for the report's lock (forever, by
// max_standby_streaming_delay), and the standby falls behind the
// backfill's WAL, as a replica does behind a migration.
func (d *Demo) stageStandby(ctx context.Context) (err error) {
	if !d.standby {
		return nil
	}
	if d.Standby, err = d.Cluster.StartStandby(ctx); err != nil {
		return err
	}
	if err := d.Standby.CaughtUp(ctx, d.Cluster); err != nil {
		return err
	}
	on, err := scenario.NewStage(ctx, func(app string) string {
		return d.Standby.ConnString("shop", "") + " application_name='" + app + "'"
	})
	if err != nil {
		return err
	}
	if d.Report, err = on.Open(ctx, "reporting"); err != nil {
		on.Close()
		return err
	}
	d.standbyStage = on
	return d.Report.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM "+users.Ident())
}

// backfillFor bounds the backfill: the standby keeps every byte it does
// not replay, some 1 GB an hour at the backfill's rate.
const backfillFor = 30 * time.Minute

// backfill is the migration's backfill: batches of 500 orders updated in
// short transactions, two a second, some hundreds of kB of WAL a second
// that the held-back standby does not replay. It ends after backfillFor.
func (d *Demo) backfill(ctx context.Context) {
	defer d.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, backfillFor)
	defer cancel()
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, d.Cluster.ConnString("shop", "")+" application_name='backfill'")
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for from := 1; err == nil && ctx.Err() == nil; from = (from+499)%20000 + 1 {
			_, err = conn.Exec(ctx, `UPDATE `+orders.Ident()+` SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 499`, from)
			sleep(ctx, 500*time.Millisecond)
		}
		conn.Close(context.Background())
	}
}

// webClient is a client of the web application, which reaches the
// database through PgBouncer: a read now and then. Its statements go
// unnamed, as a client of a transaction pooler must send them.
func (d *Demo) webClient(ctx context.Context, i int) {
	defer d.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	for ctx.Err() == nil {
		cfg, err := pgx.ParseConfig(d.Bouncer.ConnString("shop", "app") + " application_name=web")
		if err != nil {
			return
		}
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for ctx.Err() == nil {
			if _, err := conn.Exec(ctx, `SELECT code FROM public.users WHERE id = $1`, rng.IntN(100000)+1); err != nil {
				break
			}
			sleep(ctx, time.Duration(200+rng.IntN(800))*time.Millisecond)
		}
		conn.Close(context.Background())
	}
}

// maintenance vacuums the archive table, slowed by the cost delay to
// about ten pages a second, again and again: a VACUUM of some 20 s whose
// phases, rate and ETA the Progress view shows.
func (d *Demo) maintenance(ctx context.Context) {
	defer d.wg.Done()
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, d.Cluster.ConnString("shop", "")+" application_name='maintenance'")
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		_, err = conn.Exec(ctx, `SET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1`)
		for err == nil && ctx.Err() == nil {
			_, err = conn.Exec(ctx, `VACUUM (DISABLE_PAGE_SKIPPING) `+archive.Ident())
			sleep(ctx, 2*time.Second)
		}
		conn.Close(context.Background())
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ConnString is how to reach the demo's database as a superuser.
func (d *Demo) ConnString() string { return d.Cluster.ConnString("shop", "") }

// Stop ends the traffic and the sessions and removes the cluster.
func (d *Demo) Stop() error {
	var errs []error
	if d.cancel != nil {
		d.cancel()
	}
	if d.Bouncer != nil {
		d.Bouncer.Stop() // the web clients' connections end with it
	}
	if d.standbyStage != nil {
		d.standbyStage.Close()
	}
	if d.Standby != nil {
		errs = append(errs, d.Standby.Stop())
	}
	if d.Cluster != nil {
		// Stopping the server first ends every blocked worker at once.
		errs = append(errs, d.Cluster.Stop())
	}
	d.wg.Wait()
	return errors.Join(errs...)
}
