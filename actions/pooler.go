package actions

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgmedic/pgmedic/inspect"
)

// The PgBouncer admin console's commands, on one of its databases.
const (
	PoolerPause     Kind = "pgbouncer-pause"
	PoolerResume    Kind = "pgbouncer-resume"
	PoolerKill      Kind = "pgbouncer-kill"
	PoolerReconnect Kind = "pgbouncer-reconnect"
)

// IsPooler reports whether kind acts on the pooler rather than the server.
func IsPooler(kind Kind) bool {
	return kind == PoolerPause || kind == PoolerResume || kind == PoolerKill || kind == PoolerReconnect
}

// PoolerTarget is a database of a PgBouncer, with what its pools held
// when the plan was made.
type PoolerTarget struct {
	Pooler         string `json:"pgbouncer"`
	Database       string `json:"database"`
	Paused         bool   `json:"paused"`
	ClientsActive  int    `json:"cl_active"`
	ClientsWaiting int    `json:"cl_waiting"`
	ServersActive  int    `json:"sv_active"`
	ServersIdle    int    `json:"sv_idle"`
}

// PoolerWait bounds a command on the admin console. PAUSE returns only
// once every server connection of the database is released, which a long
// transaction can put off for ever; RESUME, KILL and RECONNECT answer at
// once.
const PoolerWait = 10 * time.Second

// claimPooler is the advisory-lock class of a pooler database's claim,
// taken on the server pgmedic watches: two pgmedic processes must not
// pause and resume the same database over each other.
const claimPooler int32 = 0x70676d66

// PlanPooler plans kind on database db of the pooler p.
func PlanPooler(p *inspect.Pooler, kind Kind, db string) Plan {
	words := map[Kind]string{PoolerPause: "PAUSE", PoolerResume: "RESUME", PoolerKill: "KILL", PoolerReconnect: "RECONNECT"}
	plan := Plan{Kind: kind, Title: fmt.Sprintf("%s database %s in PgBouncer", words[kind], db)}
	if p == nil {
		plan.Refusal = "pgmedic was not given a PgBouncer (start it with --pgbouncer DSN)"
		return plan
	}
	t := &PoolerTarget{Pooler: p.Target, Database: db}
	found := false
	for i := range p.Pools {
		pool := &p.Pools[i]
		if pool.Database != db {
			continue
		}
		found = true
		t.Paused = t.Paused || pool.Paused
		t.ClientsActive += pool.ClientsActive
		t.ClientsWaiting += pool.ClientsWaiting
		t.ServersActive += pool.ServersActive
		t.ServersIdle += pool.ServersIdle
	}
	plan.Pooler = t
	name, ok := poolerName(db)
	switch {
	case p.Error != "":
		plan.Refusal = "the pooler cannot be read right now (" + p.Error + "): its state is not known"
		return plan
	case !found:
		plan.Refusal = fmt.Sprintf("the pooler has no pool for database %q (PAUSE of an unknown name succeeds and does nothing)", db)
		return plan
	case !ok:
		plan.Refusal = fmt.Sprintf("the database name %q cannot be written in an admin console command", db)
		return plan
	}
	plan.Preconditions = []string{fmt.Sprintf("database %s is still in the pooler (SHOW DATABASES)", name)}
	clients := fmt.Sprintf("%d client(s) active, %d waiting, %d server connection(s) active", t.ClientsActive, t.ClientsWaiting, t.ServersActive)
	switch kind {
	case PoolerPause:
		plan.Statements = []Statement{plain("PAUSE " + name)}
		plan.Preconditions = append(plan.Preconditions, "it is not paused")
		plan.Effect = "PgBouncer stops handing out server connections for " + name + " and waits for those in use to be " +
			"released; clients stay connected and their queries queue in the pooler until RESUME (" + clients + ")"
		plan.Risks = []string{
			"every client of the database waits until RESUME: the application sees timeouts, not errors",
			fmt.Sprintf("a transaction that does not end within %s keeps PAUSE from completing: pgmedic then RESUMEs, and says so", PoolerWait),
			"if pgmedic dies while PAUSE waits, the database stays paused: RESUME it (pgmedic, or psql to the admin console)",
		}
		if t.Paused {
			plan.Refusal = "database " + name + " is already paused"
			plan.Alternative = "RESUME it (U)"
		}
	case PoolerResume:
		plan.Statements = []Statement{plain("RESUME " + name)}
		plan.Preconditions = append(plan.Preconditions, "it is paused (or killed)")
		plan.Effect = "PgBouncer hands out server connections for " + name + " again: queued queries run"
		plan.Risks = []string{"everything queued in the pooler reaches the server at once"}
		if !t.Paused {
			plan.Refusal = "database " + name + " is not paused"
		}
	case PoolerKill:
		plan.Statements = []Statement{plain("KILL " + name), plain("RESUME " + name)}
		plan.Effect = "every client and server connection of " + name + " is dropped at once (" + clients +
			"); their transactions roll back on the server. KILL leaves the database paused, so RESUME follows at once and new clients are served"
		plan.Risks = []string{
			"every client of the database loses its connection, idle or not, and must reconnect",
			"if pgmedic dies between KILL and RESUME, new clients wait until someone RESUMEs the database",
		}
		plan.Steps = []string{"KILL: the connections are dropped; new clients wait", "RESUME: new clients are served again"}
	case PoolerReconnect:
		plan.Statements = []Statement{plain("RECONNECT " + name)}
		plan.Effect = "each server connection of " + name + " is closed once it is released (at the end of its transaction " +
			"in transaction pooling, when its client leaves in session pooling) and replaced by a new one; nothing is interrupted"
		plan.Risks = []string{"new server connections are opened at once: a server short of slots may refuse some",
			"in session pooling a long-lived client keeps its old server connection"}
	}
	return plan
}

// poolerName writes a database name for the admin console, in double
// quotes. The console has no escape for a double quote inside a name.
func poolerName(db string) (string, bool) {
	if db == "" || strings.ContainsAny(db, "\"\x00\n\r") {
		return "", false
	}
	return `"` + db + `"`, true
}

func poolerClaimID(db string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(db))
	return h.Sum32()
}

// poolerPaused reads whether db is paused, and whether the pooler still
// has it.
func poolerPaused(ctx context.Context, conn *pgx.Conn, db string) (paused, found bool, err error) {
	res, err := conn.PgConn().Exec(ctx, "SHOW DATABASES").ReadAll()
	if err != nil {
		return false, false, err
	}
	if len(res) != 1 {
		return false, false, errors.New("SHOW DATABASES: no result")
	}
	name, pausedCol := -1, -1
	for i, f := range res[0].FieldDescriptions {
		switch f.Name {
		case "name":
			name = i
		case "paused":
			pausedCol = i
		}
	}
	if name < 0 || pausedCol < 0 {
		return false, false, errors.New("SHOW DATABASES has no name or paused column")
	}
	for _, row := range res[0].Rows {
		if string(row[name]) == db {
			return string(row[pausedCol]) != "0", true, nil
		}
	}
	return false, false, nil
}

func adminExec(ctx context.Context, env Env, conn *pgx.Conn, sql string) error {
	wait := env.PoolerWait
	if wait <= 0 {
		wait = PoolerWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

func runPooler(ctx context.Context, env Env, r *Result) {
	t := r.Plan.Pooler
	if env.OpenPooler == nil {
		r.refuse("pgmedic was not given a PgBouncer (--pgbouncer); nothing was done")
		return
	}
	if env.Monitor != nil {
		var holder string
		if err := env.Monitor(ctx, func(conn *pgx.Conn) (err error) {
			holder, err = claim(ctx, conn, claimPooler, poolerClaimID(t.Database))
			return err
		}); err != nil {
			r.fail(err, "claiming the pooler database")
			return
		} else if holder != "" {
			r.refuse(fmt.Sprintf("another pgmedic is acting on pooler database %s right now: %s; nothing was done", t.Database, holder))
			return
		}
		defer env.Monitor(context.WithoutCancel(ctx), func(conn *pgx.Conn) error {
			return release(context.WithoutCancel(ctx), conn, claimPooler, poolerClaimID(t.Database))
		})
	}
	// A connection of its own: PAUSE may wait, and the refreshes go on.
	conn, err := env.OpenPooler(ctx)
	if err != nil {
		r.fail(err, "connecting to the PgBouncer admin console")
		return
	}
	defer func() { conn.Close(context.WithoutCancel(ctx)) }()

	paused, found, err := poolerPaused(ctx, conn, t.Database)
	switch {
	case err != nil:
		r.fail(err, "re-checking the database in the pooler")
		return
	case !found:
		r.refuse(fmt.Sprintf("database %s is no longer in the pooler; nothing was done", t.Database))
		return
	case r.Plan.Kind == PoolerPause && paused:
		r.refuse(fmt.Sprintf("database %s was paused meanwhile (by someone else?); nothing was done", t.Database))
		return
	case r.Plan.Kind == PoolerResume && !paused:
		r.refuse(fmt.Sprintf("database %s is no longer paused; nothing was done", t.Database))
		return
	}
	for i, st := range r.Plan.Statements {
		err := adminExec(ctx, env, conn, st.SQL)
		if err == nil {
			r.Attempts = append(r.Attempts, st.Display+": ok")
			continue
		}
		r.Attempts = append(r.Attempts, st.Display+": "+explain(err))
		switch {
		case r.Plan.Kind == PoolerPause:
			r.undoPause(ctx, env, err)
		case i > 0: // KILL was done, RESUME was not
			r.fail(err, "KILL was done but RESUME failed, so new clients of "+t.Database+
				" wait: run RESUME \""+t.Database+"\" on the admin console")
		default:
			r.fail(err, st.Display)
		}
		return
	}
	if r.Plan.Kind == PoolerReconnect {
		r.Outcome, r.Message = "done", fmt.Sprintf("RECONNECT %s: its server connections are replaced as they are released", t.Database)
		return
	}
	paused, _, err = poolerPaused(ctx, conn, t.Database)
	if err != nil {
		r.fail(err, "verifying the database's state in the pooler")
		return
	}
	want := r.Plan.Kind == PoolerPause
	if paused != want {
		r.Outcome, r.Message = "failed", fmt.Sprintf("the pooler answered, but database %s is %s", t.Database, map[bool]string{true: "paused", false: "not paused"}[paused])
		return
	}
	r.Outcome = "done"
	switch r.Plan.Kind {
	case PoolerPause:
		r.Message = fmt.Sprintf("database %s is paused: its clients wait in the pooler until RESUME", t.Database)
	case PoolerResume:
		r.Message = fmt.Sprintf("database %s is resumed", t.Database)
	case PoolerKill:
		r.Message = fmt.Sprintf("database %s: every connection was dropped, and new clients are served (RESUME)", t.Database)
	}
}

// undoPause RESUMEs a database whose PAUSE did not complete: the pooler
// keeps a database paused after the command that paused it gave up, and
// leaving it so would hold every client of the database.
func (r *Result) undoPause(ctx context.Context, env Env, cause error) {
	db := r.Plan.Pooler.Database
	why := explain(cause)
	var pgErr *pgconn.PgError
	switch {
	case ctx.Err() != nil:
		why = "it was stopped while it waited for the server connections to be released"
	case !errors.As(cause, &pgErr):
		why = "it did not complete in time (a transaction kept a server connection)"
	}
	conn, err := env.OpenPooler(context.WithoutCancel(ctx))
	if err == nil {
		defer conn.Close(context.WithoutCancel(ctx))
		name, _ := poolerName(db)
		var paused bool
		if paused, _, err = poolerPaused(context.WithoutCancel(ctx), conn, db); err == nil && paused {
			err = adminExec(context.WithoutCancel(ctx), env, conn, "RESUME "+name)
			r.Attempts = append(r.Attempts, "RESUME "+name+": "+map[bool]string{true: "ok", false: "failed"}[err == nil])
		}
	}
	r.Outcome, r.Err, r.SQLState = "failed", cause, sqlState(cause)
	if err != nil {
		r.Message = fmt.Sprintf("PAUSE %s: %s, and undoing it failed (%s): the database may be left PAUSED; RESUME it", db, why, explain(err))
		return
	}
	r.Message = fmt.Sprintf("PAUSE %s: %s; it was undone with RESUME, nothing is paused", db, why)
}
