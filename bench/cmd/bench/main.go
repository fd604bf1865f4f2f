// Command bench measures the importer against baselines run in the same
// invocation on the same generated files, and prints medians and ratios.
//
// Five suites: goals (the default: the table of issue 15, whole commands
// timed from start to exit against their baselines; see goals.go), parse
// (reading and validating files, against encoding/csv), store (importing into
// PostgreSQL, against psql's \copy and a naive record-by-record importer; see
// store.go), pipeline (the whole service: upload, queue, two worker
// processes, report and e-mail, against psql's \copy and pgloader; see
// pipeline.go) and memory (a file of invalid records and the worker's RSS).
//
// Every measurement runs in a fresh child process (this binary, re-executed),
// so that one run's heap does not weigh on the next and each has its own peak
// RSS. Runs of the different modes are interleaved, so that a noisy neighbour
// slows them all alike.
//
//	go run ./bench/cmd/bench                         # the goals suite, 5 runs (make bench)
//	go run ./bench/cmd/bench -rows 100000 -runs 9
//	go run ./bench/cmd/bench -suite store -runs 3    # needs PostgreSQL (DATABASE_URL)
//	go run ./bench/cmd/bench -suite pipeline -runs 3 # needs the local stack (deploy/local/stack.sh up)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/usergen"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-child" {
		if err := child(context.Background(), os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is what a child reports: the time of the measured work alone
// (process start-up excluded) and how much it processed.
type result struct {
	Seconds float64 `json:"seconds"`
	Records int     `json:"records"`
	Bytes   int64   `json:"bytes"`
	// PeakHeap is the heap the Go runtime obtained from the OS (HeapSys),
	// which never shrinks: the peak. 0 when not known (a whole command).
	PeakHeap uint64 `json:"peak_heap"`
}

// sample is one child's result with the peak RSS the kernel recorded for it.
type sample struct {
	result
	MaxRSS int64 // bytes
}

func run(ctx context.Context) error {
	suiteFlag := flag.String("suite", "goals", "comma-separated suites to run: goals, parse, store, pipeline, memory")
	rowsFlag := flag.String("rows", "100000,1000000", "parse suite: comma-separated sizes of the generated files")
	runs := flag.Int("runs", 5, "runs of each mode per file; medians are reported")
	outDir := flag.String("out", "bench/out", "where the generated files are kept (reused when present)")
	var sf storeFlags
	flag.IntVar(&sf.rows, "store-rows", 100000, "store suite: records of the generated all-valid file")
	flag.IntVar(&sf.chunk, "chunk", 5000, "store suite: records per chunk for the engine")
	flag.IntVar(&sf.naiveRows, "naive-rows", 10000, "store suite: the naive importer runs on the file's first N records")
	flag.StringVar(&sf.logStatements, "log-statements", "", "store and pipeline suites: set log_min_duration_statement (e.g. 0ms) on the bench database, to profile from the server's log")
	var gf goalsFlags
	flag.IntVar(&gf.rows, "goal-rows", 100000, "goals suite: records of the files of the store, validate, pipeline and recovery rows")
	flag.IntVar(&gf.bigRows, "goal-big-rows", 1000000, "goals suite: records of the large pipeline row's file (0: leave the row out)")
	var pf pipelineFlags
	memoryRows := flag.Int("memory-rows", 1000000, "memory suite: records of the generated file, every one invalid")
	flag.IntVar(&pf.workers, "pipeline-workers", pipelineWorkers, "pipeline suite: worker processes")
	flag.IntVar(&pf.rows, "pipeline-rows", 100000, "pipeline suite: records of the generated files (1% invalid for the pipeline, all valid for the baselines)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: bench [-suite goals,parse,store,pipeline,memory] [-rows N,M] [-runs R] [-out DIR] [-chunk N] [-naive-rows N] [-pipeline-rows N] [-memory-rows N] [-goal-rows N] [-goal-big-rows N]\n\n"+
			"Goals suite (the default; make bench): the table of issue 15, every row a whole command against its baseline\n"+
			"in the same run: importctl import --local (fresh, then unchanged) and importctl import --wait with two workers\n"+
			"vs psql \\copy, importctl validate vs an encoding/csv program, a worker killed mid-import (kill -> finished),\n"+
			"and -goal-big-rows records through the pipeline (vs the -goal-rows pipeline; each worker's peak RSS).\n"+
			"Parse suite: encoding/csv (baseline) vs csvfile (parse only) vs userfile (parse + validate + whole-file checks).\n"+
			"Store suite: psql \\copy into a flat table (baseline) vs the chunk engine (new users, then the same file again)\n"+
			"vs a naive importer (one transaction per record).\n"+
			"Pipeline suite: psql \\copy and pgloader (installed with apt-get when missing) into a flat table (baselines)\n"+
			"vs the whole service: importctl import --wait with two worker processes (S3, Redis, PostgreSQL, SMTP:\n"+
			"eval \"$(deploy/local/stack.sh up)\" first).\n"+
			"Memory suite: a file of -memory-rows records, every one invalid, through the queue and one worker: its time and\n"+
			"the worker's peak RSS (the goal: under 160 MiB whatever the file's problems).\n"+
			"The store and pipeline suites create and drop the database %s on the server of DATABASE_URL\n"+
			"(default %s).\n\n", benchDB, postgres.DefaultURL)
		flag.PrintDefaults()
	}
	flag.Parse()
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	suites := map[string]bool{}
	for _, s := range strings.Split(*suiteFlag, ",") {
		switch s = strings.TrimSpace(s); s {
		case "goals", "parse", "store", "pipeline", "memory":
			suites[s] = true
		default:
			return fmt.Errorf("-suite %q: want goals, parse, store, pipeline, memory or a comma-separated list of them", s)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("# bench %s, %d runs per mode, medians\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), *runs)
	if suites["goals"] {
		gf.outDir, gf.runs = *outDir, *runs
		if err := goalsSuite(ctx, self, gf); err != nil {
			return err
		}
	}
	if suites["parse"] {
		if err := parseSuites(ctx, self, *rowsFlag, *outDir, *runs); err != nil {
			return err
		}
	}
	if suites["store"] {
		sf.outDir, sf.runs = *outDir, *runs
		if err := storeSuite(ctx, self, sf); err != nil {
			return err
		}
	}
	if suites["pipeline"] {
		pf.outDir, pf.runs, pf.logStatements = *outDir, *runs, sf.logStatements
		if err := pipelineSuite(ctx, pf); err != nil {
			return err
		}
	}
	if suites["memory"] {
		mf := pipelineFlags{outDir: *outDir, runs: *runs, rows: *memoryRows}
		if err := memorySuite(ctx, mf); err != nil {
			return err
		}
	}
	return nil
}

// parseSuites runs the parse suite on a generated file of each size.
func parseSuites(ctx context.Context, self, rowsFlag, outDir string, runs int) error {
	importctl, err := buildImportctl(ctx)
	if err != nil {
		return err
	}
	for _, s := range strings.Split(rowsFlag, ",") {
		rows, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || rows <= 0 {
			return fmt.Errorf("-rows %q: want positive numbers", s)
		}
		// 1% invalid, as real uploads have some.
		file, err := generate(filepath.Join(outDir, fmt.Sprintf("users-%d-seed1.csv", rows)),
			usergen.Options{Rows: rows, Seed: 1, Invalid: 0.01})
		if err != nil {
			return err
		}
		if err := parseSuite(ctx, self, importctl, file, rows, runs); err != nil {
			return err
		}
	}
	return nil
}

// generate writes the benchmark file name with opts once and reuses it
// afterwards.
func generate(name string, opts usergen.Options) (string, error) {
	if _, err := os.Stat(name); err == nil {
		return name, nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "generating %s\n", name)
	f, err := os.Create(name + ".tmp") //nolint:gosec // G304: the bench's own output file, under its output directory
	if err != nil {
		return "", err
	}
	if _, err := usergen.Write(f, opts); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, os.Rename(name+".tmp", name)
}

// parseSuite compares parsing and validating against encoding/csv.
func parseSuite(ctx context.Context, self, importctl, file string, rows, runs int) error {
	modes := []string{"encoding/csv", "csvfile", "validate", "importctl validate"}
	samples, err := measure(ctx, self, file, modes, runs, map[string][]string{
		"importctl validate": {importctl, "validate", "--roles", "agent,supervisor,admin,auditor", "--format", "json", file},
	})
	if err != nil {
		return err
	}
	base := median(samples["encoding/csv"])
	fmt.Printf("## %d rows (%s, %.1f MB)\n\n", rows, filepath.Base(file), float64(base.Bytes)/1e6)
	fmt.Println("| mode | median s | rows/s | MB/s | peak heap MiB | peak RSS MiB | throughput vs encoding/csv |")
	fmt.Println("|---|---|---|---|---|---|---|")
	records := median(samples["encoding/csv"]).Records
	for _, m := range modes {
		s := median(samples[m])
		s.Records = records
		heap := "—"
		if h := maxHeap(samples[m]); h > 0 {
			heap = fmt.Sprintf("%.1f", float64(h)/(1<<20))
		}
		fmt.Printf("| %s | %.3f | %.0f | %.1f | %s | %.1f | %.0f%% |\n", label(m), s.Seconds,
			float64(s.Records)/s.Seconds, float64(s.Bytes)/1e6/s.Seconds, heap,
			float64(maxRSS(samples[m]))/(1<<20), 100*base.Seconds/s.Seconds)
	}
	fmt.Println()
	return nil
}

func label(mode string) string {
	switch mode {
	case "encoding/csv":
		return "encoding/csv, parse only (baseline)"
	case "csvfile":
		return "csvfile, parse only"
	case "validate":
		return "userfile, parse + validate + whole-file checks"
	case "importctl validate":
		return "`importctl validate` (the whole command, start-up included)"
	}
	return mode
}

// measure runs every mode runs times, interleaved, each in a child process:
// this binary, or the command given for the mode in commands.
func measure(ctx context.Context, self, file string, modes []string, runs int, commands map[string][]string) (map[string][]sample, error) {
	out := make(map[string][]sample)
	for i := range runs {
		for _, m := range modes {
			var (
				s   sample
				err error
			)
			if argv, ok := commands[m]; ok {
				s, err = runCommand(ctx, argv, file)
			} else {
				s, err = runChild(ctx, self, m, file)
			}
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", m, i+1, err)
			}
			out[m] = append(out[m], s)
		}
	}
	return out, nil
}

func runChild(ctx context.Context, self, mode, file string) (sample, error) {
	cmd := exec.CommandContext(ctx, self, "-child", mode, file) //nolint:gosec // G204: this very binary, on a file it generated
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return sample{}, err
	}
	var s sample
	if err := json.Unmarshal(b, &s.result); err != nil {
		return sample{}, fmt.Errorf("child output %q: %w", b, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10 // Linux reports KiB
	}
	return s, nil
}

// runCommand times a whole command (its output discarded). Its record count
// is not known from outside; the file's size is.
func runCommand(ctx context.Context, argv []string, file string) (sample, error) {
	st, err := os.Stat(file)
	if err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the bench's own commands
	cmd.Stderr = os.Stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	// Exit status 1 means some records are invalid: the files are generated so.
	if exit := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		return sample{}, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	s := sample{result: result{Seconds: elapsed.Seconds(), Bytes: st.Size()}}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10
	}
	return s, nil
}

// buildImportctl builds the command the way a user gets it.
func buildImportctl(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "bench-importctl")
	if err != nil {
		return "", err
	}
	if err := buildCommands(ctx, dir, "importctl"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "importctl"), nil
}

// buildCommands builds the repository's commands (cmd/NAME) into dir, the
// way a user gets them.
func buildCommands(ctx context.Context, dir string, names ...string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // G204: go build of the repository's own commands
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s (run bench from the repository's root): %w", strings.Join(names, ", "), err)
	}
	return nil
}

func median(ss []sample) sample {
	sorted := slices.Clone(ss)
	slices.SortFunc(sorted, func(a, b sample) int {
		switch {
		case a.Seconds < b.Seconds:
			return -1
		case a.Seconds > b.Seconds:
			return 1
		}
		return 0
	})
	return sorted[len(sorted)/2]
}

func maxHeap(ss []sample) uint64 {
	var m uint64
	for _, s := range ss {
		m = max(m, s.PeakHeap)
	}
	return m
}

func maxRSS(ss []sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.MaxRSS)
	}
	return m
}

// child runs one measurement and prints its result as JSON.
func child(ctx context.Context, mode string, args []string) error {
	if m, ok := storeModes[mode]; ok {
		return storeChild(ctx, m, args)
	}
	if len(args) != 1 {
		return errors.New("want one file")
	}
	f, err := os.Open(args[0]) //nolint:gosec // the parent passes a file it generated itself
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	measure, ok := modesByName[mode]
	if !ok {
		return fmt.Errorf("unknown mode %q", mode)
	}
	start := time.Now()
	n, err := measure(f, st.Size())
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return json.NewEncoder(os.Stdout).Encode(result{Seconds: elapsed.Seconds(), Records: n, Bytes: st.Size(), PeakHeap: ms.HeapSys})
}

var modesByName = map[string]func(r io.Reader, size int64) (int, error){
	"encoding/csv": parseEncodingCSV,
	"csvfile":      parseCSVFile,
	"validate": func(r io.Reader, size int64) (int, error) {
		if size >= 64<<20 {
			debug.SetGCPercent(15) // as importctl validate does for large files
		}
		return validate(r, size)
	},
}
