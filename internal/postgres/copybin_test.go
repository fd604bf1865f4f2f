package postgres_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// The hand-made binary COPY must store every value as PostgreSQL reads it
// back: NULLs, the edges of each type, dates far from 2000 on both sides,
// text that COPY's text format would have to escape.
func TestCopyRowsStoresEveryType(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := t.Context()
	str := func(v string) *string { return &v }
	boolean := func(v bool) *bool { return &v }
	i8 := func(v int64) *int64 { return &v }
	i4 := func(v int32) *int32 { return &v }
	date := func(y int, m time.Month, d int, loc *time.Location) *time.Time {
		v := time.Date(y, m, d, 0, 0, 0, 0, loc)
		return &v
	}
	want := []typedRow{
		{str("plain"), boolean(true), i8(1<<62 + 7), i4(-5), date(2024, 6, 9, time.UTC), []byte{0, 1, 0xff}},
		{str("tab\there, newline\n, back\\slash, \"quote\", ünïcödé, 日本"), boolean(false), i8(-1 << 63), i4(1<<31 - 1),
			date(1, 1, 1, time.UTC), []byte{}},
		{str(""), nil, nil, nil, date(9999, 12, 31, time.UTC), nil},
		{nil, boolean(true), i8(0), i4(0), date(1969, 12, 31, time.UTC), []byte(strings.Repeat("x", 70000))},
		// A date's day is the calendar day in its own location, as with pgx.
		{str("east"), nil, nil, nil, date(2000, 1, 1, time.FixedZone("UTC+14", 14*3600)), nil},
	}
	var got []typedRow
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE copy_types (n int, t text, b boolean, i8 bigint, i4 integer, d date, blob bytea) ON COMMIT DROP`); err != nil {
			return err
		}
		n, err := postgres.CopyRows(ctx, tx, "copy_types", []string{"n", "t", "b", "i8", "i4", "d", "blob"}, len(want), func(i int, dst []any) []any {
			r := want[i]
			dst = append(dst, int32(i))
			for _, v := range []any{r.t, r.b, r.i8, r.i4, r.d} {
				switch v := v.(type) {
				case *string:
					dst = appendOrNil(dst, v)
				case *bool:
					dst = appendOrNil(dst, v)
				case *int64:
					dst = appendOrNil(dst, v)
				case *int32:
					dst = appendOrNil(dst, v)
				case *time.Time:
					dst = appendOrNil(dst, v)
				}
			}
			return append(dst, r.blob)
		})
		if err != nil {
			return err
		}
		if n != int64(len(want)) {
			t.Errorf("copied %d rows, want %d", n, len(want))
		}
		rows, err := tx.Query(ctx, `SELECT t, b, i8, i4, d, blob FROM copy_types ORDER BY n`)
		if err != nil {
			return err
		}
		var r typedRow
		_, err = pgx.ForEachRow(rows, []any{&r.t, &r.b, &r.i8, &r.i4, &r.d, &r.blob}, func() error {
			got = append(got, r)
			r = typedRow{}
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d rows back, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !eqPtr(w.t, g.t) || !eqPtr(w.b, g.b) || !eqPtr(w.i8, g.i8) || !eqPtr(w.i4, g.i4) ||
			(w.blob == nil) != (g.blob == nil) || !bytes.Equal(w.blob, g.blob) {
			t.Errorf("row %d: got %v, want %v", i, g, w)
		}
		wy, wm, wd := w.d.Date()
		if gy, gm, gd := g.d.Date(); gy != wy || gm != wm || gd != wd {
			t.Errorf("row %d: date %04d-%02d-%02d, want %04d-%02d-%02d", i, gy, gm, gd, wy, wm, wd)
		}
	}
}

// A value of a type the encoder does not know fails the COPY with the
// column's name, before anything is sent.
func TestCopyRowsRefusesUnknownTypes(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := t.Context()
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE copy_bad (n int) ON COMMIT DROP`); err != nil {
			return err
		}
		_, err := postgres.CopyRows(ctx, tx, "copy_bad", []string{"n"}, 1, func(_ int, dst []any) []any { return append(dst, 7) })
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "column n") || !strings.Contains(err.Error(), "int") {
		t.Fatalf("an int (not int32) for an integer column: err %v, want one naming the column and the type", err)
	}
	// A value of the wrong binary width is refused by the server, not stored.
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE copy_bad (n int) ON COMMIT DROP`); err != nil {
			return err
		}
		_, err := postgres.CopyRows(ctx, tx, "copy_bad", []string{"n"}, 1, func(_ int, dst []any) []any { return append(dst, int64(7)) })
		return err
	})
	if err == nil {
		t.Fatal("a bigint for an integer column was accepted")
	}
}

func appendOrNil[T any](dst []any, v *T) []any {
	if v == nil {
		return append(dst, nil)
	}
	return append(dst, *v)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// typedRow is a row of copy_types; nil is NULL.
type typedRow struct {
	t    *string
	b    *bool
	i8   *int64
	i4   *int32
	d    *time.Time
	blob []byte
}

func (r typedRow) String() string {
	var b strings.Builder
	for _, v := range []any{r.t, r.b, r.i8, r.i4, r.d} {
		switch v := v.(type) {
		case *string:
			fmt.Fprintf(&b, "%q ", deref(v))
		case *bool:
			fmt.Fprintf(&b, "%v ", deref(v))
		case *int64:
			fmt.Fprintf(&b, "%v ", deref(v))
		case *int32:
			fmt.Fprintf(&b, "%v ", deref(v))
		case *time.Time:
			fmt.Fprintf(&b, "%v ", deref(v))
		}
	}
	fmt.Fprintf(&b, "%d bytes (nil %v)", len(r.blob), r.blob == nil)
	return b.String()
}

func deref[T any](v *T) any {
	if v == nil {
		return "NULL"
	}
	return *v
}
