package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/usergen"
)

// The goals suite prints the table of issue 15: every row a whole command as
// a user runs it, timed from its process's start to its exit, against a
// baseline run in the same invocation, medians of -runs interleaved runs.
//
//	store, fresh   importctl import --local of the all-valid file into an emptied
//	               store, vs psql \copy of it into the flat keyed table;
//	store, again   the same import again (every record unchanged), vs the same \copy;
//	pipeline       importctl import --wait with two worker processes, upload to the
//	               result e-mail, of the file with 1 % invalid records, vs \copy;
//	validate       importctl validate --format json, vs a Go program reading the
//	               same bytes with encoding/csv (this binary's encoding/csv child);
//	recovery       a worker killed with SIGKILL mid-import: kill → import finished,
//	               against the goal of 20 s (the other worker carries it on);
//	1M pipeline    importctl import --wait of 1,000,000 records, vs the 100k
//	               pipeline's time; each worker's peak RSS.
const (
	goalCopy     = "goal:copy"
	goalFresh    = "goal:fresh"
	goalAgain    = "goal:again"
	goalCSV      = "goal:encoding/csv"
	goalValidate = "goal:validate"
	goalPipe     = "goal:pipeline"
	goalPipeBig  = "goal:pipeline-1m"
	goalRecovery = "goal:recovery"
)

// goalsFlags are the goals suite's settings.
type goalsFlags struct {
	outDir  string
	runs    int
	rows    int // records of the files of the store, pipeline and validate rows
	bigRows int // records of the large pipeline row's file; 0 leaves the row out
}

// goals is the state of one goals suite: the pipeline's machinery (build,
// environment, workers) and the samples.
type goals struct {
	pipeline
	g       goalsFlags
	big     string          // the large file, 1 % invalid
	bigGen  usergen.Summary // what it holds
	samples map[string][]float64
	rss     map[string][]int64 // the workers' peak RSS of the pipeline rows' worker runs
}

func goalsSuite(ctx context.Context, self string, f goalsFlags) error {
	if f.rows < 1 || f.bigRows < 0 {
		return errors.New("-goal-rows must be at least 1 and -goal-big-rows at least 0")
	}
	if os.Getenv("S3_ENDPOINT") == "" {
		return errors.New(`goals suite: S3_ENDPOINT is not set; bring the local stack up and export its environment first: eval "$(deploy/local/stack.sh up)"`)
	}
	g := &goals{g: f, samples: map[string][]float64{}, rss: map[string][]int64{}}
	g.f = pipelineFlags{outDir: f.outDir, runs: f.runs, rows: f.rows}
	opts := usergen.Options{Rows: f.rows, Seed: 1, Invalid: 0.01}
	var err error
	if g.file, err = generateAbs(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1.csv", f.rows)), opts); err != nil {
		return err
	}
	if g.valid, err = generateAbs(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1-valid.csv", f.rows)),
		usergen.Options{Rows: f.rows, Seed: 1, Invalid: 0}); err != nil {
		return err
	}
	if g.gen, err = usergen.Write(io.Discard, opts); err != nil {
		return err
	}
	if f.bigRows > 0 {
		bigOpts := usergen.Options{Rows: f.bigRows, Seed: 1, Invalid: 0.01}
		if g.big, err = generateAbs(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1.csv", f.bigRows)), bigOpts); err != nil {
			return err
		}
		if g.bigGen, err = usergen.Write(io.Discard, bigOpts); err != nil {
			return err
		}
	}
	return g.withStack(ctx, "goals", "", func() error { return g.run(ctx, self) })
}

func generateAbs(name string, opts usergen.Options) (string, error) {
	file, err := generate(name, opts)
	if err != nil {
		return "", err
	}
	return filepath.Abs(file)
}

func (g *goals) run(ctx context.Context, self string) error {
	store, err := g.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	db := benchConn{store: store}
	if _, err := store.Pool().Exec(ctx, flatTable()); err != nil {
		return fmt.Errorf("create the flat table: %w", err)
	}
	if err := g.importctl(ctx, append([]string{"roles", "set", "--tenant", engineTenant}, demoRoles...)...); err != nil {
		return err
	}
	if err := g.storeAndValidate(ctx, &db, self); err != nil {
		return err
	}
	if err := g.pipelines(ctx, &db, store); err != nil {
		return err
	}
	if err := g.recoveries(ctx, &db, store); err != nil {
		return err
	}
	g.cleanUp(ctx)
	g.print()
	return nil
}

// add keeps a sample and shows it.
func (g *goals) add(run int, mode string, seconds float64) {
	fmt.Fprintf(os.Stderr, "goals run %d/%d: %s: %.3f s\n", run+1, g.g.runs, mode, seconds)
	g.samples[mode] = append(g.samples[mode], seconds)
}

// storeAndValidate runs the rows without workers: \copy, the fresh and the
// unchanged --local import, encoding/csv and validate, interleaved.
func (g *goals) storeAndValidate(ctx context.Context, db *benchConn, self string) error {
	importctl := filepath.Join(g.bin, "importctl")
	local := []string{importctl, "import", "--tenant", engineTenant, "--local", "--format", "json", g.valid}
	for i := range g.g.runs {
		s, err := db.copyBaseline(ctx, g.benchURL, g.valid, g.f.rows)
		if err != nil {
			return fmt.Errorf("\\copy run %d: %w", i+1, err)
		}
		g.add(i, goalCopy, s.Seconds)

		if err := db.prepare(ctx, truncateStore); err != nil {
			return err
		}
		secs, err := g.timeLocal(ctx, local, func(r importResult) bool { return r.Created == g.f.rows })
		if err != nil {
			return fmt.Errorf("fresh import run %d: %w", i+1, err)
		}
		g.add(i, goalFresh, secs)

		// By the next import autovacuum has analysed what the first wrote.
		if err := db.prepare(ctx, "VACUUM ANALYZE"); err != nil {
			return err
		}
		if secs, err = g.timeLocal(ctx, local, func(r importResult) bool { return r.Unchanged == g.f.rows }); err != nil {
			return fmt.Errorf("unchanged import run %d: %w", i+1, err)
		}
		g.add(i, goalAgain, secs)

		cs, err := runCommand(ctx, []string{self, "-child", "encoding/csv", g.file}, g.file)
		if err != nil {
			return fmt.Errorf("encoding/csv run %d: %w", i+1, err)
		}
		g.add(i, goalCSV, cs.Seconds)
		vs, err := runCommand(ctx, []string{importctl, "validate", "--roles", strings.Join(demoRoles, ","), "--format", "json", g.file}, g.file)
		if err != nil {
			return fmt.Errorf("validate run %d: %w", i+1, err)
		}
		g.add(i, goalValidate, vs.Seconds)
	}
	return nil
}

// timeLocal times an importctl import --local --format json and checks its
// counts with ok.
func (g *goals) timeLocal(ctx context.Context, argv []string, ok func(importResult) bool) (float64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the command the suite built, on its file
	cmd.Env = g.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv[1:], " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	var res importResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return 0, fmt.Errorf("importctl's output %q: %w", stdout.Bytes(), err)
	}
	if !ok(res) {
		return 0, fmt.Errorf("importctl import --local: unexpected counts %+v", res)
	}
	return elapsed, nil
}

// pipelines runs the 100k and the large pipeline, interleaved, each into an
// emptied store with two workers started for it (their connections' plans
// made afresh), so that every run meets the same
// store: otherwise each large run meets the millions of users of the runs
// before, whose indexes outgrow the server's buffers. The workers' peak RSS
// is the largest of any run.
func (g *goals) pipelines(ctx context.Context, db *benchConn, store *postgres.Store) error {
	one := func(mode, tenant, file string, gen usergen.Summary) error {
		// No ANALYZE of the emptied tables: statistics saying they are empty
		// would make the planner scan them whole all along the run where
		// autovacuum is off (as on the local PostgreSQL), while after a
		// TRUNCATE it goes by their actual size.
		if err := db.prepare(ctx, truncateStore); err != nil {
			return err
		}
		if err := g.startWorkers(ctx, pipelineWorkers); err != nil {
			return errors.Join(err, g.stopWorkers())
		}
		s, err := g.runImport(ctx, store, tenant, file, gen)
		if stopErr := g.stopWorkers(); stopErr != nil || err != nil {
			g.showWorkerLogs()
			return errors.Join(err, stopErr)
		}
		g.rss[mode] = append(g.rss[mode], g.workerRSS()...)
		g.workers = nil
		g.samples[mode] = append(g.samples[mode], s.Seconds)
		fmt.Fprintf(os.Stderr, "goals: %s: %.3f s\n", mode, s.Seconds)
		return nil
	}
	for i := range g.g.runs {
		if err := one(goalPipe, fmt.Sprintf("bench-goals-%d-%s", i+1, randomHex(3)), g.file, g.gen); err != nil {
			return fmt.Errorf("pipeline run %d: %w", i+1, err)
		}
		if g.big == "" {
			continue
		}
		if err := one(goalPipeBig, fmt.Sprintf("bench-goals-big-%d-%s", i+1, randomHex(3)), g.big, g.bigGen); err != nil {
			return fmt.Errorf("large pipeline run %d: %w", i+1, err)
		}
	}
	return nil
}

// recoveries kills a worker with SIGKILL while it applies chunks, runs by
// run: two fresh workers, an import of the 100k file queued, the kill once a
// few chunks are done, then the time until the import is finished.
func (g *goals) recoveries(ctx context.Context, db *benchConn, store *postgres.Store) error {
	for i := range g.g.runs {
		if err := db.checkpoint(ctx); err != nil {
			return err
		}
		secs, err := g.recovery(ctx, store, fmt.Sprintf("bench-kill-%d-%s", i+1, randomHex(3)))
		if err != nil {
			g.showWorkerLogs()
			return fmt.Errorf("recovery run %d: %w", i+1, err)
		}
		g.add(i, goalRecovery, secs)
	}
	return nil
}

func (g *goals) recovery(ctx context.Context, store *postgres.Store, tenant string) (float64, error) {
	if err := g.importctl(ctx, append([]string{"roles", "set", "--tenant", tenant}, demoRoles...)...); err != nil {
		return 0, err
	}
	if err := g.startWorkers(ctx, pipelineWorkers); err != nil {
		return 0, errors.Join(err, g.stopWorkers())
	}
	defer func() {
		_ = g.stopWorkers()
		g.workers = nil
	}()
	cmd := exec.CommandContext(ctx, filepath.Join(g.bin, "importctl"), "import", "--tenant", tenant, //nolint:gosec // the command the suite built
		"--format", "json", g.file)
	cmd.Env = g.env
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("importctl import: %w", err)
	}
	var res importResult
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("importctl import's output %q: %w", out, err)
	}
	deadline := time.Now().Add(importTimeout)
	var killed time.Time
	for time.Now().Before(deadline) {
		im, err := store.Import(ctx, tenant, res.ID)
		if err != nil {
			return 0, err
		}
		if killed.IsZero() && im.ChunksDone >= 4 {
			// Both workers hold chunks by now: four slots of the tenant's.
			if err := g.workers[0].cmd.Process.Kill(); err != nil {
				return 0, err
			}
			killed = time.Now()
		}
		if im.State == lifecycle.ImportFinished {
			if killed.IsZero() {
				return 0, errors.New("the import finished before the kill: use a larger -goal-rows")
			}
			elapsed := time.Since(killed).Seconds()
			if im.Created != g.gen.Records-g.gen.Invalid || im.Rejected != g.gen.Invalid {
				return 0, fmt.Errorf("after the kill: %d created, %d rejected; want %d and %d",
					im.Created, im.Rejected, g.gen.Records-g.gen.Invalid, g.gen.Invalid)
			}
			return elapsed, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("import %d not finished within %s", res.ID, importTimeout)
}

// print writes the table: each row's medians, its ratio and the goal.
func (g *goals) print() {
	m := func(mode string) float64 { return medianOf(g.samples[mode]) }
	copyS := m(goalCopy)
	fmt.Printf("## Goals of issue 15: whole commands, medians of %d interleaved runs\n\n", g.g.runs)
	fmt.Printf("Files: %s (%d records, all valid: the store rows and \\copy), %s (%d records, %d invalid: validate and the pipeline)",
		filepath.Base(g.valid), g.f.rows, filepath.Base(g.file), g.gen.Records, g.gen.Invalid)
	if g.big != "" {
		fmt.Printf(", %s (%d records, %d invalid)", filepath.Base(g.big), g.bigGen.Records, g.bigGen.Invalid)
	}
	fmt.Print(".\n\n")
	fmt.Println("| measure | median s | baseline | baseline median s | ratio | goal | |")
	fmt.Println("|---|---|---|---|---|---|---|")
	row := func(name string, s float64, base string, b, ratio float64, goal string, ok bool) {
		fmt.Printf("| %s | %.3f | %s | %.3f | %.2f× | %s | %s |\n", name, s, base, b, ratio, goal, passFail(ok))
	}
	fresh, again, pipe := m(goalFresh), m(goalAgain), m(goalPipe)
	row("`importctl import --local`, fresh store", fresh, "psql `\\copy`", copyS, fresh/copyS, "≤ 4.5×", fresh/copyS <= 4.5)
	row("the same file again (every record unchanged)", again, "psql `\\copy`", copyS, again/copyS, "≤ 1.3×", again/copyS <= 1.3)
	row("`importctl import --wait`, 2 workers, upload → e-mail", pipe, "psql `\\copy`", copyS, pipe/copyS, "≤ 5×", pipe/copyS <= 5)
	csv, val := m(goalCSV), m(goalValidate)
	row("`importctl validate --format json` (speed)", val, "encoding/csv program", csv, csv/val, "≥ 0.6×", csv/val >= 0.6)
	rec := m(goalRecovery)
	fmt.Printf("| worker killed (SIGKILL) mid-import: kill → finished | %.3f | — | — | — | ≤ 20 s | %s |\n", rec, passFail(rec <= 20))
	rss := append(slices.Clone(g.rss[goalPipe]), g.rss[goalPipeBig]...)
	maxRSS := slices.Max(rss)
	rssText := fmt.Sprintf("at most %.0f MiB", float64(maxRSS)/(1<<20))
	if g.big != "" {
		big := m(goalPipeBig)
		ok := big/pipe <= 11 && maxRSS < 128<<20
		fmt.Printf("| %d records through the pipeline, 2 workers | %.3f | the %d-record pipeline | %.3f | %.2f× | ≤ 11×; each worker < 128 MiB (%s) | %s |\n",
			g.bigGen.Records, big, g.gen.Records, pipe, big/pipe, rssText, passFail(ok))
	}
	fmt.Println()
	for _, mode := range []string{goalCopy, goalFresh, goalAgain, goalCSV, goalValidate, goalPipe, goalPipeBig, goalRecovery} {
		if xs := g.samples[mode]; len(xs) > 0 {
			parts := make([]string, len(xs))
			for i, x := range xs {
				parts[i] = fmt.Sprintf("%.2f", x)
			}
			fmt.Printf("- %s runs: %s s\n", strings.TrimPrefix(mode, "goal:"), strings.Join(parts, ", "))
		}
	}
	fmt.Println()
}
