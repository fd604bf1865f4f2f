package userrow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// HeaderMode says whether a file's first record is a header row.
type HeaderMode int

// The header modes of the format's `header` option.
const (
	HeaderAuto HeaderMode = iota // a header when at least half its fields name columns
	HeaderSkip                   // always a header
	HeaderNone                   // never a header: every record is data
)

// ParseHeaderMode reads an option value: auto, skip or none.
func ParseHeaderMode(s string) (HeaderMode, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return HeaderAuto, nil
	case "skip":
		return HeaderSkip, nil
	case "none":
		return HeaderNone, nil
	}
	return 0, fmt.Errorf("header %q: use auto, skip or none", s)
}

func (m HeaderMode) String() string {
	switch m {
	case HeaderSkip:
		return "skip"
	case HeaderNone:
		return "none"
	default:
		return "auto"
	}
}

// ErrHeader is wrapped by every HeaderError.
var ErrHeader = errors.New("header row")

// HeaderError rejects a file whose header row cannot be mapped to columns: a
// typo in a column name must not silently drop a column's values.
type HeaderError struct {
	Unknown   []string // titles that name no column
	Duplicate []string // columns named twice
}

func (e *HeaderError) Error() string {
	var parts []string
	if len(e.Unknown) > 0 {
		parts = append(parts, fmt.Sprintf("unknown column %s (check the spelling against the format's column names)", quoteList(e.Unknown)))
	}
	if len(e.Duplicate) > 0 {
		parts = append(parts, fmt.Sprintf("column %s appears more than once", quoteList(e.Duplicate)))
	}
	return "header row: " + strings.Join(parts, "; ")
}

func (e *HeaderError) Unwrap() error { return ErrHeader }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// Layout maps a file's fields to columns: by position, or by a header row's
// titles in any order.
type Layout struct {
	columns []Column // nil: positional
	header  bool
}

// Positional is the layout of a file without a header: the 27 columns in order.
func Positional() *Layout { return &Layout{} }

// Columns returns the column of each field (NoColumn for ignored ones), or nil
// for a positional layout: with LayoutOf, how a planned layout is kept.
func (l *Layout) Columns() []Column { return slices.Clone(l.columns) }

// LayoutOf rebuilds a layout from Columns, for reading a range of a file whose
// header was read before. The range itself has no header row.
func LayoutOf(columns []Column) *Layout {
	return &Layout{columns: slices.Clone(columns)}
}

// Header reports whether the file's first record is a header row (and so is
// not data).
func (l *Layout) Header() bool { return l.header }

// Fields is the number of fields every record must have.
func (l *Layout) Fields() int {
	if l.columns == nil {
		return NumColumns
	}
	return len(l.columns)
}

// Column returns the column of field i, or NoColumn for a field that is
// ignored (a report's Line and Errors, an untitled column).
func (l *Layout) Column(i int) Column {
	if l.columns == nil {
		if i < NumColumns {
			return Column(i)
		}
		return NoColumn
	}
	if i < len(l.columns) {
		return l.columns[i]
	}
	return NoColumn
}

// FieldOf returns the index of the field that holds column c, or -1.
func (l *Layout) FieldOf(c Column) int {
	if l.columns == nil {
		return int(c)
	}
	for i, x := range l.columns {
		if x == c {
			return i
		}
	}
	return -1
}

// DetectLayout decides from the file's first record whether it is a header
// and how fields map to columns. With HeaderAuto the first record is a header
// when at least half of its fields are known titles; with HeaderSkip it is
// always dropped, and used for mapping when it is recognisable.
func DetectLayout(first []string, mode HeaderMode) (*Layout, error) {
	if mode == HeaderNone {
		return Positional(), nil
	}
	known := 0
	for _, title := range first {
		if _, ok := lookupTitle(title); ok {
			known++
		}
	}
	if 2*known < len(first) {
		if mode == HeaderSkip {
			return &Layout{header: true}, nil
		}
		return Positional(), nil
	}
	l := &Layout{columns: make([]Column, len(first)), header: true}
	var herr HeaderError
	seen := make(map[Column]bool, len(first))
	for i, title := range first {
		c, ok := lookupTitle(title)
		switch {
		case trimBlank(title) == "":
			c = NoColumn // an untitled column, as spreadsheets leave at the end
		case !ok:
			herr.Unknown = append(herr.Unknown, title)
			continue
		case c != NoColumn && seen[c]:
			herr.Duplicate = append(herr.Duplicate, title)
		}
		seen[c] = true
		l.columns[i] = c
	}
	if herr.Unknown != nil || herr.Duplicate != nil {
		return nil, &herr
	}
	return l, nil
}

// lookupTitle is LookupColumn that also knows the report's trailing columns,
// which an import ignores.
func lookupTitle(title string) (Column, bool) {
	switch headerKey(title) {
	case headerKey(ReportLine), headerKey(ReportErrors):
		return NoColumn, true
	}
	return LookupColumn(title)
}
