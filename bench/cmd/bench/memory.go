package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/userimport/userimport/internal/usergen"
)

// The memory suite: a file whose every record is invalid, through the queue
// and one worker process, whose peak RSS (plan, chunks and finalize: the
// report of every record, streamed) must not grow with the file's problems.
// The goal is under 160 MiB for any file up to the 512 MiB limit.
const memoryGoalMiB = 160

// memorySuite runs it once per run and prints the row.
func memorySuite(ctx context.Context, f pipelineFlags) error {
	if os.Getenv("S3_ENDPOINT") == "" {
		return errors.New(`memory suite: S3_ENDPOINT is not set; bring the local stack up and export its environment first: eval "$(deploy/local/stack.sh up)"`)
	}
	p := &pipeline{f: f}
	opts := usergen.Options{Rows: f.rows, Seed: 2, Invalid: 1}
	file, err := generate(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed2-invalid.csv", f.rows)), opts)
	if err != nil {
		return err
	}
	if p.file, err = filepath.Abs(file); err != nil {
		return err
	}
	if p.gen, err = usergen.Write(io.Discard, opts); err != nil {
		return err
	}
	p.gen.Defects = nil // only the counts are needed
	return p.withStack(ctx, "memory", "", func() error { return p.runMemory(ctx) })
}

func (p *pipeline) runMemory(ctx context.Context) error {
	store, err := p.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	var secs, rss []float64
	for i := range p.f.runs {
		// A worker of its own for each run: its peak RSS is that import's.
		if err := p.startWorkers(ctx, 1); err != nil {
			return errors.Join(err, p.stopWorkers())
		}
		s, err := p.runImport(ctx, store, fmt.Sprintf("bench-memory-%d", i), p.file, p.gen)
		stopErr := p.stopWorkers()
		if err != nil || stopErr != nil {
			p.showWorkerLogs()
			return errors.Join(err, stopErr)
		}
		peak := p.workerRSS()[0]
		p.workers = nil
		secs, rss = append(secs, s.Seconds), append(rss, float64(peak)/(1<<20))
		fmt.Fprintf(os.Stderr, "memory run %d/%d: %.3f s, worker peak RSS %.1f MiB\n", i+1, p.f.runs, s.Seconds, float64(peak)/(1<<20))
	}
	p.cleanUp(ctx)
	st, err := os.Stat(p.file)
	if err != nil {
		return err
	}
	fmt.Printf("## Memory suite: %d records, every one invalid (%.1f MB), one worker\n\n", p.gen.Records, float64(st.Size())/1e6)
	fmt.Println("| mode | median s | records/s | worker peak RSS MiB (median, max) |")
	fmt.Println("|---|---|---|---|")
	ms, mr := medianOf(secs), medianOf(rss)
	fmt.Printf("| `importctl import --wait`: plan, chunks, report of %d rejected records, e-mail | %.3f | %.0f | %.1f, %.1f |\n\n",
		p.gen.Invalid, ms, float64(p.gen.Records)/ms, mr, maxOf(rss))
	verdict := "pass"
	if maxOf(rss) >= memoryGoalMiB {
		verdict = "FAIL"
	}
	fmt.Printf("Goal: the worker's peak RSS under %d MiB — %.1f MiB at most, %s.\n\n", memoryGoalMiB, maxOf(rss), verdict)
	return nil
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
