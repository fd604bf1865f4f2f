package userfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
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

// memSink keeps what a plan hands over, as the worker stores it.
type memSink struct {
	chunks   []userfile.Chunk
	rejected map[int]userrow.Problem
}

func (s *memSink) Chunk(_ context.Context, c userfile.Chunk) error {
	s.chunks = append(s.chunks, c)
	return nil
}

func (s *memSink) FileReject(_ context.Context, line int, p userrow.Problem) error {
	if s.rejected == nil {
		s.rejected = map[int]userrow.Problem{}
	}
	s.rejected[line] = p
	return nil
}

func planFile(t *testing.T, data []byte, opts userfile.Options, size int) (userfile.Plan, *memSink) {
	t.Helper()
	sink := &memSink{}
	plan, err := userfile.PlanFile(t.Context(), bytes.NewReader(data), opts, size, sink)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Chunks != len(sink.chunks) {
		t.Fatalf("plan counts %d chunks, handed over %d", plan.Chunks, len(sink.chunks))
	}
	return plan, sink
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

			plan, sink := planFile(t, data, opts, tc.size)
			if plan.Records != len(whole) || plan.FileError != "" {
				t.Fatalf("plan: %d records, file error %v; the file has %d", plan.Records, plan.FileError, len(whole))
			}
			chunked := map[int]outcome{}
			records := 0
			for _, c := range sink.chunks {
				part := data[c.Offset : c.Offset+c.Length]
				got := readOutcomes(t, bytes.NewReader(part), plan.RangeOptions(opts, c, sink.rejected))
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
			if len(sink.rejected) == 0 && tc.opts.Rows >= 1000 {
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
			plan, sink := planFile(t, data, opts, size)
			if plan.FileError != "" {
				continue // rejected as a whole: nothing to cut
			}
			whole := readOutcomes(t, bytes.NewReader(data), opts)
			chunked := map[int]outcome{}
			for _, c := range sink.chunks {
				maps.Copy(chunked, readOutcomes(t, bytes.NewReader(data[c.Offset:c.Offset+c.Length]), plan.RangeOptions(opts, c, sink.rejected)))
			}
			if diff := cmp.Diff(whole, chunked); diff != "" {
				t.Errorf("%s in chunks of %d (-whole file +chunks):\n%s", filepath.Base(name), size, diff)
			}
		}
	}
}

// The plan that is stored holds counts, never a record's problem: its size is
// the same for a file with a handful of rejected records and for one whose
// every record is rejected, and its round trip through JSON keeps it whole.
// Each chunk's Login fingerprints cover exactly the Login IDs of its records.
func TestStoredPlanDoesNotGrowWithRejections(t *testing.T) {
	t.Parallel()
	sizes := map[string]int{}
	for _, invalid := range []float64{0.001, 1} {
		var file bytes.Buffer
		if _, err := usergen.Write(&file, usergen.Options{Rows: 20000, Seed: 41, Invalid: invalid}); err != nil {
			t.Fatal(err)
		}
		plan, sink := planFile(t, file.Bytes(), userfile.Options{Roles: demoRoles}, 500)
		if invalid == 1 && plan.Invalid < plan.Records*9/10 {
			t.Fatalf("%d of %d records invalid: the file does not exercise the rule", plan.Invalid, plan.Records)
		}
		b, err := json.Marshal(plan)
		if err != nil {
			t.Fatal(err)
		}
		// A report's Line and Errors columns, which an import ignores, are
		// in its layout as NoColumn.
		report := plan
		report.Columns = append(slices.Clone(plan.Columns), userrow.NoColumn)
		for _, p := range []userfile.Plan{plan, report} {
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var back userfile.Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, back); diff != "" {
				t.Errorf("plan after a JSON round trip (-before +after):\n%s", diff)
			}
		}
		sizes[fmt.Sprint(invalid)] = len(b)
		for _, c := range sink.chunks {
			fps := make([]uint64, 0, c.Records)
			for _, o := range readOutcomes(t, bytes.NewReader(file.Bytes()[c.Offset:c.Offset+c.Length]), plan.RangeOptions(userfile.Options{Roles: demoRoles}, c, sink.rejected)) {
				if o.Login != "" {
					fps = append(fps, userrow.LoginFingerprint(o.Login))
				}
			}
			for _, fp := range userrow.NewLoginSet(fps) {
				if !c.Logins.Intersects(userrow.LoginSet{fp}) {
					t.Fatalf("chunk %d: a valid record's Login ID is not among the chunk's fingerprints", c.Seq)
				}
			}
		}
	}
	// The counts' digits may differ; the problems are not there.
	if a, b := sizes["0.001"], sizes["1"]; b > a+16 {
		t.Errorf("stored plan: %d bytes for a file almost all valid, %d for one all invalid", a, b)
	}
}
