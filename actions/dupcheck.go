package actions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DuplicateCheckTimeout bounds the duplicate pre-check of a unique
// rebuild: a full scan of a big table must not run unbounded mid-incident.
var DuplicateCheckTimeout = 30 * time.Second

// errNotExact: the index's equality is not the one GROUP BY uses (a
// non-default operator class), so a pre-check could be wrong either way.
var errNotExact = errors.New("the index's equality cannot be tested exactly")

// duplicateKey looks for one key the unique index would reject: the same
// key columns and expressions, each under the index's collation (a
// non-deterministic one groups what it calls equal), only the rows its
// predicate covers, and NULLs as the index treats them (distinct unless
// NULLS NOT DISTINCT, 15+). INCLUDE columns are not part of the key. It
// returns "" when there is none, in a read-only transaction bounded by
// DuplicateCheckTimeout.
func duplicateKey(ctx context.Context, conn *pgx.Conn, oid uint32) (string, error) {
	type key struct {
		expr, collation string
		plainEquality   bool
	}
	var (
		keys                []key
		schema, table, pred string
		nullsNotDistinct    bool
	)
	var found, names string
	var n int
	// One read-only transaction, bounded: pg_get_indexdef() and the scan
	// wait for a lock held on the table, and the predicate is the
	// application's own expression.
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = '%dms'; SET LOCAL lock_timeout = '2s'",
			DuplicateCheckTimeout.Milliseconds())); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `/* pgmedic:duplicate-keys */
SELECT n.nspname, c.relname, pg_catalog.pg_get_indexdef(i.indexrelid, k.n, true),
       coalesce((SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                   FROM pg_catalog.pg_collation co
                   JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                  WHERE co.oid = i.indcollation[k.n - 1]), ''),
       opc.opcdefault OR EXISTS (
         SELECT 1 FROM pg_catalog.pg_amop io, pg_catalog.pg_opclass dopc, pg_catalog.pg_amop dop
          WHERE io.amopfamily = opc.opcfamily AND io.amoplefttype = opc.opcintype
            AND io.amoprighttype = opc.opcintype AND io.amopstrategy = 3
            AND dopc.opcmethod = opc.opcmethod AND dopc.opcdefault AND dopc.opcintype = opc.opcintype
            AND dop.amopfamily = dopc.opcfamily AND dop.amoplefttype = dopc.opcintype
            AND dop.amoprighttype = dopc.opcintype AND dop.amopstrategy = 3 AND dop.amopopr = io.amopopr),
       coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), ''),
       coalesce((pg_catalog.to_jsonb(i) ->> 'indnullsnotdistinct')::bool, false)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL generate_series(1, i.indnkeyatts::int) k(n)
JOIN pg_catalog.pg_opclass opc ON opc.oid = i.indclass[k.n - 1]
WHERE i.indexrelid = $1
ORDER BY k.n`, oid)
		if err == nil {
			var k key
			_, err = pgx.ForEachRow(rows, []any{&schema, &table, &k.expr, &k.collation, &k.plainEquality, &pred, &nullsNotDistinct}, func() error {
				keys = append(keys, k)
				return nil
			})
		}
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return fmt.Errorf("the index has no key columns")
		}
		var query string
		query, names = duplicateQuery(schema, table, pred, nullsNotDistinct, len(keys), func(i int) (string, string, bool) {
			return keys[i].expr, keys[i].collation, keys[i].plainEquality
		})
		if query == "" {
			return errNotExact
		}
		err = tx.QueryRow(ctx, query).Scan(&found, &n)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil || n == 0 {
		return "", err
	}
	return fmt.Sprintf("key (%s)=(%s) appears %d times", names, found, n), nil
}

// duplicateQuery writes the GROUP BY that finds a key the index would
// reject, and the key's name as PostgreSQL prints it. It is "" when some
// key's equality is not GROUP BY's.
func duplicateQuery(schema, table, pred string, nullsNotDistinct bool, n int, key func(int) (expr, collation string, plain bool)) (query, names string) {
	var group, show, where, exprs []string
	for i := range n {
		expr, coll, plain := key(i)
		if !plain {
			return "", ""
		}
		exprs = append(exprs, expr)
		e := "(" + expr + ")"
		if coll != "" {
			e += " COLLATE " + coll
		}
		group = append(group, e)
		show = append(show, "coalesce(min(("+expr+")::text), 'NULL')")
		if !nullsNotDistinct {
			// NULLS DISTINCT: a row with a NULL in its key never conflicts.
			where = append(where, "("+expr+") IS NOT NULL")
		}
	}
	if pred != "" {
		where = append(where, "("+pred+")")
	}
	q := "/* pgmedic:duplicate-check */ SELECT concat_ws(', ', " + strings.Join(show, ", ") + "), count(*) FROM ONLY " + ident(schema, table)
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY " + strings.Join(group, ", ") + " HAVING count(*) > 1 LIMIT 1"
	return q, strings.Join(exprs, ", ")
}
