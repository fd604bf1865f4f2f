package usergen

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the importer resolves zones with embedded tzdata; so does this check
	"unicode/utf8"

	"github.com/userimport/userimport/internal/userrow"
)

// write runs Write into memory and fails the test on an error.
func write(tb testing.TB, opts Options) ([]byte, Summary) {
	tb.Helper()
	var buf bytes.Buffer
	sum, err := Write(&buf, opts)
	if err != nil {
		tb.Fatalf("Write(%+v): %v", opts, err)
	}
	return buf.Bytes(), sum
}

// parsed is a record as encoding/csv reads it, with the line it starts on.
type parsed struct {
	line   int
	fields []string
}

// parse reads data with encoding/csv, the reference the benchmarks compare with.
func parse(t *testing.T, data []byte, delim rune) []parsed {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = delim
	r.FieldsPerRecord = -1
	var recs []parsed
	for {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("encoding/csv: %v", err)
		}
		line, _ := r.FieldPos(0)
		recs = append(recs, parsed{line: line, fields: fields})
	}
}

func TestWriteReproducible(t *testing.T) {
	t.Parallel()
	base := Options{Rows: 2000, Seed: 7, Invalid: 0.2}
	tests := []struct {
		name string
		a, b Options
		same bool
	}{
		{"same options", base, base, true},
		{"other seed", base, Options{Rows: 2000, Seed: 8, Invalid: 0.2}, false},
		{"negative seed", Options{Rows: 500, Seed: -1}, Options{Rows: 500, Seed: -1}, true},
		{"semicolon same", Options{Rows: 500, Seed: 3, Delimiter: ';'}, Options{Rows: 500, Seed: 3, Delimiter: ';'}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, sa := write(t, tt.a)
			b, sb := write(t, tt.b)
			if got := bytes.Equal(a, b); got != tt.same {
				t.Errorf("outputs equal = %v, want %v", got, tt.same)
			}
			if tt.same && !slices.Equal(sa.Defects, sb.Defects) {
				t.Errorf("defects differ between identical runs")
			}
		})
	}
}

func TestWriteParses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"comma", Options{Rows: 3000, Seed: 1, Invalid: 0.1}},
		{"semicolon", Options{Rows: 3000, Seed: 2, Invalid: 0.1, Delimiter: ';'}},
		{"no header", Options{Rows: 1000, Seed: 3, Invalid: 0.3, NoHeader: true}},
		{"all invalid", Options{Rows: 500, Seed: 4, Invalid: 1}},
		{"all valid", Options{Rows: 1000, Seed: 5}},
		{"empty", Options{Rows: 0, Seed: 6}},
		{"empty no header", Options{Rows: 0, NoHeader: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, sum := write(t, tt.opts)
			if !utf8.Valid(data) {
				t.Fatal("output is not valid UTF-8")
			}
			delim := tt.opts.Delimiter
			if delim == 0 {
				delim = ','
			}
			recs := parse(t, data, delim)

			header := 1
			if tt.opts.NoHeader {
				header = 0
			}
			if got, want := len(recs), tt.opts.Rows+header; got != want {
				t.Fatalf("encoding/csv read %d records, want %d", got, want)
			}
			if got, want := sum.Lines, bytes.Count(data, []byte{'\n'}); got != want {
				t.Errorf("Summary.Lines = %d, want %d physical lines", got, want)
			}
			if sum.Records != tt.opts.Rows || sum.Invalid != len(sum.Defects) {
				t.Errorf("Summary = {Records %d, Invalid %d, %d defects}, want Records %d and Invalid = len(Defects)",
					sum.Records, sum.Invalid, len(sum.Defects), tt.opts.Rows)
			}
			if header == 1 && !slices.Equal(recs[0].fields, userrow.Names()) {
				t.Errorf("header = %q, want userrow.Names()", recs[0].fields)
			}

			defects := defectsByLine(t, sum)
			for _, rec := range recs[header:] {
				d, spoiled := defects[rec.line]
				delete(defects, rec.line)
				if spoiled && d.Kind == "field count" {
					if len(rec.fields) == userrow.NumColumns {
						t.Errorf("line %d: field count defect has %d fields", rec.line, len(rec.fields))
					}
					continue
				}
				if len(rec.fields) != userrow.NumColumns {
					t.Errorf("line %d: %d fields, want %d", rec.line, len(rec.fields), userrow.NumColumns)
				}
			}
			// Every defect line must be where encoding/csv saw a record start.
			for line, d := range defects {
				t.Errorf("defect %+v: no record starts at line %d", d, line)
			}
		})
	}
}

func defectsByLine(t *testing.T, sum Summary) map[int]Defect {
	t.Helper()
	m := make(map[int]Defect, len(sum.Defects))
	for _, d := range sum.Defects {
		if _, dup := m[d.Line]; dup {
			t.Errorf("two defects at line %d", d.Line)
		}
		m[d.Line] = d
	}
	return m
}

func TestWriteDefectShare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      Options
		want      int
		everyKind bool
	}{
		{"none", Options{Rows: 1000, Seed: 1}, 0, false},
		{"ten percent", Options{Rows: 1000, Seed: 1, Invalid: 0.1}, 100, false},
		{"rounded", Options{Rows: 999, Seed: 1, Invalid: 0.0015}, 1, false},
		{"all", Options{Rows: 100, Seed: 1, Invalid: 1}, 100, false},
		{"every kind", Options{Rows: 5000, Seed: 9, Invalid: 0.1}, 500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, sum := write(t, tt.opts)
			if sum.Invalid != tt.want || len(sum.Defects) != tt.want {
				t.Errorf("Invalid = %d with %d defects, want %d", sum.Invalid, len(sum.Defects), tt.want)
			}
			if !tt.everyKind {
				return
			}
			seen := make(map[string]bool)
			for _, d := range sum.Defects {
				seen[d.Kind] = true
			}
			for _, kind := range defectKinds {
				if !seen[kind] {
					t.Errorf("kind %q never produced", kind)
				}
			}
			if len(seen) != len(defectKinds) {
				t.Errorf("kinds %v, want exactly %v", slices.Sorted(maps.Keys(seen)), defectKinds)
			}
		})
	}
}

// TestWriteFollowsSpec checks every record against the spec's rules as the
// importer applies them: valid records break none, each defective record
// breaks exactly the one column its Defect names.
func TestWriteFollowsSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"comma", Options{Rows: 5000, Seed: 11, Invalid: 0.1}},
		{"semicolon positional", Options{Rows: 3000, Seed: 12, Invalid: 0.25, Delimiter: ';', NoHeader: true}},
		{"prefix", Options{Rows: 2000, Seed: 13, Invalid: 0.5, LoginPrefix: "Acme7"}},
		{"all invalid", Options{Rows: 400, Seed: 14, Invalid: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, sum := write(t, tt.opts)
			delim := tt.opts.Delimiter
			if delim == 0 {
				delim = ','
			}
			recs := parse(t, data, delim)
			if !tt.opts.NoHeader {
				recs = recs[1:]
			}
			defects := defectsByLine(t, sum)

			firstLogin := make(map[string]int) // lower-case Login ID → line
			validLine := make(map[int]bool)
			phoneLine := make(map[string]int) // normalised entry → line
			for _, rec := range recs {
				d, spoiled := defects[rec.line]
				got := violations(rec.fields)

				login := ""
				if len(rec.fields) > int(userrow.LoginID) {
					login = strings.ToLower(trim(rec.fields[userrow.LoginID]))
				}
				if first, dup := firstLogin[login]; dup && login != "" {
					got = append(got, userrow.LoginID.String())
					if spoiled && d.Kind == "duplicate login" && !validLine[first] {
						t.Errorf("line %d repeats the Login ID of line %d, which is not a valid record", rec.line, first)
					}
				} else if login != "" {
					firstLogin[login] = rec.line
				}

				var want []string
				if spoiled {
					want = []string{d.Column}
				} else {
					validLine[rec.line] = true
				}
				if !slices.Equal(got, want) {
					t.Errorf("line %d (%+v): broken columns %q, want %q\n%q", rec.line, d, got, want, rec.fields)
				}

				if len(rec.fields) > int(userrow.PhoneMapping) {
					for e := range strings.SplitSeq(trim(rec.fields[userrow.PhoneMapping]), ";") {
						if !validPhone(trim(e)) {
							continue // a defect, and shared on purpose
						}
						key := normalisePhone(e)
						if first, ok := phoneLine[key]; ok && first != rec.line {
							t.Errorf("line %d: phone %q already mapped at line %d", rec.line, e, first)
						}
						phoneLine[key] = rec.line
					}
				}
			}
		})
	}
}

// violations returns the names of the columns of rec that break the spec, in
// column order, plus "" when the field count is wrong. Login ID uniqueness is
// the caller's: it spans records.
func violations(rec []string) []string {
	var bad []string
	for c := range userrow.Column(min(len(rec), userrow.NumColumns)) {
		if !validValue(c, trim(rec[c])) {
			bad = append(bad, c.String())
		}
	}
	if len(rec) != userrow.NumColumns {
		bad = append(bad, "")
	}
	return bad
}

func trim(s string) string { return strings.Trim(s, " \t") }

func validValue(c userrow.Column, v string) bool {
	n := utf8.RuneCountInString(v)
	switch c {
	case userrow.UserName:
		return v != "" && n <= 64
	case userrow.LoginID:
		return v != "" && n <= 32 && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.") == ""
	case userrow.Language:
		switch strings.ReplaceAll(strings.ToLower(v), "-", "_") {
		case "", "en", "hu", "de", "fr", "fr_ca":
			return true
		}
		return false
	case userrow.Email:
		local, domain, ok := strings.Cut(v, "@")
		return v == "" || ok && n <= 128 && local != "" && domain != "" && !strings.ContainsAny(domain, "@ ")
	case userrow.ValidFrom:
		return v == "" || validDate(v)
	case userrow.PhoneMapping:
		if v == "" {
			return true
		}
		for e := range strings.SplitSeq(v, ";") {
			if !validPhone(trim(e)) {
				return false
			}
		}
		return true
	case userrow.Password:
		return v == "" || len(v) == 32 && strings.Trim(v, "0123456789abcdefABCDEF") == ""
	case userrow.ChangePassword, userrow.Voice, userrow.InstantMessaging, userrow.Video,
		userrow.DesktopScreen, userrow.PromptInbound, userrow.PromptConference:
		return v == "" || v == "0" || v == "1"
	case userrow.Groups:
		if v == "" {
			return true
		}
		for g := range strings.SplitSeq(v, ";") {
			if g = trim(g); g == "" || utf8.RuneCountInString(g) > 64 {
				return false
			}
		}
		return true
	case userrow.Roles:
		if v == "" {
			return true
		}
		for r := range strings.SplitSeq(v, "\n") {
			if !slices.Contains(roles[:], trim(r)) {
				return false
			}
		}
		return true
	case userrow.RecordingMode:
		return v == "" || slices.Contains(recordingModes[:], v)
	case userrow.TimeZone:
		if v == "" {
			return true
		}
		_, err := time.LoadLocation(v)
		return err == nil
	case userrow.CRMUserID:
		return n <= 64
	case userrow.Custom0, userrow.Custom1, userrow.Custom2, userrow.Custom3, userrow.Custom4:
		return n <= 256
	case userrow.InboundFile, userrow.ConferenceFile:
		return n <= 255 && !strings.ContainsAny(v, `/\`) && !strings.Contains(v, "..") &&
			!strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f })
	case userrow.ConferenceMessage:
		return n <= 512
	default:
		panic("unknown column " + c.String())
	}
}

func validDate(v string) bool {
	if len(v) == len("2006.01.02.") && strings.Count(v, ".") == 3 {
		v = strings.TrimSuffix(v, ".") // the Hungarian trailing dot
	}
	for _, layout := range []string{"2006.01.02", "2006-01-02", "2006/01/02"} {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

func validPhone(e string) bool {
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if rest, ok := strings.CutPrefix(e, scheme); ok {
			return rest != "" && len(e) <= 128
		}
	}
	digits := strings.TrimPrefix(strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(e), "+")
	return digits != "" && len(e) <= 128 && strings.Trim(digits, "0123456789") == ""
}

func normalisePhone(e string) string {
	e = trim(e)
	if strings.Contains(e, ":") {
		return strings.ToLower(e)
	}
	return strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(e)
}

// TestWriteDefectsLeaveOthersAlone: a record not chosen for a defect is the
// same as in the file without defects, so a failing end-to-end test can be
// compared with its clean twin.
func TestWriteDefectsLeaveOthersAlone(t *testing.T) {
	t.Parallel()
	clean, _ := write(t, Options{Rows: 2000, Seed: 21})
	dirty, sum := write(t, Options{Rows: 2000, Seed: 21, Invalid: 0.3})
	a, b := parse(t, clean, ','), parse(t, dirty, ',')
	if len(a) != len(b) {
		t.Fatalf("%d records vs %d", len(a), len(b))
	}
	defects := defectsByLine(t, sum)
	for i := range a {
		if _, spoiled := defects[b[i].line]; spoiled {
			continue
		}
		if !slices.Equal(a[i].fields, b[i].fields) {
			t.Errorf("record %d (line %d) differs from the clean file:\n%q\n%q", i, b[i].line, a[i].fields, b[i].fields)
		}
	}
}

// TestWriteLoginPrefix: the same prefix names the same users in any file, a
// different one never reuses their Login IDs.
func TestWriteLoginPrefix(t *testing.T) {
	t.Parallel()
	logins := func(opts Options) []string {
		data, _ := write(t, opts)
		var ids []string
		for _, rec := range parse(t, data, ',')[1:] {
			ids = append(ids, strings.ToLower(trim(rec.fields[userrow.LoginID])))
		}
		return ids
	}
	base := logins(Options{Rows: 1000, Seed: 1})
	tests := []struct {
		name   string
		opts   Options
		shared int
	}{
		{"default prefix is user", Options{Rows: 1000, Seed: 2, LoginPrefix: "user"}, 1000},
		{"other seed same users", Options{Rows: 1000, Seed: 99}, 1000},
		{"other prefix", Options{Rows: 1000, Seed: 1, LoginPrefix: "acme"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := logins(tt.opts)
			shared := 0
			seen := make(map[string]bool, len(base))
			for _, id := range base {
				seen[id] = true
			}
			for _, id := range other {
				if seen[id] {
					shared++
				}
			}
			if shared != tt.shared {
				t.Errorf("%d Login IDs shared with the base file, want %d", shared, tt.shared)
			}
		})
	}
}

func TestWriteRejectsOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"negative rows", Options{Rows: -1}},
		{"negative share", Options{Rows: 1, Invalid: -0.1}},
		{"share above one", Options{Rows: 1, Invalid: 1.5}},
		{"tab delimiter", Options{Rows: 1, Delimiter: '\t'}},
		{"prefix with underscore", Options{Rows: 1, LoginPrefix: "my_user"}},
		{"prefix too long", Options{Rows: 1, LoginPrefix: strings.Repeat("u", 17)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if _, err := Write(&buf, tt.opts); err == nil {
				t.Errorf("Write(%+v) succeeded, want an error", tt.opts)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

// failWriter fails after accepting limit bytes.
type failWriter struct{ limit int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteReportsWriteError(t *testing.T) {
	t.Parallel()
	_, err := Write(&failWriter{limit: 1 << 20}, Options{Rows: 100_000, Seed: 1})
	if !errors.Is(err, errFull) {
		t.Errorf("Write error = %v, want %v", err, errFull)
	}
}

// countWriter counts what it discards, for b.SetBytes.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkWrite writes a million records per iteration, the size of the
// benchmarks and the demo: go test -run '^$' -bench Write -benchtime 1x.
func BenchmarkWrite(b *testing.B) {
	opts := Options{Rows: 1_000_000, Seed: 1, Invalid: 0.05}
	b.ReportAllocs()
	for b.Loop() {
		var w countWriter
		if _, err := Write(&w, opts); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(w.n)
	}
}
