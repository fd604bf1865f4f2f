package userfile

import "github.com/userimport/userimport/internal/userrow"

// Problem is an error or a warning about one record, as reports show it.
type Problem struct {
	Line    int    `json:"line"`
	Column  string `json:"column"` // the column's title; "" for the record as a whole
	Message string `json:"message"`
}

// Report sums up a file as read: what importctl validate prints, and the
// first part of an import's result. Its JSON form is a contract other tools
// consume.
type Report struct {
	Records   int       `json:"records"`
	Valid     int       `json:"valid"`
	Invalid   int       `json:"invalid"`
	Delimiter string    `json:"delimiter"`
	Header    bool      `json:"header"`
	Errors    []Problem `json:"errors"`
	Warnings  []Problem `json:"warnings"`
	FileError *string   `json:"file_error"`
}

// NewReport returns an empty report (empty lists, not null, in JSON).
func NewReport() Report {
	return Report{Errors: []Problem{}, Warnings: []Problem{}}
}

// Count adds a record read: its validity, its warnings and, with errors, its
// errors (an import takes them from the store instead, which also knows the
// records the database refused).
func (r *Report) Count(rec *Record, errors bool) {
	r.Records++
	if rec.Valid() {
		r.Valid++
	} else {
		r.Invalid++
	}
	if errors {
		r.Errors = appendProblems(r.Errors, rec.Line, rec.Errors)
	}
	r.Warnings = appendProblems(r.Warnings, rec.Line, rec.Warnings)
}

// End records how the file was read, and the error that rejected it as a
// whole, if any.
func (r *Report) End(rd *Reader, rejection error) {
	r.Delimiter, r.Header = DelimiterName(rd.Delimiter()), rd.Header()
	if rejection != nil {
		msg := rejection.Error()
		r.FileError = &msg
	}
}

func appendProblems(dst []Problem, line int, probs []userrow.Problem) []Problem {
	for _, p := range probs {
		dst = append(dst, Problem{Line: line, Column: p.Column.String(), Message: p.Message})
	}
	return dst
}
