// Command check validates the deployment artifacts in deploy/ offline, with
// the libraries the real tools use: the Kubernetes API types (strict: unknown
// fields and wrong types fail) after a kustomize build, the compose-spec
// loader and schema, Prometheus' rule and config parsers and PromQL. It then
// checks what those cannot see: references between the manifests, the
// settings against what the binaries accept, and the metric names against
// the ones the service exports.
//
//	go run . [DEPLOY_DIR]   # default: the deploy/ directory above this one
//
// It prints one line per problem and exits 1 when there is any, 2 on a usage
// error. deploy/check.sh runs it.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) > 2 || (len(os.Args) == 2 && strings.HasPrefix(os.Args[1], "-")) {
		fmt.Fprintln(os.Stderr, "usage: check [DEPLOY_DIR]")
		os.Exit(2)
	}
	dir := ".."
	if len(os.Args) == 2 {
		dir = os.Args[1]
	}
	os.Exit(run(dir, os.Stdout))
}

func run(dir string, w io.Writer) int {
	r := Check(dir)
	for _, s := range r.OK {
		fmt.Fprintf(w, "ok    %s\n", s)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "FAIL  %s\n", p)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "%d problem(s)\n", len(r.Problems))
		return 1
	}
	return 0
}

// Report is what Check found.
type Report struct {
	OK       []string // what was checked and passed, one line each
	Problems []string // "file: what is wrong"
}

type reporter struct {
	dir      string
	problems []string
	ok       []string
}

// errorf records a problem with file (relative to the deploy dir).
func (r *reporter) errorf(file, format string, args ...any) {
	if rel, err := filepath.Rel(r.dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = rel
	}
	r.problems = append(r.problems, file+": "+fmt.Sprintf(format, args...))
}

// Check validates every artifact under dir (the deploy/ directory).
func Check(dir string) Report {
	r := &reporter{dir: dir}
	checkK8s(r, filepath.Join(dir, "k8s"))
	checkCompose(r, filepath.Join(dir, "compose.yaml"))
	checkMonitoring(r, filepath.Join(dir, "monitoring"))
	sort.Strings(r.problems)
	return Report{OK: r.ok, Problems: r.problems}
}

// pass records a passed check, unless the file already had problems.
func (r *reporter) pass(file, what string, problemsBefore int) {
	if len(r.problems) == problemsBefore {
		rel, err := filepath.Rel(r.dir, file)
		if err != nil {
			rel = file
		}
		r.ok = append(r.ok, rel+": "+what)
	}
}
