// Package userfile reads a whole user file: the csvfile dialect, the header
// row, and every record validated by userrow, with the checks that span the
// file (duplicate Login IDs, conflicting extension settings).
//
// importctl validate, the synchronous import and the queue's planner all read
// files through it, so a file means the same thing on every path.
package userfile

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Options configure a Reader. The zero value detects the delimiter and the
// header and does not check role names.
type Options struct {
	Delimiter    byte // ',' or ';'; 0 detects it
	Header       userrow.HeaderMode
	Roles        []string // the tenant's role catalog; nil: not checked
	MaxFileBytes int64    // 0: csvfile.DefaultMaxFileBytes
}

// ParseDelimiter reads an option value: auto, comma or semicolon.
func ParseDelimiter(s string) (byte, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return 0, nil
	case "comma", ",":
		return ',', nil
	case "semicolon", ";":
		return ';', nil
	}
	return 0, fmt.Errorf("delimiter %q: use auto, comma or semicolon", s)
}

// DelimiterName names a delimiter as the options do.
func DelimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	}
	return ""
}

// ErrEmpty rejects a file with no data record.
var (
	ErrEmpty      = errors.New("the file is empty: it has no records")
	ErrHeaderOnly = errors.New("the file has a header row but no records")
)

// Record is one data record of the file.
type Record struct {
	Line     int   // physical line where it starts, 1-based (the header is line 1)
	Offset   int64 // byte range in the file
	End      int64
	Fields   []string     // as read (trimmed, unquoted); nil when unreadable. Valid until the next Read.
	User     userrow.User // meaningful when Errors is empty
	Errors   []userrow.Problem
	Warnings []userrow.Problem
}

// Valid reports whether the record can be imported.
func (r *Record) Valid() bool { return len(r.Errors) == 0 }

// Reader reads the data records of a user file.
type Reader struct {
	csv      *csvfile.Reader
	opts     Options
	validate *userrow.Validator
	check    *userrow.FileCheck
	layout   *userrow.Layout
	first    *csvfile.Record // the first record, when it turned out to be data
	records  int
	rec      Record
}

// NewReader returns a Reader of the file r.
func NewReader(r io.Reader, opts Options) *Reader {
	return &Reader{
		csv:      csvfile.NewReader(r, csvfile.Options{Delimiter: opts.Delimiter, MaxFileBytes: opts.MaxFileBytes}),
		opts:     opts,
		validate: userrow.NewValidator(userrow.Options{Roles: opts.Roles}),
		check:    userrow.NewFileCheck(),
	}
}

// Delimiter returns the delimiter in use (0 before the first Read).
func (r *Reader) Delimiter() byte { return r.csv.Delimiter() }

// Header reports whether the file has a header row (known after the first Read).
func (r *Reader) Header() bool { return r.layout != nil && r.layout.Header() }

// Layout returns how fields map to columns (nil before the first Read).
func (r *Reader) Layout() *userrow.Layout { return r.layout }

// Raw returns the last record's bytes as in the file; valid until the next Read.
func (r *Reader) Raw() []byte { return r.csv.Raw() }

// Read returns the next data record, or io.EOF after the last. Any other error
// rejects the file as a whole (a bad header, no records, no delimiter, too
// large) or is an I/O error.
func (r *Reader) Read() (*Record, error) {
	if r.layout == nil {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	var rec csvfile.Record
	if r.first != nil {
		rec, r.first = *r.first, nil
	} else {
		var err error
		if rec, err = r.csv.Read(); err != nil {
			if errors.Is(err, io.EOF) && r.records == 0 {
				if r.layout.Header() {
					return nil, ErrHeaderOnly
				}
				return nil, ErrEmpty
			}
			return nil, err
		}
	}
	r.records++
	if n := r.layout.Fields(); rec.Err == nil && len(rec.Fields) != n {
		// The reader checks this too, but only from the record after the
		// header; the one it read ahead while resynchronising is checked here.
		rec.Err = &csvfile.RecordError{Line: rec.Line, Field: -1, Err: &csvfile.FieldCountError{Got: len(rec.Fields), Want: n}}
	}
	r.rec = Record{Line: rec.Line, Offset: rec.Offset, End: rec.End, Fields: rec.Fields}
	if rec.Err != nil { // a bad record is data: it goes into the report
		r.rec.Errors = []userrow.Problem{r.recordProblem(rec.Err)}
		r.checkLogin(rec.Fields)
		return &r.rec, nil //nolint:nilerr // rec.Err is the record's problem, not a read error
	}
	r.rec.User, r.rec.Errors = r.validate.Validate(r.layout, rec.Fields)
	if !hasColumn(r.rec.Errors, userrow.LoginID) && r.rec.User.LoginID != "" {
		if p := r.check.Login(rec.Line, r.rec.User.LoginID); p != nil {
			r.rec.Errors = append(r.rec.Errors, *p)
		}
	}
	if len(r.rec.Errors) == 0 {
		r.rec.Warnings = r.check.Extensions(&r.rec.User)
	}
	return &r.rec, nil
}

// start reads the first record and decides the layout from it.
func (r *Reader) start() error {
	first, err := r.csv.Read()
	if errors.Is(err, io.EOF) {
		return ErrEmpty
	}
	if err != nil {
		return err
	}
	if first.Err != nil || first.Fields == nil {
		// Unreadable: it cannot be a header worth mapping; report it as data.
		r.layout = userrow.Positional()
		if r.opts.Header == userrow.HeaderSkip {
			r.layout, _ = userrow.DetectLayout(nil, userrow.HeaderSkip)
		} else {
			r.first = &first
		}
		r.csv.ExpectFields(r.layout.Fields())
		return nil
	}
	layout, err := userrow.DetectLayout(first.Fields, r.opts.Header)
	if err != nil {
		return err
	}
	r.layout = layout
	if !layout.Header() {
		first.Fields = append([]string(nil), first.Fields...)
		r.first = &first
	}
	r.csv.ExpectFields(layout.Fields())
	return nil
}

// recordProblem turns a reader's record error into a Problem: a field over the
// size limit names its column; anything else concerns the record as a whole.
func (r *Reader) recordProblem(e *csvfile.RecordError) userrow.Problem {
	if errors.Is(e.Err, csvfile.ErrFieldTooLong) {
		return userrow.Problem{Column: r.layout.Column(e.Field), Message: e.Error()}
	}
	return userrow.Problem{Column: userrow.NoColumn, Message: e.Error()}
}

// checkLogin registers the Login ID of a record rejected as a whole, when it
// can be read: a later record with the same ID is still a duplicate.
func (r *Reader) checkLogin(fields []string) {
	i := r.layout.FieldOf(userrow.LoginID)
	if i < 0 || i >= len(fields) {
		return
	}
	if userrow.ValidLoginID(fields[i]) {
		r.check.Login(r.rec.Line, fields[i])
	}
}

func hasColumn(probs []userrow.Problem, c userrow.Column) bool {
	for _, p := range probs {
		if p.Column == c {
			return true
		}
	}
	return false
}
