package csvfile_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/csvfile"
)

// rec is a record as the tests compare it: where it starts, its fields, and
// the message of its error ("" for none).
type rec struct {
	Line   int      `json:"line"`
	Fields []string `json:"fields,omitempty"`
	Field  int      `json:"field,omitempty"` // 1-based index of the offending field, 0 for none
	Err    string   `json:"error,omitempty"`
}

// readAll reads every record of in, checking on the way the invariants every
// input must keep: lines and offsets increase, Raw is the record's bytes.
func readAll(t *testing.T, in string, opts csvfile.Options) ([]rec, error) {
	t.Helper()
	r := csvfile.NewReader(strings.NewReader(in), opts)
	var out []rec
	lastLine, lastEnd := 0, int64(0)
	for {
		got, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if got.Line <= lastLine {
			t.Fatalf("record at line %d follows line %d", got.Line, lastLine)
		}
		if got.Offset < lastEnd || got.End <= got.Offset || got.End > int64(len(in)) {
			t.Fatalf("line %d: offsets [%d,%d) after %d in a %d-byte input", got.Line, got.Offset, got.End, lastEnd, len(in))
		}
		if got.Err == nil && !bytes.Equal(r.Raw(), []byte(in[got.Offset:got.End])) {
			t.Fatalf("line %d: Raw %q, but the input holds %q there", got.Line, r.Raw(), in[got.Offset:got.End])
		}
		lastLine, lastEnd = got.Line, got.End
		x := rec{Line: got.Line, Fields: append([]string(nil), got.Fields...)}
		if got.Err != nil {
			x.Err = got.Err.Error()
			x.Field = got.Err.Field + 1
			if got.Err.Line != got.Line {
				t.Fatalf("error at line %d for a record at line %d", got.Err.Line, got.Line)
			}
		}
		out = append(out, x)
	}
}

var (
	unterminated = csvfile.ErrUnterminatedQuote.Error()
	bareQuote    = csvfile.ErrBareQuote.Error()
	afterQuote   = csvfile.ErrTextAfterQuote.Error()
	badUTF8      = csvfile.ErrInvalidUTF8.Error()
)

func TestReadDialect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		opts csvfile.Options
		want []rec
	}{
		{"comma", "a,b,c\n1,2,3\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b", "c"}}, {Line: 2, Fields: []string{"1", "2", "3"}}}},
		{"semicolon detected", "a;b;c\n1;2,5;3\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b", "c"}}, {Line: 2, Fields: []string{"1", "2,5", "3"}}}},
		{"delimiters inside quotes do not count", `"a;b;c",d` + "\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a;b;c", "d"}}}},
		{"given delimiter", "a,b;c\n", csvfile.Options{Delimiter: ';'}, []rec{
			{Line: 1, Fields: []string{"a,b", "c"}}}},
		{"no final line break", "a,b", csvfile.Options{}, []rec{{Line: 1, Fields: []string{"a", "b"}}}},
		{"CRLF", "a,b\r\nc,d\r\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b"}}, {Line: 2, Fields: []string{"c", "d"}}}},
		{"BOM dropped", "\xEF\xBB\xBFa,b\n", csvfile.Options{}, []rec{{Line: 1, Fields: []string{"a", "b"}}}},
		{"blank lines skipped but counted", "\n \t\r\na,b\n\n\nc,d\n\n", csvfile.Options{}, []rec{
			{Line: 3, Fields: []string{"a", "b"}}, {Line: 6, Fields: []string{"c", "d"}}}},
		{"values trimmed", " a ,\tb\t, c d \n", csvfile.Options{}, []rec{{Line: 1, Fields: []string{"a", "b", "c d"}}}},
		{"empty fields", ",,\n", csvfile.Options{}, []rec{{Line: 1, Fields: []string{"", "", ""}}}},
		{"quoted", `"a,b","say ""hi""",""` + "\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a,b", `say "hi"`, ""}}}},
		{"spaces around quotes dropped", `  "a" , "b"  ,c` + "\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b", "c"}}}},
		{"trimmed after unquoting", `" a ",b` + "\n", csvfile.Options{}, []rec{{Line: 1, Fields: []string{"a", "b"}}}},
		{"line breaks in quotes", "\"agent\nsupervisor\",x\n\"a\r\nb\",y\r\nz,w\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"agent\nsupervisor", "x"}},
			{Line: 3, Fields: []string{"a\nb", "y"}},
			{Line: 5, Fields: []string{"z", "w"}}}},
		{"bare quote", "a,b\"c,d\ne,f,g\n", csvfile.Options{}, []rec{
			{Line: 1, Field: 2, Err: bareQuote}, {Line: 2, Fields: []string{"e", "f", "g"}}}},
		{"text after closing quote", "\"a\"b,c\nd,e\n", csvfile.Options{}, []rec{
			{Line: 1, Field: 1, Err: afterQuote}, {Line: 2, Fields: []string{"d", "e"}}}},
		{"unterminated at the end", "a,b\n\"c,d\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b"}}, {Line: 2, Err: unterminated}}},
		{"unterminated quote resyncs at the next record", "a,b,c\n\"x,y,z\n1,2,3\n4,\"5\n6\",7\n8,9,0\n", csvfile.Options{Fields: 3}, []rec{
			{Line: 1, Fields: []string{"a", "b", "c"}},
			{Line: 2, Err: unterminated},
			{Line: 3, Fields: []string{"1", "2", "3"}},
			{Line: 4, Fields: []string{"4", "5\n6", "7"}},
			{Line: 6, Fields: []string{"8", "9", "0"}}}},
		{"lines that do not parse belong to the bad record", "a,\"b\nc,d\"e,f\nsupervisor\",x,y\ng,h,i\n", csvfile.Options{Fields: 3}, []rec{
			{Line: 1, Err: unterminated},
			{Line: 4, Fields: []string{"g", "h", "i"}}}},
		{"a multi-line record with the wrong field count is just that", "\"a\nb\",c\nd,e,f\n", csvfile.Options{Fields: 3}, []rec{
			{Line: 1, Fields: []string{"a\nb", "c"}, Err: "the record has 2 fields, want 3 (leave a field empty rather than leaving it out)"},
			{Line: 3, Fields: []string{"d", "e", "f"}}}},
		{"the raw text of a bad record is capped", "\"a,b\n" + strings.Repeat("x\"y\n", 400) + "c,d\n", csvfile.Options{MaxRecordBytes: 64, Delimiter: ','}, []rec{
			{Line: 1, Err: unterminated}, {Line: 402, Fields: []string{"c", "d"}}}},
		{"wrong field count on one line", "a,b,c\nd,e\n", csvfile.Options{Fields: 3}, []rec{
			{Line: 1, Fields: []string{"a", "b", "c"}},
			{Line: 2, Fields: []string{"d", "e"}, Err: "the record has 2 fields, want 3 (leave a field empty rather than leaving it out)"}}},
		{"invalid UTF-8 rejects the record only", "a,b\nc,\xff\ne,f\n", csvfile.Options{}, []rec{
			{Line: 1, Fields: []string{"a", "b"}},
			{Line: 2, Fields: []string{"c", "\xff"}, Err: badUTF8},
			{Line: 3, Fields: []string{"e", "f"}}}},
		{"field too long counts characters", "ééé,b\néééé,b\n", csvfile.Options{MaxFieldChars: 3}, []rec{
			{Line: 1, Fields: []string{"ééé", "b"}},
			{Line: 2, Fields: []string{"éééé", "b"}, Field: 1, Err: "longer than 3 characters"}}},
		{"record too long", "a,b\n" + strings.Repeat("x", 5000) + "\nc,d\n", csvfile.Options{MaxRecordBytes: 1024}, []rec{
			{Line: 1, Fields: []string{"a", "b"}},
			{Line: 2, Err: "the record is longer than 1 KiB"},
			{Line: 3, Fields: []string{"c", "d"}}}},
		{"quote open past the record limit", "\"a,b\n" + strings.Repeat("x,y\n", 400) + "c,d\n", csvfile.Options{MaxRecordBytes: 1024}, append(
			[]rec{{Line: 1, Err: unterminated}}, func() []rec {
				var out []rec
				for i := range 400 {
					out = append(out, rec{Line: i + 2, Fields: []string{"x", "y"}})
				}
				return append(out, rec{Line: 402, Fields: []string{"c", "d"}})
			}()...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

// A CR is a line break only with the LF after it, or at the very end of the
// input (a CRLF cut short). Anywhere else it is data and is kept, whether the
// record has a quote (parse) or not (parseUnquoted): both must read the same.
func TestReadCR(t *testing.T) {
	t.Parallel()
	ab := []rec{{Line: 1, Fields: []string{"a", "b"}}}
	tests := []struct {
		name string
		in   string
		want []rec
	}{
		{"CR ending the input", "a,b\r", ab},
		{"CR ending the input, first field quoted", "\"a\",b\r", ab},
		{"CR ending the input, last field quoted", "a,\"b\"\r", ab},
		{"CR ending the input, all quoted", "\"a\",\"b\"\r", ab},
		{"CR ending the input, one field", "a\r", []rec{{Line: 1, Fields: []string{"a"}}}},
		{"CR ending the input, one quoted field", "\"a\"\r", []rec{{Line: 1, Fields: []string{"a"}}}},
		{"CR ending the input, last field empty", "a,b,\r", []rec{{Line: 1, Fields: []string{"a", "b", ""}}}},
		{"CR ending the input, last field empty, quoted", "\"a\",b,\r", []rec{{Line: 1, Fields: []string{"a", "b", ""}}}},
		{"CR ending the input after spaces", "a,b \t\r", ab},
		{"CR ending the input after spaces, quoted", "a,\"b\"  \r", ab},
		{"CR ending the input after LF lines", "x,y\na,b\r", []rec{
			{Line: 1, Fields: []string{"x", "y"}}, {Line: 2, Fields: []string{"a", "b"}}}},
		{"CR ending the input after CRLF lines", "x,y\r\n\"a\",b\r", []rec{
			{Line: 1, Fields: []string{"x", "y"}}, {Line: 2, Fields: []string{"a", "b"}}}},
		{"CR ending a multi-line record", "\"a\nb\",c\r", []rec{{Line: 1, Fields: []string{"a\nb", "c"}}}},
		{"CR ending a multi-line record on its quote", "c,\"a\r\nb\"\r", []rec{{Line: 1, Fields: []string{"c", "a\nb"}}}},
		{"a CR alone after the last LF", "a,b\n\r", ab},
		{"CRs alone after the last CRLF", "a,b\r\n\r\r", ab},
		{"two CRs ending the input: one is data", "x,y\na,b\r\r", []rec{
			{Line: 1, Fields: []string{"x", "y"}}, {Line: 2, Fields: []string{"a", "b\r"}}}},
		{"two CRs ending the input, quoted: one is data", "x,y\n\"a\",b\r\r", []rec{
			{Line: 1, Fields: []string{"x", "y"}}, {Line: 2, Fields: []string{"a", "b\r"}}}},
		{"CR before CRLF is data", "a,b\r\r\nc,d\n", []rec{
			{Line: 1, Fields: []string{"a", "b\r"}}, {Line: 2, Fields: []string{"c", "d"}}}},
		{"CR before CRLF is data, quoted", "\"a\",b\r\r\nc,d\n", []rec{
			{Line: 1, Fields: []string{"a", "b\r"}}, {Line: 2, Fields: []string{"c", "d"}}}},
		{"CR before CRLF after a closing quote is text after it", "a,\"b\"\r\r\nc,d\n", []rec{
			{Line: 1, Field: 2, Err: afterQuote}, {Line: 2, Fields: []string{"c", "d"}}}},
		{"CR inside a value", "a\rb,c\n", []rec{{Line: 1, Fields: []string{"a\rb", "c"}}}},
		{"CR inside a value, quoted elsewhere", "a\rb,\"c\"\n", []rec{{Line: 1, Fields: []string{"a\rb", "c"}}}},
		{"CR before the delimiter", "a\r,b\n", []rec{{Line: 1, Fields: []string{"a\r", "b"}}}},
		{"CR before the delimiter, quoted elsewhere", "a\r,\"b\"\n", []rec{{Line: 1, Fields: []string{"a\r", "b"}}}},
		{"CR starting a value", "a,\rb\n", []rec{{Line: 1, Fields: []string{"a", "\rb"}}}},
		{"CR inside quotes", "\"a\rb\",c\n", []rec{{Line: 1, Fields: []string{"a\rb", "c"}}}},
		{"CR ending a quoted value", "\"a\r\",c\r\n", []rec{{Line: 1, Fields: []string{"a\r", "c"}}}},
		{"CR ending a quoted value at the end", "c,\"a\r\"", []rec{{Line: 1, Fields: []string{"c", "a\r"}}}},
		{"CR inside quotes in a file without LF", "c,\"a\rb\"\r", []rec{{Line: 1, Fields: []string{"c", "a\rb"}}}},
		{"CR before a quoted line break", "\"a\r\r\nb\",c\n", []rec{{Line: 1, Fields: []string{"a\r\nb", "c"}}}},
		{"CR after a closing quote is text after it", "\"a\"\rb,c\nd,e\n", []rec{
			{Line: 1, Field: 1, Err: afterQuote}, {Line: 2, Fields: []string{"d", "e"}}}},
		{"lone CRs in a file with LF line ends are data", "a,b\rc,d\ne,f\n", []rec{
			{Line: 1, Fields: []string{"a", "b\rc", "d"}}, {Line: 2, Fields: []string{"e", "f"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, tt.in, csvfile.Options{Delimiter: ','})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRawOfBadRecordIsCapped(t *testing.T) {
	t.Parallel()
	in := "\"a,b\n" + strings.Repeat("x\"y\n", 400) + "c,d\n"
	r := csvfile.NewReader(strings.NewReader(in), csvfile.Options{MaxRecordBytes: 64, Delimiter: ','})
	rec, err := r.Read()
	if err != nil || rec.Err == nil {
		t.Fatalf("Read: %v, %v; want a record error", rec.Err, err)
	}
	if n := len(r.Raw()); n > 64 {
		t.Errorf("Raw holds %d bytes, over the 64-byte record limit", n)
	}
	if rec.End != int64(len(in)-len("c,d\n")) {
		t.Errorf("End = %d: the bad record covers every line up to the next record", rec.End)
	}
}

func TestReadFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		opts csvfile.Options
		want error
	}{
		{"tie", "a,b;c\n", csvfile.Options{}, csvfile.ErrNoDelimiter},
		{"no delimiter", "abc\n", csvfile.Options{}, csvfile.ErrNoDelimiter},
		{"too large", strings.Repeat("a,b\n", 1000), csvfile.Options{MaxFileBytes: 100}, csvfile.ErrFileTooLarge},
		{"UTF-16 with a mark", "\xFF\xFEU\x00,\x00L\x00\n\x00", csvfile.Options{}, csvfile.ErrNotText},
		{"UTF-16 without a mark", "U\x00,\x00L\x00\n\x00", csvfile.Options{}, csvfile.ErrNotText},
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", csvfile.Options{}, csvfile.ErrNotText},
		{"CR line ends", "User name,Login ID\rAnna,anna\rBob,bob\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, delimiter given", "User name;Login ID\rAnna;anna\r", csvfile.Options{Delimiter: ';'}, csvfile.ErrCRLineEnds},
		{"CR line ends, no CR at the end", "a,b\rc,d", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, as many commas as semicolons", "a;b\rc,d\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, quoted", "\"a\",\"b\"\r\"c\",\"d\"\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, blank lines first", "\r\r\ra,b\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends after a BOM", "\xEF\xBB\xBFa,b\rc,d\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, LF in a quoted cell", "User name,Role API Names\rAnna,\"agent\nadmin\"\rBob,agent\r", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends, a CRLF inside quotes", "a,\"b\r\nc\"\rd,e", csvfile.Options{}, csvfile.ErrCRLineEnds},
		{"CR line ends past the record limit", strings.Repeat("Anna,anna\r", 10000), csvfile.Options{}, csvfile.ErrCRLineEnds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readAll(t, tt.in, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n\n", "\xEF\xBB\xBF", "  \r\n", "\r", "\r\r", " \r\t\r "} {
		got, err := readAll(t, in, csvfile.Options{})
		if err != nil || len(got) != 0 {
			t.Errorf("%q: got %v, %v; want no records and no error", in, got, err)
		}
	}
}

// A reader started at a record boundary inside a file reads the same records,
// with the same lines and offsets, as one reading the whole file: the queue
// pipeline cuts files into byte ranges this way.
func TestReadByteRange(t *testing.T) {
	t.Parallel()
	in := "\xEF\xBB\xBFh1,h2\n\"a\nb\",c\n\nd,e\nf,g\n"
	whole := csvfile.NewReader(strings.NewReader(in), csvfile.Options{})
	var recs []csvfile.Record
	for {
		r, err := whole.Read()
		if err != nil {
			break
		}
		r.Fields = append([]string(nil), r.Fields...)
		recs = append(recs, r)
	}
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	from := recs[2]
	part := csvfile.NewReader(strings.NewReader(in[from.Offset:]), csvfile.Options{
		Delimiter: ',', StartLine: from.Line, StartOffset: from.Offset,
	})
	for _, want := range recs[2:] {
		got, err := part.Read()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got.Fields = append([]string(nil), got.Fields...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("record (-whole +range):\n%s", diff)
		}
	}
}

// On every input that encoding/csv accepts, the reader agrees with it, record
// by record, lone CRs included, except where the format differs by design
// (checkAgainstEncodingCSV lists the differences).
func TestAgreesWithEncodingCSV(t *testing.T) {
	t.Parallel()
	for _, in := range agreementInputs {
		checkAgainstEncodingCSV(t, in)
	}
}

var agreementInputs = []string{
	"a,b,c\n1,2,3\n",
	"\"a\"\"b\",c\n",
	"\"multi\nline\",x\r\n\"crlf\r\ninside\",y\r\n",
	"a,,\n,,\n",
	"x, y ,z \n",
	"\"\",\"\"\"\"\n",
	"a,b\n\nc,d\n",
	"Kovács Péter,kp@example.com,\"agent\nsupervisor\",+36 1 234 5678\n",
	// Lone CRs: data, except at the very end of the input.
	"a,b\r",
	"\"a\",b\r",
	"a,\"b\"\r",
	"x,y\na,b\r\r",
	"a,b\r\r\nc,d\r\n",
	"\"a\",b\r\r\n",
	"a\rb,c\n\"d\re\",f\r\n",
	"a\r,\"b\"\n\"c\r\",d\n",
	"\"a\r\r\nb\",c\n",
	"a,b\n\r\n \r\n\r\r\nc,d\n\r",
	"a,b\rc,d\n",
	// What the format defines differently, compared where it matters.
	"\xEF\xBB\xBFa,b\n",
	"a,b\r\n  \t\nc,d\n",
	"a,b\nc,\xff\ne,f\n",
	"a,b\nc\x00,d\ne,f\n",
	"a,b\nc," + strings.Repeat("é", 1025) + "\ne,f\n",
	"User name,Login ID\rAnna,anna\rBob,bob\r",
	"User name,Role API Names\rAnna,\"agent\nadmin\"\rBob,agent\r",
	"c,\"a\rb\"",
	"\"a\r\",\"b\rc\"\"\rd\"\n",
}

// checkAgainstEncodingCSV reads in with the reader (delimiter ',') and, when
// encoding/csv accepts all of it, compares their records one by one. The
// format differs from encoding/csv by design exactly here, and nowhere else:
//   - a leading UTF-8 BOM is dropped: encoding/csv is given the input without it;
//   - a line of spaces, tabs and CRs only is blank and skipped, where
//     encoding/csv has a record of one field (an empty line, both skip);
//   - values are trimmed of spaces and tabs: encoding/csv's are trimmed here;
//   - a record with invalid UTF-8 or a NUL byte, or with a value over 1,024
//     characters, is a record error: the reader must say so for that record,
//     and only then;
//   - a file whose start (here: all of it) holds, outside quotes, no LF but a
//     CR before its last byte, and is not blank, has classic Mac line ends:
//     rejected as a whole with ErrCRLineEnds, where encoding/csv reads one
//     record with CRs inside;
//   - inputs over the record size limit (64 KiB) are left out: a line that long
//     is an error of its own.
//
// Lone CRs elsewhere agree: data in a value, quoted or not, and a CR ending
// the input drops (encoding/csv drops it too).
func checkAgainstEncodingCSV(t *testing.T, in string) {
	t.Helper()
	if len(in) > csvfile.DefaultMaxRecordBytes {
		return
	}
	body := strings.TrimPrefix(in, "\xEF\xBB\xBF")
	std := csv.NewReader(strings.NewReader(body))
	std.FieldsPerRecord = -1
	type stdRec struct {
		fields []string
		raw    string // its bytes, empty lines before it included
	}
	var want []stdRec
	for start := int64(0); ; {
		fields, err := std.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return // an input encoding/csv refuses: nothing to compare
		}
		end := std.InputOffset()
		raw := body[start:end]
		start = end
		if strings.Trim(raw, " \t\r\n") == "" {
			continue // a blank line
		}
		for j := range fields {
			fields[j] = strings.Trim(fields[j], " \t")
		}
		want = append(want, stdRec{fields, raw})
	}
	got, err := readAll(t, in, csvfile.Options{Delimiter: ','})
	if crOnly(body) {
		if !errors.Is(err, csvfile.ErrCRLineEnds) {
			t.Fatalf("%q: CR line ends, but Read says %v (%d records)", in, err, len(got))
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: encoding/csv accepts it, Read says %v", in, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d records, encoding/csv has %d", in, len(got), len(want))
	}
	for i, w := range want {
		if reason := recordError(w.raw, w.fields); got[i].Err != reason {
			t.Fatalf("%q: record %d: error %q, want %q; encoding/csv reads %q", in, i, got[i].Err, reason, w.fields)
		}
		if got[i].Err != "" {
			continue
		}
		if diff := cmp.Diff(w.fields, got[i].Fields); diff != "" {
			t.Errorf("%q: record %d (-encoding/csv +Read):\n%s", in, i, diff)
		}
	}
}

// crOnly is the format's rule for classic Mac line ends, on an input shorter
// than the read buffer: outside quotes (the even parts between quotes), no LF
// but a CR before the input's last byte, and not blank.
func crOnly(body string) bool {
	if strings.Trim(body, " \t\r\n") == "" || strings.Contains(body, "\x00") {
		return false
	}
	lone, off := false, 0
	for i, part := range strings.Split(body, `"`) {
		if i%2 == 0 {
			if strings.Contains(part, "\n") {
				return false
			}
			if k := strings.IndexByte(part, '\r'); k >= 0 && off+k < len(body)-1 {
				lone = true
			}
		}
		off += len(part) + 1
	}
	return lone
}

// recordError is the error the format gives a record that encoding/csv reads
// as fields from raw, or "".
func recordError(raw string, fields []string) string {
	switch {
	case !utf8.ValidString(raw):
		return badUTF8
	case strings.Contains(raw, "\x00"):
		return csvfile.ErrNULByte.Error()
	}
	for _, f := range fields {
		if utf8.RuneCountInString(f) > csvfile.DefaultMaxFieldChars {
			return fmt.Sprintf("longer than %d characters", csvfile.DefaultMaxFieldChars)
		}
	}
	return ""
}
