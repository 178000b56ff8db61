package inspect

import (
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// scanner scans the rows of one statement with plans it keeps between
// refreshes. pgx plans every column anew for each result; for the
// statements read every second, at a few microseconds a column, that
// planning cost about as much as the scanning. A plan is made again when
// a column's type or format, or its target's type, is not the one it was
// made for.
type scanner struct {
	cols []scanCol
}

type scanCol struct {
	oid    uint32
	format int16
	target reflect.Type
	plan   pgtype.ScanPlan
}

// scan scans the current row of rows into targets, as rows.Scan does.
func (sc *scanner) scan(m *pgtype.Map, rows pgx.Rows, targets []any) error {
	fds := rows.FieldDescriptions()
	if len(fds) != len(targets) {
		return fmt.Errorf("%d columns, %d targets", len(fds), len(targets))
	}
	if len(sc.cols) != len(fds) {
		sc.cols = make([]scanCol, len(fds))
	}
	raw := rows.RawValues()
	for i, t := range targets {
		if t == nil {
			continue // a column this row does not need
		}
		col, fd := &sc.cols[i], &fds[i]
		if tt := reflect.TypeOf(t); col.plan == nil || col.oid != fd.DataTypeOID || col.format != fd.Format || col.target != tt {
			*col = scanCol{fd.DataTypeOID, fd.Format, tt, m.PlanScan(fd.DataTypeOID, fd.Format, t)}
		}
		if err := col.plan.Scan(raw[i], t); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: fd.Name, Err: err}
		}
	}
	return nil
}

// readEach runs the batch's next statement and calls row after scanning
// each of its rows into targets, with sc's plans.
func readEach(br pgx.BatchResults, sc *scanner, what string, targets []any, row func()) error {
	return readEachPicked(br, sc, what, func([][]byte) []any { return targets }, row)
}

// readEachPicked is readEach with each row's targets picked from its raw
// values: nil targets skip columns the row does not need.
func readEachPicked(br pgx.BatchResults, sc *scanner, what string, pick func(raw [][]byte) []any, row func()) error {
	rows, err := br.Query()
	if err == nil {
		m := rows.Conn().TypeMap()
		for err == nil && rows.Next() {
			if err = sc.scan(m, rows, pick(rows.RawValues())); err == nil {
				row()
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}
