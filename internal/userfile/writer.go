package userfile

import (
	"encoding/csv"
	"io"

	"github.com/userimport/userimport/internal/userrow"
)

// Writer writes user files in the format: exports and error reports. Every
// value a spreadsheet would run as a formula gets a leading apostrophe (CSV
// injection); reading the file back drops it, so files round-trip.
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter returns a Writer using delimiter (',' when 0).
func NewWriter(w io.Writer, delimiter byte) *Writer {
	cw := csv.NewWriter(w)
	if delimiter != 0 {
		cw.Comma = rune(delimiter)
	}
	return &Writer{w: cw}
}

// WriteHeader writes the 27 column titles and any extra ones (a report's
// Line and Errors).
func (w *Writer) WriteHeader(extra ...string) error {
	return w.w.Write(append(userrow.Names(), extra...))
}

// WriteUser writes a user in canonical form. The password hash is left out:
// an empty column means "unchanged" when the file is imported again.
func (w *Writer) WriteUser(u *userrow.User) error {
	v := u.Values()
	v[userrow.Password] = ""
	return w.WriteRecord(v[:])
}

// WriteRecord writes fields (and extra ones) with the formula guard.
func (w *Writer) WriteRecord(fields []string, extra ...string) error {
	w.buf = w.buf[:0]
	for _, f := range fields {
		w.buf = append(w.buf, Guard(f))
	}
	for _, f := range extra {
		w.buf = append(w.buf, Guard(f))
	}
	return w.w.Write(w.buf)
}

// Flush writes what is buffered and reports any error so far.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

// Guard puts an apostrophe before a value that starts like a formula (=, +,
// -, @, tab, carriage return).
func Guard(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
