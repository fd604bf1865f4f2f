package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyRows writes n rows into table with COPY in its binary format, encoded
// here instead of by pgx's CopyFrom. pgx asks the server for the columns'
// types before each COPY and looks every value's encoding up in its type
// map: for a chunk of new users that was a third of the importer's CPU.
//
// row fills dst with row i's values, each of its column's type exactly (the
// server refuses anything else): string (text), nil (NULL), bool, int64
// (bigint), int32 (integer), time.Time (date, its calendar day) or []byte
// (bytea).
func copyRows(ctx context.Context, tx pgx.Tx, table string, columns []string, n int, row func(i int, dst []any) []any) (int64, error) {
	var e copyEncoder
	e.buf = make([]byte, 0, 19+n*len(columns)*16)
	e.buf = append(e.buf, "PGCOPY\n\xff\r\n\x00"...)
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // flags
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // header extension length
	dst := make([]any, 0, len(columns))
	for i := range n {
		values := row(i, dst[:0])
		if len(values) != len(columns) {
			return 0, fmt.Errorf("copy into %s: row %d has %d values for %d columns", table, i, len(values), len(columns))
		}
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(values)))
		for j, v := range values {
			if err := e.value(v); err != nil {
				return 0, fmt.Errorf("copy into %s, column %s: %w", table, columns[j], err)
			}
		}
	}
	e.buf = binary.BigEndian.AppendUint16(e.buf, 0xffff) // trailer: -1
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(quoted, ", ") + ") FROM STDIN BINARY"
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(e.buf), sql)
	return tag.RowsAffected(), err
}

// copyEncoder appends values in COPY's binary format: each a 32-bit length
// (-1 for NULL) and the type's binary representation.
type copyEncoder struct {
	buf []byte
}

// pgEpoch is day 0 of PostgreSQL's dates.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (e *copyEncoder) value(v any) error {
	switch v := v.(type) {
	case nil:
		e.buf = binary.BigEndian.AppendUint32(e.buf, 0xffffffff)
	case string:
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(v)))
		e.buf = append(e.buf, v...)
	case []byte:
		if v == nil {
			e.buf = binary.BigEndian.AppendUint32(e.buf, 0xffffffff)
			break
		}
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(v)))
		e.buf = append(e.buf, v...)
	case bool:
		e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
		if v {
			e.buf = append(e.buf, 1)
		} else {
			e.buf = append(e.buf, 0)
		}
	case int64:
		e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
	case int32:
		e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
	case time.Time:
		// The calendar day in the time's own location, as pgx encodes a date.
		y, m, d := v.Date()
		// (Seconds, not a Duration, which spans only 292 years.)
		days := (time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() - pgEpoch.Unix()) / 86400
		e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(int32(days)))
	default:
		return fmt.Errorf("no binary COPY encoding for %T", v)
	}
	return nil
}
