package inspect

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Lock is one row of pg_locks for a backend: what it holds or waits for.
type Lock struct {
	LockType string `json:"lock_type"`
	Mode     string `json:"mode"`
	Granted  bool   `json:"granted"`
	// Object names what is locked: a relation's name (or "db:oid" in
	// another database), a transaction id, a virtual transaction, an
	// advisory key.
	Object string `json:"object"`
}

// MaxLocksPerBackend bounds ReadLocks: a session that touched a
// partitioned table can hold thousands.
const MaxLocksPerBackend = 200

var locksSQL = `/* pgmedic:backend-locks */
SELECT l.locktype, l.mode, l.granted,
       CASE
         WHEN l.relation IS NOT NULL AND (l.database = 0 OR d.datname = pg_catalog.current_database())
           THEN l.relation::regclass::text
         WHEN l.relation IS NOT NULL THEN coalesce(d.datname, l.database::text) || ':' || l.relation
         WHEN l.locktype = 'transactionid' THEN 'xid ' || l.transactionid
         WHEN l.locktype = 'virtualxid' THEN 'vxid ' || l.virtualxid
         WHEN l.locktype = 'advisory' THEN 'key ' || l.classid || '/' || l.objid
         ELSE concat_ws('/', l.classid, l.objid, l.objsubid)
       END
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_database d ON d.oid = l.database
WHERE l.pid = $1
ORDER BY l.granted, l.locktype = 'virtualxid', 4
LIMIT ` + strconv.Itoa(MaxLocksPerBackend)

// ReadLocks lists the locks one backend holds or waits for, waited-for
// first. It reads pg_locks, so pgmedic calls it only on demand (the detail
// pane), never on the refresh timer.
func ReadLocks(ctx context.Context, conn *pgx.Conn, pid int) ([]Lock, error) {
	rows, err := conn.Query(ctx, locksSQL, pid)
	if err != nil {
		return nil, fmt.Errorf("reading the locks of pid %d: %w", pid, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Lock])
	if err != nil {
		return nil, fmt.Errorf("reading the locks of pid %d: %w", pid, err)
	}
	return out, nil
}
