package csvfile_test

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/csvfile"
)

// The reader on hostile input: every case ends in a record error or a
// file-level error the package names, reading goes on after a bad record,
// and memory stays bounded by the record limit whatever the input's size.
// The large inputs are generated as they are read, never held in memory.

// repeatReader yields n bytes of pattern, repeated; pattern is a whole
// number of repetitions long enough to copy in large pieces.
type repeatReader struct {
	pattern string
	left    int64
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pattern)
	}
	r.left -= int64(n)
	return n, nil
}

// stream is head, then n bytes of pattern, then tail.
func stream(head, pattern string, n int64, tail string) io.Reader {
	block := strings.Repeat(pattern, max(1, (32<<10)/len(pattern)))
	return io.MultiReader(strings.NewReader(head), &repeatReader{pattern: block, left: n}, strings.NewReader(tail))
}

// hostileRec is a record as these tests look at it.
type hostileRec struct {
	Line        int
	Offset, End int64
	NumFields   int
	First       string   // the first field
	Fields      []string // copied when there are few and short ones
	Err         *csvfile.RecordError
	RawLen      int
}

// drain reads every record of in, checking the invariants any input keeps
// (lines and offsets increase, the raw text of a record stays within the
// limits), and returns the records and the error that ended the input
// (nil for io.EOF).
func drain(t *testing.T, in io.Reader, opts csvfile.Options) ([]hostileRec, error) {
	t.Helper()
	limit := opts.MaxRecordBytes
	if limit == 0 {
		limit = csvfile.DefaultMaxRecordBytes
	}
	r := csvfile.NewReader(in, opts)
	var out []hostileRec
	lastLine, lastEnd := 0, int64(-1)
	for {
		got, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if got.Line <= lastLine || got.Offset < lastEnd || got.End <= got.Offset {
			t.Fatalf("record at line %d [%d,%d) after line %d ending at %d", got.Line, got.Offset, got.End, lastLine, lastEnd)
		}
		if n := len(r.Raw()); n > 2*limit+2 {
			t.Fatalf("line %d: raw record of %d bytes over a limit of %d", got.Line, n, limit)
		}
		if got.Err != nil && got.Err.Line != got.Line {
			t.Fatalf("error at line %d for a record at line %d", got.Err.Line, got.Line)
		}
		lastLine, lastEnd = got.Line, got.End
		h := hostileRec{Line: got.Line, Offset: got.Offset, End: got.End, NumFields: len(got.Fields), Err: got.Err, RawLen: len(r.Raw())}
		if len(got.Fields) > 0 {
			h.First = strings.Clone(got.Fields[0])
		}
		if len(got.Fields) <= 32 {
			for _, f := range got.Fields {
				if len(f) > 64 {
					f = f[:64] + "…"
				}
				h.Fields = append(h.Fields, f)
			}
		}
		out = append(out, h)
	}
}

// allocated returns the bytes allocated while f runs. The tests that call it
// are not parallel, so nothing else allocates meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// modest is the memory a reader may allocate for any input: a small multiple
// of the record limit (its read buffer, the start of an overlong line),
// nothing that grows with the input.
const modest = 1 << 20

func wantRecordErr(t *testing.T, got hostileRec, line, field int, want error) {
	t.Helper()
	if got.Line != line || got.Err == nil || !errors.Is(got.Err, want) || got.Err.Field != field {
		t.Errorf("record %+v (error %v); want line %d, field %d: %v", got, got.Err, line, field, want)
	}
}

func wantFields(t *testing.T, got hostileRec, line int, fields ...string) {
	t.Helper()
	if got.Err != nil || got.Line != line || !cmp.Equal(got.Fields, fields) {
		t.Errorf("record %+v (error %v); want line %d with %q", got, got.Err, line, fields)
	}
}

const hundredMiB = 100 << 20

// A 100 MiB line is one record over the limit: it is reported at its line
// with the limit, the reader skips to the next line in constant memory, and
// the records around it are read as usual.
func TestHostileHundredMiBLine(t *testing.T) {
	t.Run("alone", func(t *testing.T) {
		var recs []hostileRec
		var err error
		n := allocated(func() { recs, err = drain(t, stream("Anna,anna,", "x", hundredMiB, ""), csvfile.Options{}) })
		if err != nil || len(recs) != 1 {
			t.Fatalf("got %+v, %v; want one record", recs, err)
		}
		wantRecordErr(t, recs[0], 1, -1, csvfile.ErrRecordTooLong)
		if recs[0].Err.Limit != csvfile.DefaultMaxRecordBytes || recs[0].Err.Error() != "the record is longer than 64 KiB" {
			t.Errorf("error %q with limit %d", recs[0].Err, recs[0].Err.Limit)
		}
		if recs[0].End != hundredMiB+int64(len("Anna,anna,")) || recs[0].Fields != nil || recs[0].RawLen != csvfile.DefaultMaxRecordBytes {
			t.Errorf("record %+v: want it to span the whole input, no fields, the first 64 KiB as its raw text", recs[0])
		}
		t.Logf("allocated %d KiB", n>>10)
		if n > modest {
			t.Errorf("reading a 100 MiB line allocated %d bytes", n)
		}
	})
	t.Run("between records", func(t *testing.T) {
		var recs []hostileRec
		var err error
		n := allocated(func() {
			recs, err = drain(t, stream("a,b\n", "Kovács Péter,", hundredMiB, "\nc,d\n"), csvfile.Options{Fields: 2})
		})
		if err != nil || len(recs) != 3 {
			t.Fatalf("got %+v, %v; want three records", recs, err)
		}
		wantFields(t, recs[0], 1, "a", "b")
		wantRecordErr(t, recs[1], 2, -1, csvfile.ErrRecordTooLong)
		wantFields(t, recs[2], 3, "c", "d")
		if recs[2].Offset != 4+hundredMiB+1 {
			t.Errorf("the record after the long line starts at %d, want %d", recs[2].Offset, 4+hundredMiB+1)
		}
		t.Logf("allocated %d KiB", n>>10)
		if n > modest {
			t.Errorf("reading a 100 MiB line allocated %d bytes", n)
		}
	})
	t.Run("inside an open quote", func(t *testing.T) {
		// The quote opened on line 1 takes the long line in: the record is
		// the unterminated quote, and reading resumes after the long line.
		var recs []hostileRec
		var err error
		n := allocated(func() {
			recs, err = drain(t, stream("\"a,b\n", "x,y;", hundredMiB, "\nc,d\n"), csvfile.Options{Fields: 2})
		})
		if err != nil || len(recs) != 2 {
			t.Fatalf("got %+v, %v; want two records", recs, err)
		}
		wantRecordErr(t, recs[0], 1, -1, csvfile.ErrUnterminatedQuote)
		wantFields(t, recs[1], 3, "c", "d")
		if recs[0].End != recs[1].Offset || recs[0].RawLen > csvfile.DefaultMaxRecordBytes {
			t.Errorf("bad record %+v: want it to end where c,d starts (%d), its raw text capped", recs[0], recs[1].Offset)
		}
		t.Logf("allocated %d KiB", n>>10)
		if n > modest {
			t.Errorf("reading a 100 MiB line allocated %d bytes", n)
		}
	})
	t.Run("no delimiter", func(t *testing.T) {
		// Nothing to detect the delimiter from: the file is rejected.
		var err error
		n := allocated(func() { _, err = drain(t, stream("", "x", hundredMiB, ""), csvfile.Options{}) })
		if !errors.Is(err, csvfile.ErrNoDelimiter) {
			t.Errorf("got %v, want %v", err, csvfile.ErrNoDelimiter)
		}
		t.Logf("allocated %d KiB", n>>10)
		if n > modest {
			t.Errorf("reading a 100 MiB line allocated %d bytes", n)
		}
	})
}

// A stream over the file limit is rejected as a whole once the line that
// crosses the limit is read, without that line being held in memory.
func TestHostileFileOverTheLimit(t *testing.T) {
	var recs []hostileRec
	var err error
	n := allocated(func() {
		recs, err = drain(t, stream("a,b\n", "x", csvfile.DefaultMaxFileBytes, "\n"), csvfile.Options{})
	})
	if !errors.Is(err, csvfile.ErrFileTooLarge) || err.Error() != "file is larger than the limit of 512 MiB" {
		t.Errorf("got %v, want %v of 512 MiB", err, csvfile.ErrFileTooLarge)
	}
	if len(recs) != 1 {
		t.Errorf("records before the limit: %+v, want a,b", recs)
	}
	t.Logf("allocated %d KiB", n>>10)
	if n > modest {
		t.Errorf("reading 512 MiB allocated %d bytes", n)
	}
}

func TestHostileDelimiters(t *testing.T) {
	t.Parallel()
	const million = 1_000_000
	commas := strings.Repeat(",", million)
	t.Run("a million on a line", func(t *testing.T) {
		t.Parallel()
		recs, err := drain(t, strings.NewReader("a,b\n"+commas+"\nc,d\n"), csvfile.Options{Fields: 2})
		if err != nil || len(recs) != 3 {
			t.Fatalf("got %+v, %v; want three records", recs, err)
		}
		wantFields(t, recs[0], 1, "a", "b")
		wantRecordErr(t, recs[1], 2, -1, csvfile.ErrRecordTooLong)
		wantFields(t, recs[2], 3, "c", "d")
	})
	t.Run("a million within a larger record limit", func(t *testing.T) {
		t.Parallel()
		// The line is split into its million and one fields, and the count is
		// what is wrong with it.
		recs, err := drain(t, strings.NewReader(commas+"\nc,d\n"), csvfile.Options{Fields: 2, MaxRecordBytes: 2 << 20})
		if err != nil || len(recs) != 2 {
			t.Fatalf("got %+v, %v; want two records", recs, err)
		}
		var fc *csvfile.FieldCountError
		if recs[0].Err == nil || !errors.As(recs[0].Err, &fc) || fc.Got != million+1 || fc.Want != 2 {
			t.Errorf("record %+v: want a field count error of %d fields", recs[0], million+1)
		}
		wantFields(t, recs[1], 2, "c", "d")
	})
	t.Run("a million of the other delimiter", func(t *testing.T) {
		t.Parallel()
		recs, err := drain(t, strings.NewReader(strings.Repeat(";", million)+",x\n"), csvfile.Options{Delimiter: ',', MaxRecordBytes: 2 << 20})
		if err != nil || len(recs) != 1 {
			t.Fatalf("got %+v, %v; want one record", recs, err)
		}
		wantRecordErr(t, recs[0], 1, 0, csvfile.ErrFieldTooLong)
	})
	t.Run("only delimiters", func(t *testing.T) {
		t.Parallel()
		// Records of empty fields are records: what they lack is for the
		// columns' rules to say.
		recs, err := drain(t, strings.NewReader(strings.Repeat(";;;\n", 10000)), csvfile.Options{Fields: 4})
		if err != nil || len(recs) != 10000 {
			t.Fatalf("got %d records, %v; want 10000", len(recs), err)
		}
		for _, r := range recs {
			if r.Err != nil || strings.Join(r.Fields, "|") != "|||" {
				t.Fatalf("record %+v (%v): want four empty fields", r, r.Err)
			}
		}
	})
	t.Run("only delimiters, as many of each", func(t *testing.T) {
		t.Parallel()
		_, err := drain(t, strings.NewReader(strings.Repeat(",;", million/2)+"\n"), csvfile.Options{})
		if !errors.Is(err, csvfile.ErrNoDelimiter) {
			t.Errorf("got %v, want %v", err, csvfile.ErrNoDelimiter)
		}
	})
}

func TestHostileQuotes(t *testing.T) {
	t.Parallel()
	q := func(n int) string { return strings.Repeat(`"`, n) }
	type want struct {
		line  int
		field int    // for an error
		err   error  // nil: fields
		first string // the first field, for a record without error
	}
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{"100,000 quotes on a line", q(100_000) + "\nc,d\n", []want{
			{line: 1, field: -1, err: csvfile.ErrRecordTooLong}, {line: 2, first: "c"}}},
		{"60,000 quotes: a field of 29,999 quotes", q(60_000) + ",x\nc,d\n", []want{
			{line: 1, field: 0, err: csvfile.ErrFieldTooLong}, {line: 2, first: "c"}}},
		{"60,001 quotes: never closed", q(60_001) + "\nc,d\n", []want{
			{line: 1, field: -1, err: csvfile.ErrUnterminatedQuote}, {line: 2, first: "c"}}},
		{"nested 1,001 deep", q(1001) + "a" + q(1001) + ",b\nc,d\n", []want{
			{line: 1, first: q(500) + "a" + q(500)}, {line: 2, first: "c"}}},
		{"nested 1,000 deep: text after the closing quote", q(1000) + "a" + q(1000) + ",b\nc,d\n", []want{
			{line: 1, field: 0, err: csvfile.ErrTextAfterQuote}, {line: 2, first: "c"}}},
		{"nested 20,001 deep: too long", q(20_001) + "a" + q(20_001) + ",b\nc,d\n", []want{
			{line: 1, field: 0, err: csvfile.ErrFieldTooLong}, {line: 2, first: "c"}}},
		{`"""a""" 5,000 times`, strings.Repeat(`"""a""",`, 5000) + "x\nc,d\n", []want{
			{line: 1, first: `"a"`}, {line: 2, first: "c"}}},
		{"a quote opened at line 1 over 1 MiB of lines that do not parse", "\"a,b\n" + strings.Repeat("x\"y\n", 1<<18) + "c,d\n", []want{
			{line: 1, field: -1, err: csvfile.ErrUnterminatedQuote}, {line: 1<<18 + 2, first: "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := drain(t, strings.NewReader(tt.in), csvfile.Options{Delimiter: ','})
			if err != nil || len(recs) != len(tt.want) {
				t.Fatalf("got %d records %+v, %v; want %d", len(recs), recs, err, len(tt.want))
			}
			for i, w := range tt.want {
				if w.err != nil {
					wantRecordErr(t, recs[i], w.line, w.field, w.err)
					continue
				}
				if recs[i].Err != nil || recs[i].Line != w.line || recs[i].First != w.first {
					t.Errorf("record %+v (%v); want line %d starting with %q", recs[i], recs[i].Err, w.line, w.first)
				}
			}
			if last := recs[len(recs)-1]; last.End != int64(len(tt.in)) {
				t.Errorf("the last record ends at %d of %d bytes", last.End, len(tt.in))
			}
		})
	}
}

// A quote opened at line 1 and never closed costs that record only, however
// much follows: the reader gives up on it at the record limit and reads the
// following lines as the records they are.
func TestHostileQuoteNeverClosed(t *testing.T) {
	t.Parallel()
	const lines = 1 << 18 // 1 MiB of "x,y\n"
	in := "\"Anna,anna\n" + strings.Repeat("x,y\n", lines)
	recs, err := drain(t, strings.NewReader(in), csvfile.Options{Fields: 2})
	if err != nil || len(recs) != 1+lines {
		t.Fatalf("got %d records, %v; want %d", len(recs), err, 1+lines)
	}
	wantRecordErr(t, recs[0], 1, -1, csvfile.ErrUnterminatedQuote)
	if recs[0].RawLen > csvfile.DefaultMaxRecordBytes {
		t.Errorf("the bad record's raw text is %d bytes, over the record limit", recs[0].RawLen)
	}
	for i, r := range recs[1:] {
		if r.Err != nil || r.Line != i+2 || len(r.Fields) != 2 || r.Fields[0] != "x" || r.Fields[1] != "y" {
			t.Fatalf("record %+v (%v); want x,y at line %d", r, r.Err, i+2)
		}
	}
}

// Lines that each open or break a quote, over several times the record
// limit: the reader keeps resynchronising and reaches the end, every line
// accounted for by a record, every record with a quoting or field-count error.
func TestHostileQuoteStorms(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"\"\n", "\"x\n", "x\"\n", "\"x,\"\n", "\"\"\"\n", "a,\"b\n", "\"a\"b\"c\n"} {
		t.Run(strings.TrimSuffix(line, "\n"), func(t *testing.T) {
			t.Parallel()
			in := strings.Repeat(line, (256<<10)/len(line)) + "c,d\n"
			recs, err := drain(t, strings.NewReader(in), csvfile.Options{Delimiter: ',', Fields: 2})
			if err != nil || len(recs) == 0 {
				t.Fatalf("got %d records, %v", len(recs), err)
			}
			wantFields(t, recs[len(recs)-1], strings.Count(in, "\n"), "c", "d")
			for _, r := range recs[:len(recs)-1] {
				if !quotingOrCount(r.Err) {
					t.Fatalf("record %+v (%v): want a quoting or field count error", r, r.Err)
				}
			}
		})
	}
}

func quotingOrCount(e *csvfile.RecordError) bool {
	var fc *csvfile.FieldCountError
	return e != nil && (errors.As(e, &fc) || errors.Is(e, csvfile.ErrUnterminatedQuote) ||
		errors.Is(e, csvfile.ErrBareQuote) || errors.Is(e, csvfile.ErrTextAfterQuote))
}

func TestHostileBytes(t *testing.T) {
	t.Parallel()
	header := "User name,Login ID,E-mail\n"
	utf16 := func(s string, bigEndian bool) string {
		var b strings.Builder
		for _, c := range s { // ASCII only
			if bigEndian {
				b.WriteByte(0)
				b.WriteByte(byte(c))
			} else {
				b.WriteByte(byte(c))
				b.WriteByte(0)
			}
		}
		return b.String()
	}
	body := header + "Anna,anna,anna@example.com\n"
	for _, tt := range []struct{ name, in string }{
		{"NUL bytes only", strings.Repeat("\x00", 1000)},
		{"NUL bytes in the first records", header + "Anna\x00,anna,\x00\n"},
		{"UTF-16LE with a mark", "\xFF\xFE" + utf16(body, false)},
		{"UTF-16BE with a mark", "\xFE\xFF" + utf16(body, true)},
		{"UTF-16LE without a mark", utf16(body, false)},
		{"UTF-16BE without a mark", utf16(body, true)},
		{"a valid header, then binary", header + "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := drain(t, strings.NewReader(tt.in), csvfile.Options{}); !errors.Is(err, csvfile.ErrNotText) {
				t.Errorf("got %v, want %v", err, csvfile.ErrNotText)
			}
		})
	}
	// Beyond what the delimiter is detected from, or with the delimiter
	// given, a NUL byte is valid UTF-8 and the reader does not judge it: the
	// record keeps it as it is (or is rejected), and reading goes on.
	good := strings.Repeat("Anna,anna\n", 8000) // 80 KB: past the detection window
	for _, tt := range []struct {
		name string
		in   string
		opts csvfile.Options
		line int
	}{
		{"NUL past the detection window", good + "B\x00b,bob\nc,d\n", csvfile.Options{}, 8001},
		{"NUL with the delimiter given", "B\x00b,bob\nc,d\n", csvfile.Options{Delimiter: ','}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := drain(t, strings.NewReader(tt.in), tt.opts)
			if err != nil || len(recs) < 2 {
				t.Fatalf("got %d records, %v", len(recs), err)
			}
			nul := recs[len(recs)-2]
			if nul.Line != tt.line || (nul.Err == nil && !cmp.Equal(nul.Fields, []string{"B\x00b", "bob"})) {
				t.Errorf("record %+v (%v): want line %d rejected, or its NUL kept as it is", nul, nul.Err, tt.line)
			}
			wantFields(t, recs[len(recs)-1], tt.line+1, "c", "d")
		})
	}
}

// Line endings are LF or CRLF; a lone CR is not a line break. A file with
// classic Mac (CR-only) line endings would so be one line, of any length:
// it is rejected as a whole, with how to save it, never read as records
// that are something else. A reader of a byte range (a chunk) or of a record
// read again (for the error report) does not look: the file's start was
// checked by the reader of the whole file.
func TestHostileCROnly(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"User name,Login ID\rAnna,anna\rBob,bob\r", strings.Repeat("Anna,anna\r", 10000)} {
		if _, err := drain(t, strings.NewReader(in), csvfile.Options{Fields: 2}); !errors.Is(err, csvfile.ErrCRLineEnds) {
			t.Errorf("%.30q…: got %v, want %v", in, err, csvfile.ErrCRLineEnds)
		}
	}
	recs, err := drain(t, strings.NewReader("Anna,anna\rBob,bob\r"), csvfile.Options{Fields: 2, Delimiter: ',', StartLine: 2, StartOffset: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("byte range: got %+v, %v; want one record", recs, err)
	}
	var fc *csvfile.FieldCountError
	if recs[0].Err == nil || !errors.As(recs[0].Err, &fc) || fc.Got != 3 {
		t.Errorf("byte range: record %+v (%v): want a field count error of 3 fields", recs[0], recs[0].Err)
	}
	recs, err = drain(t, strings.NewReader("Anna\rBob,bob"), csvfile.Options{Delimiter: ',', StartLine: 7})
	if err != nil || len(recs) != 1 || len(recs[0].Fields) != 2 {
		t.Fatalf("a record read again: got %+v, %v; want one record of two fields", recs, err)
	}
}

// A NUL byte that the whole-file check does not see (the delimiter given, or
// past the first 64 KiB) rejects its record alone, with a reason: PostgreSQL
// stores no NUL in text, and validate must say so as the import would.
func TestNULByteRejectsItsRecord(t *testing.T) {
	t.Parallel()
	got, err := readAll(t, "Anna,anna\nBé\x00la,bela\nCili,cili\n", csvfile.Options{Delimiter: ','})
	if err != nil {
		t.Fatal(err)
	}
	want := []rec{
		{Line: 1, Fields: []string{"Anna", "anna"}},
		{Line: 2, Fields: []string{"Bé\x00la", "bela"}, Err: csvfile.ErrNULByte.Error()},
		{Line: 3, Fields: []string{"Cili", "cili"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
