package userfile

import (
	"bytes"
	"regexp"
	"slices"
	"strings"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userrow"
)

// RecordColumns puts a record's fields, as read with layout, back in the 27
// columns of the format: what the error report and the results file write.
// A record that could not be split (fields nil: a bad quote) keeps its text,
// whole, in the first column, so that nothing the uploader sent is lost;
// whole says so.
func RecordColumns(fields []string, raw []byte, layout *userrow.Layout) (out []string, whole bool) {
	out = make([]string, userrow.NumColumns)
	if fields == nil {
		out[0] = strings.TrimRight(string(raw), "\r\n")
		return out, true
	}
	for i, f := range fields {
		if c := layout.Column(i); c != userrow.NoColumn {
			out[c] = f
		}
	}
	return out, false
}

// StoredRecordColumns reads a record stored as its raw bytes (a rejected
// record) and puts its fields in the 27 columns, as RecordColumns. Its line
// tells the reader that the file's start is behind it: a last record without
// LF but with a CR inside is not a file with CR line ends.
func StoredRecordColumns(raw []byte, line int, delim byte, layout *userrow.Layout) (fields []string, whole bool) {
	// A reader sized to the record: the default buffer is 64 KiB, and a
	// report re-reads thousands of records.
	rec, err := csvfile.NewReader(bytes.NewReader(raw), csvfile.Options{
		Delimiter: delim, MaxFileBytes: -1, MaxRecordBytes: len(raw) + 2, StartLine: line,
	}).Read()
	if err != nil {
		rec.Fields = nil
	}
	return RecordColumns(rec.Fields, raw, layout)
}

// md5Hex is what a password hash looks like in a record's text.
var md5Hex = regexp.MustCompile(`(?i)\b[0-9a-f]{32}\b`)

// WithoutHashes returns the 27 columns with the password emptied. A record
// kept whole (it could not be split into fields) loses whatever looks like a
// hash instead: where its password was cannot be told.
func WithoutHashes(columns []string, whole bool) []string {
	out := slices.Clone(columns)
	out[userrow.Password] = ""
	if whole {
		out[0] = md5Hex.ReplaceAllLiteralString(out[0], "")
	}
	return out
}
