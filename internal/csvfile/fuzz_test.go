package csvfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/userimport/userimport/internal/csvfile"
)

// FuzzReader checks what must hold for any input: no panic, no hang, lines and
// offsets that increase, limits respected. With small limits the fuzzer reaches
// them quickly. The seed corpus (testdata and the table inputs) runs in make test.
func FuzzReader(f *testing.F) {
	for _, in := range agreementInputs {
		f.Add([]byte(in))
	}
	for _, s := range []string{"\"", "\"\"\"", "a,\"b\nc", ";,;,\n\"", "\xEF\xBB\xBF\"\n\"\n", strings.Repeat("\"", 300), strings.Repeat(",", 300)} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxRecord, maxField = 256, 16
		r := csvfile.NewReader(strings.NewReader(string(in)), csvfile.Options{
			MaxRecordBytes: maxRecord, MaxFieldChars: maxField, Fields: 3,
		})
		lastLine, lastEnd := 0, int64(0)
		for n := 0; ; n++ {
			if n > len(in)+1 {
				t.Fatalf("more records than bytes: the reader does not advance")
			}
			rec, err := r.Read()
			if errors.Is(err, io.EOF) || errors.Is(err, csvfile.ErrNoDelimiter) || errors.Is(err, csvfile.ErrNotText) ||
				errors.Is(err, csvfile.ErrCRLineEnds) {
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if rec.Line <= lastLine || rec.Offset < lastEnd || rec.End <= rec.Offset || rec.End > int64(len(in)) {
				t.Fatalf("record at line %d [%d,%d) after line %d ending at %d", rec.Line, rec.Offset, rec.End, lastLine, lastEnd)
			}
			lastLine, lastEnd = rec.Line, rec.End
			if len(r.Raw()) > 2*maxRecord+1 {
				t.Fatalf("raw record of %d bytes over a limit of %d", len(r.Raw()), maxRecord)
			}
			if rec.Err == nil && string(r.Raw()) != string(in[rec.Offset:rec.End]) {
				t.Fatalf("line %d: Raw %q, but the input holds %q there", rec.Line, r.Raw(), in[rec.Offset:rec.End])
			}
			if rec.Err == nil {
				for _, f := range rec.Fields {
					if utf8.RuneCountInString(f) > maxField || !utf8.ValidString(f) {
						t.Fatalf("field %q accepted over the limits", f)
					}
				}
			}
		}
	})
}

func FuzzAgainstEncodingCSV(f *testing.F) {
	for _, in := range agreementInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkAgainstEncodingCSV(t, in)
	})
}
