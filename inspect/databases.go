package inspect

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

const otherDatabasesSQL = `/* pgmedic:databases */
SELECT datname FROM pg_catalog.pg_database
WHERE datallowconn AND NOT datistemplate
  AND pg_catalog.has_database_privilege(datname, 'CONNECT')
  AND datname <> pg_catalog.current_database()
ORDER BY datname`

// FreeSlotsForUs is how many more connections our role could open now:
// superusers may use every slot, PostgreSQL 16+ roles with
// pg_use_reserved_connections all but superuser_reserved_connections,
// everyone else only the usable ones.
func (s *Snapshot) FreeSlotsForUs() int {
	srv := &s.Server
	switch {
	case srv.Role.Superuser:
		return srv.MaxConnections - s.Saturation.Used
	case srv.Role.UseReserved:
		return srv.MaxConnections - srv.SuperuserReserved - s.Saturation.Used
	default:
		return srv.Usable - s.Saturation.Used
	}
}

// Connector opens a short-lived connection to another database with the
// same settings as the monitoring connection.
type Connector func(ctx context.Context, database string) (*pgx.Conn, error)

// CheckOtherDatabases adds the invalid indexes of every other database the
// role may connect to. It opens one connection at a time and closes it
// before the next, and opens none when that would take one of the last
// two slots: pgmedic must never be what exhausts the pool.
func (c *Collector) CheckOtherDatabases(ctx context.Context, s *Snapshot, connect Connector) error {
	rows, err := c.conn.Query(ctx, otherDatabasesSQL)
	if err != nil {
		return fmt.Errorf("listing databases: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing databases: %w", err)
	}
	for i, db := range dbs {
		if free := s.FreeSlotsForUs(); free < 2 {
			s.Warnings = append(s.Warnings, fmt.Sprintf(
				"indexes of %d other database(s) not checked: only %d connection slot(s) free for role %q",
				len(dbs)-i, max(free, 0), s.Server.User))
			return nil
		}
		ixs, err := readOtherDatabase(ctx, connect, db)
		if err != nil {
			s.Warnings = append(s.Warnings, fmt.Sprintf("indexes of database %q not checked: %v", db, err))
			continue
		}
		s.Indexes = append(s.Indexes, ixs...)
		s.Databases = append(s.Databases, db)
	}
	return nil
}

func readOtherDatabase(ctx context.Context, connect Connector, db string) ([]Index, error) {
	conn, err := connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return ReadIndexes(ctx, conn)
}
