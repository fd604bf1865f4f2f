package userfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

var demoRoles = []string{"agent", "supervisor", "admin", "auditor"}

// The generator's defects are exactly what the validator rejects: one error
// per defective record, in the defect's column, and no other error or warning.
func TestGeneratedDefectsAreFound(t *testing.T) {
	t.Parallel()
	for _, delim := range []rune{',', ';'} {
		for _, noHeader := range []bool{false, true} {
			var buf bytes.Buffer
			sum, err := usergen.Write(&buf, usergen.Options{Rows: 5000, Seed: 11, Invalid: 0.05, Delimiter: delim, NoHeader: noHeader})
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]string{}
			for _, d := range sum.Defects {
				want[d.Line] = d.Column
			}
			got := map[int]string{}
			r := userfile.NewReader(&buf, userfile.Options{Roles: demoRoles})
			records := 0
			for {
				rec, err := r.Read()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				records++
				if len(rec.Errors) > 1 {
					t.Errorf("line %d: %d errors %v, want at most one", rec.Line, len(rec.Errors), rec.Errors)
				}
				for _, p := range rec.Errors {
					got[rec.Line] = p.Column.String()
				}
				if len(rec.Warnings) > 0 {
					t.Errorf("line %d: unexpected warnings %v", rec.Line, rec.Warnings)
				}
			}
			if records != sum.Records || r.Header() == noHeader || r.Delimiter() != byte(delim) {
				t.Errorf("%d records, header %v, delimiter %q; want %d, %v, %q", records, r.Header(), r.Delimiter(), sum.Records, !noHeader, delim)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("delimiter %q header %v: invalid lines and columns (-generated +found):\n%s", delim, !noHeader, diff)
			}
		}
	}
}

// After an unreadable first record the reader resynchronises before the
// layout is known; the record it finds must still be checked for its fields.
func TestShortRecordAfterBadFirstRecord(t *testing.T) {
	t.Parallel()
	r := userfile.NewReader(strings.NewReader("Anna,anna,\"x\nBob,bob\n"), userfile.Options{})
	var got []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d valid=%v", rec.Line, rec.Valid()))
	}
	if diff := cmp.Diff([]string{"1 valid=false", "2 valid=false"}, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestFileRejections(t *testing.T) {
	t.Parallel()
	header := strings.Join(userrow.Names(), ",") + "\n"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", userfile.ErrEmpty},
		{"blank lines only", "\n\r\n \n", userfile.ErrEmpty},
		{"header only", header, userfile.ErrHeaderOnly},
		{"unknown column", "User name,Login ID,Emial\n", userrow.ErrHeader},
		{"CR line ends (old Mac Excel)", strings.ReplaceAll(header, "\n", "\r") + "Anna,anna" + strings.Repeat(",", 25) + "\r", csvfile.ErrCRLineEnds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := userfile.NewReader(strings.NewReader(tt.in), userfile.Options{}).Read()
			if !errors.Is(err, tt.want) || !userfile.IsRejection(err) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// A CR that ends the file ends its last line, whether the record has a
// quote or not: the last value is the same, and a flag there is a flag.
func TestCREndingTheFile(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"User name,Login ID,Prompt Inbound\nAnna,anna,1\r",
		"User name,Login ID,Prompt Inbound\nAnna,anna,\"1\"\r",
		"User name,Login ID,Prompt Inbound\r\n\"Anna\",anna,1\r",
	} {
		rec, err := userfile.NewReader(strings.NewReader(in), userfile.Options{}).Read()
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !rec.Valid() || !rec.User.PromptInbound {
			t.Errorf("%q: errors %v, prompt inbound %v; want a valid record with the flag set", in, rec.Errors, rec.User.PromptInbound)
		}
	}
}

// A record the reader cannot split still takes part in the duplicate check
// when its Login ID can be read; an unreadable first record is data.
func TestRecordErrorsStayRecords(t *testing.T) {
	t.Parallel()
	row := func(name, login, rest string) string {
		return name + "," + login + strings.Repeat(",", 25) + rest + "\n"
	}
	in := row("A \xff", "dup", "") + row("B", "other", "") + row("C", "DUP", "")
	r := userfile.NewReader(strings.NewReader(in), userfile.Options{})
	var got []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rec.Errors {
			got = append(got, p.Column.String()+": "+p.Message)
		}
	}
	want := []string{
		`: not valid UTF-8 (save the file as "CSV UTF-8")`,
		"Login ID: duplicate Login ID, first at line 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// A Reader's goroutines end with the file, or when it is closed early: a
// worker reads thousands of chunks, and a leak of three goroutines and their
// batches per chunk took it to gigabytes.
func TestReaderGoroutinesEnd(t *testing.T) {
	var file bytes.Buffer
	if _, err := usergen.Write(&file, usergen.Options{Rows: 2000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := range 20 {
		r := userfile.NewReader(bytes.NewReader(file.Bytes()), userfile.Options{})
		for n := 0; ; n++ {
			if i%2 == 1 && n == 300 {
				break // closed early, as a cancelled task would
			}
			if _, err := r.Read(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before reading 20 files, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
