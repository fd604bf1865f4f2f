package userfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/usergen"
)

// outcome is what reading a record decides, as the tests compare it.
type outcome struct {
	Valid  bool
	Errors string
	Login  string
}

func readOutcomes(t *testing.T, r io.Reader, opts userfile.Options) map[int]outcome {
	t.Helper()
	rd := userfile.NewReader(r, opts)
	defer rd.Close()
	out := map[int]outcome{}
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[rec.Line] = outcome{Valid: rec.Valid(), Errors: fmt.Sprint(rec.Errors), Login: rec.User.LoginID}
	}
}

// Reading a planned file chunk by chunk, each byte range on its own as the
// workers will, decides every record exactly as reading the whole file does:
// the same records, the same lines, the same errors, duplicates included.
func TestChunksReadAsTheWholeFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts usergen.Options
		size int
	}{
		{"header, commas", usergen.Options{Rows: 3000, Seed: 21, Invalid: 0.05}, 250},
		{"positional, semicolons", usergen.Options{Rows: 2000, Seed: 22, Invalid: 0.05, Delimiter: ';', NoHeader: true}, 333},
		{"one chunk", usergen.Options{Rows: 100, Seed: 23, Invalid: 0.1}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var file bytes.Buffer
			if _, err := usergen.Write(&file, tc.opts); err != nil {
				t.Fatal(err)
			}
			data := file.Bytes()
			opts := userfile.Options{Roles: demoRoles}
			whole := readOutcomes(t, bytes.NewReader(data), opts)

			plan, err := userfile.PlanFile(t.Context(), bytes.NewReader(data), opts, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Records != len(whole) || plan.FileError != nil {
				t.Fatalf("plan: %d records, file error %v; the file has %d", plan.Records, plan.FileError, len(whole))
			}
			chunked := map[int]outcome{}
			records := 0
			for _, c := range plan.Chunks {
				part := data[c.Offset : c.Offset+c.Length]
				got := readOutcomes(t, bytes.NewReader(part), plan.RangeOptions(opts, c))
				if len(got) != c.Records {
					t.Fatalf("chunk %d: %d records, planned %d", c.Seq, len(got), c.Records)
				}
				records += len(got)
				maps.Copy(chunked, got)
			}
			if records != len(whole) {
				t.Fatalf("chunks hold %d records, the file %d", records, len(whole))
			}
			if diff := cmp.Diff(whole, chunked); diff != "" {
				t.Errorf("chunk by chunk (-whole file +chunks):\n%s", diff)
			}
			if len(plan.Rejected) == 0 && tc.opts.Rows >= 1000 {
				t.Error("no duplicate Login ID in the plan: the test does not exercise the whole-file checks")
			}
		})
	}
}

// The same holds for the hand-made files with every dialect quirk (a BOM,
// CRLF, blank lines, quoted line breaks, an unclosed quote and the records it
// swallows, wrong field counts), cut into chunks of every small size.
func TestChunksReadAsTheWholeFileQuirks(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "cmd", "importctl", "testdata", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		opts := userfile.Options{Roles: demoRoles}
		for size := 1; size <= 4; size++ {
			plan, err := userfile.PlanFile(t.Context(), bytes.NewReader(data), opts, size)
			if err != nil {
				t.Fatal(err)
			}
			if plan.FileError != nil {
				continue // rejected as a whole: nothing to cut
			}
			whole := readOutcomes(t, bytes.NewReader(data), opts)
			chunked := map[int]outcome{}
			for _, c := range plan.Chunks {
				maps.Copy(chunked, readOutcomes(t, bytes.NewReader(data[c.Offset:c.Offset+c.Length]), plan.RangeOptions(opts, c)))
			}
			if diff := cmp.Diff(whole, chunked); diff != "" {
				t.Errorf("%s in chunks of %d (-whole file +chunks):\n%s", filepath.Base(name), size, diff)
			}
		}
	}
}
