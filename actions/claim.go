package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// An action claims its target with a session-level advisory lock for as
// long as it runs, so two pgmedic processes (or two actions of one) never
// work on the same object at once: the second is refused, told who holds
// it. The lock goes with the session, so a pgmedic that dies releases it.
//
// The two-key form keeps pgmedic's locks apart from the application's:
// the first key says "pgmedic" and the kind of object, the second is the
// object's identity. Advisory locks are per database, which is where an
// index lives; a backend's claim is taken in the monitoring connection's
// database.
const (
	claimIndex   int32 = 0x70676d64 // "pgmd"
	claimBackend int32 = 0x70676d65
)

// claim takes the lock, or says who holds it.
func claim(ctx context.Context, conn *pgx.Conn, class int32, id uint32) (holder string, err error) {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1, $2)`, class, int32(id)).Scan(&ok); err != nil {
		return "", err
	}
	if ok {
		return "", nil
	}
	var pid int
	var app, user, client string
	var since *time.Time
	err = conn.QueryRow(ctx, `/* pgmedic:claim-holder */
SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
       coalesce(host(a.client_addr), 'local socket'), a.backend_start
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = $1 AND l.objid = $2
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
LIMIT 1`, uint32(class), id).Scan(&pid, &app, &user, &client, &since)
	if err != nil {
		// It was released in between: say so rather than retry, the user
		// can simply ask again.
		return "another session that has just finished", nil
	}
	holder = fmt.Sprintf("pid %d (%s, user %s, %s", pid, orDash(app), orDash(user), client)
	if since != nil {
		holder += ", connected since " + since.Local().Format("15:04:05")
	}
	return holder + ")", nil
}

// release gives the claim back; closing the session does too.
func release(ctx context.Context, conn *pgx.Conn, class int32, id uint32) error {
	_, err := conn.Exec(ctx, `SELECT pg_catalog.pg_advisory_unlock($1, $2)`, class, int32(id))
	return err
}
