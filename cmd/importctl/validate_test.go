package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userfile"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// runCLI runs importctl in-process and returns its exit status and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	code := run(t.Context(), e, args)
	return code, stdout.String(), stderr.String()
}

// Each testdata/x.csv is validated with the demo's role catalog; the JSON
// output and the exit status must match testdata/x.golden.json.
func TestValidateGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, "", "validate", "--roles", "agent,supervisor,admin,auditor", "--format", "json", name)
			var got struct {
				Exit   int             `json:"exit"`
				Output json.RawMessage `json:"output"`
			}
			got.Exit, got.Output = code, json.RawMessage(out)
			pretty, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatalf("output is not JSON (%v): %s %s", err, out, errOut)
			}
			golden := strings.TrimSuffix(name, ".csv") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(pretty, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/importctl -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(pretty)+"\n"); diff != "" {
				t.Errorf("validate %s (-golden +got):\n%s", name, diff)
			}
		})
	}
}

func TestValidateExitStatus(t *testing.T) {
	t.Parallel()
	valid := "User name,Login ID\nA,a\n"
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  int
	}{
		{"valid from stdin", valid, []string{"validate", "-"}, exitOK},
		{"invalid record", "User name,Login ID\nA,a_b\n", []string{"validate", "-"}, exitInvalid},
		{"file rejected", "", []string{"validate", "-"}, exitInvalid},
		{"missing file", "", []string{"validate", "testdata/does-not-exist.csv"}, exitUsage},
		{"no file named", "", []string{"validate"}, exitUsage},
		{"bad flag value", valid, []string{"validate", "--format", "xml", "-"}, exitUsage},
		{"unknown flag", valid, []string{"validate", "--frmat", "json", "-"}, exitUsage},
		{"help", "", []string{"validate", "--help"}, exitOK},
		{"unknown command", "", []string{"valdate"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code, out, errOut := runCLI(t, tt.stdin, tt.args...); code != tt.want {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
		})
	}
}

func TestValidateTable(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "User name,Login ID\nA,a_b\n", "validate", "-")
	want := "standard input: 1 record, 0 valid, 1 invalid (comma-separated, header row)\n\nErrors:\n" +
		"  LINE  COLUMN    PROBLEM\n  2     Login ID  only letters, digits, @ and . are allowed\n"
	if code != exitInvalid || out != want {
		t.Errorf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
}

func TestGen(t *testing.T) {
	t.Parallel()
	code, a, _ := runCLI(t, "", "gen", "--rows", "50", "--seed", "3", "--invalid", "0.1")
	_, b, _ := runCLI(t, "", "gen", "--rows", "50", "--seed", "3", "--invalid", "0.1")
	if code != exitOK || a != b || strings.Count(a, "\n") < 51 {
		t.Fatalf("gen: exit %d, %d lines, reproducible %v", code, strings.Count(a, "\n"), a == b)
	}
	// What gen writes, validate reads: 5 of 50 records are invalid.
	code, out, _ := runCLI(t, a, "validate", "--roles", "agent,supervisor,admin,auditor", "--format", "json", "-")
	var res userfile.Report
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if code != exitInvalid || res.Records != 50 || res.Invalid != 5 {
		t.Errorf("validate of gen output: exit %d, %+v", code, res)
	}
}
