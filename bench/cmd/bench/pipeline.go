package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/usergen"
)

// The pipeline suite times the whole service on one generated file against
// two bulk loaders that do none of its work, runs interleaved:
//
//	(a) psql \copy into the flat table of 27 text columns keyed on the Login
//	    ID (the store suite's baseline, the same code);
//	(b) Debian's pgloader loading the file into the same table;
//	(c) `importctl import --wait`: upload to S3, the import queued in Redis,
//	    two worker processes planning, validating and applying its chunks,
//	    writing the error report and sending the result e-mail. Timed from
//	    importctl's start to its exit, on a fresh tenant each run.
//
// (c) imports the parse suite's file, 1 % of its records invalid. The
// baselines cannot reject records: they load the all-valid file the store
// suite generates (the same records without the defects).
//
// It works in the store suite's database (benchDB, created at the start and
// dropped at the end), a Redis database of its own (pipelineRedisDB) and a
// queue namespace of its own, so that no other queue is touched.

const (
	modePipeCopy = "pipeline:copy"
	modePgloader = "pipeline:pgloader"
	modePipeline = "pipeline:import"
)

var pipelineModeOrder = []string{modePipeCopy, modePgloader, modePipeline}

const (
	pipelineWorkers = 2
	pipelineRedisDB = 11
	// importTimeout bounds one import: importctl --wait waits forever.
	importTimeout = 10 * time.Minute
)

// pipelineFlags are the pipeline suite's settings.
type pipelineFlags struct {
	outDir        string
	runs          int
	rows          int    // records of the generated files
	workers       int    // worker processes; 0: pipelineWorkers
	logStatements string // log_min_duration_statement for the bench database; "" leaves it
}

// pipeline is the state of one pipeline suite.
type pipeline struct {
	f          pipelineFlags
	file       string          // the file (c) imports, 1 % invalid
	valid      string          // the all-valid file the baselines load
	gen        usergen.Summary // what file holds
	bin        string          // where importctl and worker are built
	benchURL   string
	env        []string // importctl's and the workers' environment
	namespace  string
	pgloader   string
	pgVersion  string
	pgCommand  string // pgloader's command file
	workers    []*workerProc
	anyExited  chan struct{} // closed when a worker exits
	s3Keys     []string      // the uploads and reports, deleted at the end
	notifyLags []float64     // seconds from importctl's exit to the e-mail marked sent
	// The CPU of (c)'s runs: importctl's, PostgreSQL's (when it can be read,
	// see serverCPU) and the records they imported; the workers' is read
	// when they exit.
	cpuImportctl, cpuServer time.Duration
	serverKnown             bool
	imported                int
}

func pipelineSuite(ctx context.Context, f pipelineFlags) error {
	if f.rows < 1 {
		return errors.New("-pipeline-rows must be at least 1")
	}
	if os.Getenv("S3_ENDPOINT") == "" {
		return errors.New(`pipeline suite: S3_ENDPOINT is not set; bring the local stack up and export its environment first: eval "$(deploy/local/stack.sh up)"`)
	}
	logMillis, err := logMillis(f.logStatements)
	if err != nil {
		return err
	}
	p := &pipeline{f: f}
	opts := usergen.Options{Rows: f.rows, Seed: 1, Invalid: 0.01}
	file, err := generate(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1.csv", f.rows)), opts)
	if err != nil {
		return err
	}
	valid, err := generate(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1-valid.csv", f.rows)),
		usergen.Options{Rows: f.rows, Seed: 1, Invalid: 0})
	if err != nil {
		return err
	}
	if p.file, err = filepath.Abs(file); err != nil {
		return err
	}
	if p.valid, err = filepath.Abs(valid); err != nil {
		return err
	}
	// The generator is deterministic: writing the file again tells its counts.
	if p.gen, err = usergen.Write(io.Discard, opts); err != nil {
		return err
	}
	if p.pgloader, p.pgVersion, err = ensurePgloader(ctx); err != nil {
		return err
	}
	return p.withStack(ctx, "pipeline", logMillis, func() error { return p.run(ctx) })
}

// withStack builds importctl and worker into a directory of their own and
// runs run in a freshly created bench database (benchDB, on the server of
// DATABASE_URL), which it drops afterwards, as are the built commands.
func (p *pipeline) withStack(ctx context.Context, suite, logMillis string, run func() error) error {
	var err error
	if p.bin, err = os.MkdirTemp("", "bench-"+suite); err != nil {
		return err
	}
	defer os.RemoveAll(p.bin)
	fmt.Fprintf(os.Stderr, "%s: building importctl and worker\n", suite)
	if err := buildCommands(ctx, p.bin, "importctl", "worker"); err != nil {
		return err
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = postgres.DefaultURL
	}
	if p.benchURL, err = withDatabase(base, benchDB); err != nil {
		return err
	}
	if err := recreateDatabase(ctx, base, logMillis); err != nil {
		return err
	}
	err = run()
	if dropErr := dropDatabase(ctx, base); dropErr != nil {
		err = errors.Join(err, dropErr)
	}
	return err
}

// ensurePgloader finds pgloader on PATH, installing Debian's package when it
// is not there, and returns its path and version.
func ensurePgloader(ctx context.Context) (path, version string, err error) {
	if path, err = exec.LookPath("pgloader"); err != nil {
		if err := installPgloader(ctx); err != nil {
			return "", "", err
		}
		if path, err = exec.LookPath("pgloader"); err != nil {
			return "", "", fmt.Errorf("pgloader installed but not on PATH: %w", err)
		}
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("%s --version: %w", path, err)
	}
	version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	version = strings.Trim(strings.TrimPrefix(version, "pgloader version "), `"`)
	// Debian's 3.6.9 calls itself 3.6.7~devel: say which package it is.
	if pkg, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "pgloader").Output(); err == nil && len(pkg) > 0 {
		version = fmt.Sprintf("Debian package %s, reports %s", pkg, version)
	}
	fmt.Fprintf(os.Stderr, "pipeline: %s: %s\n", path, version)
	return path, version, nil
}

// installPgloader runs apt-get install -y pgloader, and when that fails,
// apt-get update and the install again.
func installPgloader(ctx context.Context) error {
	var prefix []string
	if os.Geteuid() != 0 {
		prefix = []string{"sudo", "-n"}
	}
	apt := func(args ...string) error {
		argv := append(slices.Clone(prefix), append([]string{"apt-get"}, args...)...)
		fmt.Fprintf(os.Stderr, "pipeline: %s\n", strings.Join(argv, " "))
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // fixed apt-get commands
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	fmt.Fprintln(os.Stderr, "pipeline: pgloader is not on PATH: installing Debian's package")
	if err := apt("install", "-y", "pgloader"); err == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "pipeline: the install failed; updating the package lists and trying again")
	if err := apt("update"); err != nil {
		return fmt.Errorf("apt-get update (install pgloader yourself: apt-get install -y pgloader): %w", err)
	}
	if err := apt("install", "-y", "pgloader"); err != nil {
		return fmt.Errorf("apt-get install -y pgloader: %w", err)
	}
	return nil
}

// run prepares the bench database and the workers, runs the modes
// interleaved, stops the workers and prints the table.
func (p *pipeline) run(ctx context.Context) error {
	store, err := p.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	db := benchConn{store: store}
	if _, err := store.Pool().Exec(ctx, flatTable()); err != nil {
		return fmt.Errorf("create the flat table: %w", err)
	}
	if err := p.writePgloaderCommand(); err != nil {
		return err
	}
	if p.f.workers <= 0 {
		p.f.workers = pipelineWorkers
	}
	if err := p.startWorkers(ctx, p.f.workers); err != nil {
		return errors.Join(err, p.stopWorkers())
	}
	samples, err := p.measure(ctx, &db, store)
	if stopErr := p.stopWorkers(); stopErr != nil || err != nil {
		p.showWorkerLogs()
		return errors.Join(err, stopErr)
	}
	p.cleanUp(ctx)
	p.printTable(samples)
	return nil
}

// open sets the environment, migrates the bench database with importctl
// and opens it.
func (p *pipeline) open(ctx context.Context) (*postgres.Store, error) {
	if err := p.environ(); err != nil {
		return nil, err
	}
	if err := p.importctl(ctx, "migrate"); err != nil {
		return nil, err
	}
	return postgres.Open(ctx, p.benchURL)
}

// environ sets the environment of importctl and the workers: the caller's
// (the local stack's), with the bench database, a Redis database and a queue
// namespace of the bench's own.
func (p *pipeline) environ() error {
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = config.DefaultRedisURL
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	u.Path = fmt.Sprintf("/%d", pipelineRedisDB)
	p.namespace = "bench-" + randomHex(4)
	p.env = append(os.Environ(),
		"DATABASE_URL="+p.benchURL, "REDIS_URL="+u.String(), "QUEUE_NAMESPACE="+p.namespace,
		"LOG_LEVEL=info", "PGGSSENCMODE=disable")
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// importctl runs an untimed importctl command.
func (p *pipeline) importctl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "importctl"), args...) //nolint:gosec // the command the suite built
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("importctl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// writePgloaderCommand writes pgloader's command file: the all-valid file, a
// header line, comma-separated, fields optionally quoted (quotes doubled,
// line breaks allowed inside them), into the flat table, which the suite
// empties before each run. Blanks are kept as \copy keeps them (pgloader
// trims unquoted ones by default): the table then holds exactly what \copy
// loads.
func (p *pipeline) writePgloaderCommand() error {
	if strings.ContainsAny(p.valid, "'\n") {
		return fmt.Errorf("pgloader: the file's path %q has a quote or a line break", p.valid)
	}
	target, err := pgloaderURL(p.benchURL)
	if err != nil {
		return err
	}
	p.pgCommand = filepath.Join(p.bin, "flat.load")
	cmd := fmt.Sprintf(`LOAD CSV
     FROM '%s' WITH ENCODING utf-8
     INTO %s
          TARGET TABLE flat
     WITH skip header = 1,
          keep unquoted blanks,
          fields optionally enclosed by '"',
          fields escaped by double-quote,
          fields terminated by ','
;
`, p.valid, target)
	return os.WriteFile(p.pgCommand, []byte(cmd), 0o600)
}

// pgloaderURL is dbURL in the form pgloader reads: scheme postgresql, and
// of the parameters only sslmode.
func pgloaderURL(dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	if m := u.Query().Get("sslmode"); m != "" {
		q.Set("sslmode", m)
	}
	u.Scheme, u.RawQuery = "postgresql", q.Encode()
	return u.String(), nil
}

// workerProc is a running worker process.
type workerProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited; err is then set
	err  error
}

// startWorkers starts n worker processes; p.anyExited is closed when one of
// them exits.
func (p *pipeline) startWorkers(ctx context.Context, n int) error {
	p.anyExited = make(chan struct{})
	exited := make(chan struct{}, n)
	for i := range n {
		logName := filepath.Join(p.f.outDir, fmt.Sprintf("pipeline-worker%d.log", i+1))
		logFile, err := os.Create(logName) //nolint:gosec // G304: the suite's own log file, under its output directory
		if err != nil {
			return err
		}
		// Not tied to ctx: the suite stops them with SIGTERM, and waits.
		cmd := exec.CommandContext(context.WithoutCancel(ctx), filepath.Join(p.bin, "worker")) //nolint:gosec // the command the suite built
		cmd.Env = p.env
		cmd.Stdout, cmd.Stderr = logFile, logFile
		err = cmd.Start()
		logFile.Close()
		if err != nil {
			return fmt.Errorf("start worker %d: %w", i+1, err)
		}
		w := &workerProc{cmd: cmd, log: logName, done: make(chan struct{})}
		p.workers = append(p.workers, w)
		go func() {
			w.err = cmd.Wait()
			close(w.done)
			exited <- struct{}{}
		}()
	}
	go func() {
		<-exited
		close(p.anyExited)
	}()
	fmt.Fprintf(os.Stderr, "pipeline: %d workers started (Redis DB %d, QUEUE_NAMESPACE=%s)\n", n, pipelineRedisDB, p.namespace)
	return nil
}

// stopWorkers sends the workers SIGTERM and waits for them to exit (killing
// one that does not within its shutdown time).
func (p *pipeline) stopWorkers() error {
	for _, w := range p.workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	for i, w := range p.workers {
		select {
		case <-w.done:
		case <-time.After(40 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
			errs = append(errs, fmt.Errorf("worker %d ignored SIGTERM for 40 s: killed", i+1))
		}
		if w.err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i+1, w.err))
		}
	}
	return errors.Join(errs...)
}

// workerRSS is each worker's peak RSS in bytes, known once it has exited.
func (p *pipeline) workerRSS() []int64 {
	out := make([]int64, len(p.workers))
	for i, w := range p.workers {
		if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			out[i] = ru.Maxrss << 10
		}
	}
	return out
}

func (p *pipeline) showWorkerLogs() {
	for i, w := range p.workers {
		b, _ := os.ReadFile(w.log)
		if len(b) > 8<<10 {
			b = b[len(b)-8<<10:]
		}
		fmt.Fprintf(os.Stderr, "pipeline: worker %d's log (end):\n%s\n", i+1, b)
	}
}

// measure runs (a), (b) and (c) f.runs times, interleaved.
func (p *pipeline) measure(ctx context.Context, db *benchConn, store *postgres.Store) (map[string][]storeSample, error) {
	samples := map[string][]storeSample{}
	for i := range p.f.runs {
		progress := func(mode string, s storeSample) {
			fmt.Fprintf(os.Stderr, "pipeline run %d/%d: %s: %.3f s\n", i+1, p.f.runs, pipelineLabel(mode, p), s.Seconds)
			samples[mode] = append(samples[mode], s)
		}
		s, err := db.copyBaseline(ctx, p.benchURL, p.valid, p.f.rows)
		if err != nil {
			return nil, fmt.Errorf("\\copy run %d: %w", i+1, err)
		}
		progress(modePipeCopy, s)

		if s, err = p.runPgloader(ctx, db); err != nil {
			return nil, fmt.Errorf("pgloader run %d: %w", i+1, err)
		}
		progress(modePgloader, s)

		// A fresh tenant, into the store as the earlier runs left it, as a
		// new tenant's first import meets a shared store. Not emptied:
		// after a TRUNCATE under the long-lived workers, their user and
		// extension lookups took seconds each (plans made on the emptied
		// tables, statistics of the previous run), which no deployment
		// meets.
		if err := db.checkpoint(ctx); err != nil {
			return nil, err
		}
		server, known := newServerCPU(ctx, store)
		before, _ := server.used()
		if s, err = p.runImport(ctx, store, fmt.Sprintf("bench-pipeline-%d-%s", i+1, randomHex(3)), p.file, p.gen); err != nil {
			return nil, fmt.Errorf("import run %d: %w", i+1, err)
		}
		if after, ok := server.used(); known && ok {
			p.cpuServer += after - before
			p.serverKnown = true
		}
		p.imported += s.Records
		progress(modePipeline, s)
	}
	return samples, nil
}

// runPgloader empties the flat table (untimed), then times the pgloader
// process loading the all-valid file into it, and checks the row count.
func (p *pipeline) runPgloader(ctx context.Context, db *benchConn) (storeSample, error) {
	if err := db.prepare(ctx, "TRUNCATE flat"); err != nil {
		return storeSample{}, err
	}
	st, err := os.Stat(p.valid)
	if err != nil {
		return storeSample{}, err
	}
	root := filepath.Join(p.bin, "pgloader")
	cmd := exec.CommandContext(ctx, p.pgloader, "--root-dir", root, "--logfile", filepath.Join(root, "pgloader.log"), p.pgCommand) //nolint:gosec // pgloader on the suite's command file
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err == nil {
		err = db.checkFlat(ctx, p.f.rows)
	}
	if err != nil {
		return storeSample{}, fmt.Errorf("pgloader: %w; its output:\n%s", err, out.Bytes())
	}
	s := storeSample{storeResult: storeResult{result: result{Seconds: elapsed.Seconds(), Records: p.f.rows, Bytes: st.Size()}}}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10
	}
	return s, nil
}

// importResult is importctl import --format json's output.
type importResult struct {
	ID        int64  `json:"id"`
	State     string `json:"state"`
	Records   int    `json:"records"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
	Report    string `json:"report"`
	Error     string `json:"error"`
}

// runImport gives tenant the demo role catalog (untimed), then times
// importctl import --wait of file (which holds gen) from its start to its
// exit, checks what it reports and waits for the result e-mail to be marked
// sent.
func (p *pipeline) runImport(ctx context.Context, store *postgres.Store, tenant, file string, gen usergen.Summary) (storeSample, error) {
	if err := p.importctl(ctx, append([]string{"roles", "set", "--tenant", tenant}, demoRoles...)...); err != nil {
		return storeSample{}, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return storeSample{}, err
	}
	ictx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.anyExited: // no one would carry the import out
			cancel()
		case <-ictx.Done():
		}
	}()
	cmd := exec.CommandContext(ictx, filepath.Join(p.bin, "importctl"), "import", "--tenant", tenant, //nolint:gosec // the command the suite built
		"--wait", "--format", "json", "--notify", "bench@example.com", file)
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	// Exit status 1: some records were rejected, as the file was made.
	if exit := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1 || ictx.Err() != nil) {
		select {
		case <-p.anyExited:
			err = errors.Join(err, errors.New("a worker exited"))
		default:
		}
		return storeSample{}, fmt.Errorf("importctl import: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var res importResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return storeSample{}, fmt.Errorf("importctl import's output %q: %w", stdout.Bytes(), err)
	}
	valid := gen.Records - gen.Invalid
	if res.State != "finished" || res.Records != gen.Records || res.Created != valid || res.Rejected != gen.Invalid ||
		res.Updated != 0 || res.Unchanged != 0 || res.Report == "" {
		return storeSample{}, fmt.Errorf("importctl import: %+v; want finished, %d records, %d created, %d rejected, a report",
			res, gen.Records, valid, gen.Invalid)
	}
	im, err := store.Import(ctx, tenant, res.ID)
	if err != nil {
		return storeSample{}, err
	}
	for _, u := range []string{im.Source, res.Report} {
		if _, key, err := s3store.ParseURL(u); err == nil {
			p.s3Keys = append(p.s3Keys, key)
		}
	}
	lag, err := waitNotified(ctx, store, tenant, res.ID)
	if err != nil {
		return storeSample{}, err
	}
	p.notifyLags = append(p.notifyLags, lag.Seconds())

	s := storeSample{storeResult: storeResult{result: result{Seconds: elapsed.Seconds(), Records: res.Records, Bytes: st.Size()}}}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10
	}
	p.cpuImportctl += processCPU(cmd.ProcessState)
	return s, nil
}

// waitNotified waits until the import's result e-mail is marked sent and
// returns how long that took from the call.
func waitNotified(ctx context.Context, store *postgres.Store, tenant string, id int64) (time.Duration, error) {
	start := time.Now()
	for {
		sent, err := store.Notified(ctx, tenant, id)
		if err != nil {
			return 0, err
		}
		if sent {
			return time.Since(start), nil
		}
		if time.Since(start) > 30*time.Second {
			return 0, fmt.Errorf("import %d: the result e-mail was not sent within 30 s of the import's end", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cleanUp deletes what the runs left in S3 and the namespace's queues in
// Redis. Failures are only reported.
func (p *pipeline) cleanUp(ctx context.Context) {
	if cfg, err := s3store.ConfigFromEnv(os.Getenv); err == nil {
		if files, err := s3store.New(ctx, cfg); err == nil {
			for _, k := range p.s3Keys {
				if err := files.Delete(ctx, k); err != nil {
					fmt.Fprintln(os.Stderr, "pipeline: clean up:", err)
				}
			}
		}
	}
	var redisURL string
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "REDIS_URL="); ok {
			redisURL = v // the last one wins, as in the workers' environment
		}
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline: clean up:", err)
		return
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	queues, err := insp.Queues()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline: clean up:", err)
		return
	}
	ours := task.Namespace(p.namespace).Queues()
	for _, q := range queues {
		if _, ok := ours[q]; !ok {
			continue
		}
		// DeleteQueue leaves the completed tasks (kept for their retention)
		// and, as the Inspector has no way to remove them, the queue's
		// processed counters.
		_, err := insp.DeleteAllCompletedTasks(q)
		if err == nil {
			err = insp.DeleteQueue(q, true)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pipeline: clean up: queue %s: %v\n", q, err)
		}
	}
}

func pipelineLabel(mode string, p *pipeline) string {
	switch mode {
	case modePipeCopy:
		return "(a) psql `\\copy` into a flat table of 27 text columns, Login ID primary key (baseline)"
	case modePgloader:
		return fmt.Sprintf("(b) pgloader (%s) into the same table", p.pgVersion)
	case modePipeline:
		return fmt.Sprintf("(c) `importctl import --wait`: upload, queue, %d workers, report, e-mail", max(p.f.workers, 1))
	}
	return mode
}

func (p *pipeline) printTable(samples map[string][]storeSample) {
	med := map[string]storeSample{}
	for _, m := range pipelineModeOrder {
		med[m] = medianStore(samples[m])
	}
	rate := func(m string) float64 { return float64(med[m].Records) / med[m].Seconds }
	size := func(name string) float64 {
		st, err := os.Stat(name)
		if err != nil {
			return 0
		}
		return float64(st.Size()) / 1e6
	}
	rss := p.workerRSS()

	fmt.Printf("## Pipeline suite: %d rows; (c) imports %s (%.1f MB, %d invalid), the baselines load %s (%.1f MB, all valid)\n\n",
		p.f.rows, filepath.Base(p.file), size(p.file), p.gen.Invalid, filepath.Base(p.valid), size(p.valid))
	fmt.Println("| mode | median s | rows/s | time vs (a) \\copy | speed vs (b) pgloader | peak RSS MiB |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, m := range pipelineModeOrder {
		s := med[m]
		mem := fmt.Sprintf("%.1f", float64(maxStoreRSS(samples[m]))/(1<<20))
		if m == modePipeline {
			parts := make([]string, len(rss))
			for i, r := range rss {
				parts[i] = fmt.Sprintf("%.0f", float64(r)/(1<<20))
			}
			mem = fmt.Sprintf("workers %s; importctl %s", strings.Join(parts, ", "), mem)
		}
		fmt.Printf("| %s | %.3f | %.0f | %.1f× | %.2f× | %s |\n", pipelineLabel(m, p), s.Seconds, rate(m),
			s.Seconds/med[modePipeCopy].Seconds, rate(m)/rate(modePgloader), mem)
	}
	lags := slices.Clone(p.notifyLags)
	slices.Sort(lags)
	failed, logs := 0, make([]string, len(p.workers))
	for i, w := range p.workers {
		b, _ := os.ReadFile(w.log)
		failed += bytes.Count(b, []byte(`"msg":"task failed"`))
		logs[i] = w.log
	}
	mail := "had been sent by then in every run"
	if last := lags[len(lags)-1]; last >= 0.001 {
		mail = fmt.Sprintf("was marked sent at most %.0f ms after that (median %.0f ms)", 1000*last, 1000*lags[len(lags)/2])
	}
	fmt.Printf("\n(c) is timed from importctl's start (it uploads the file) to its exit, when it sees the import finished "+
		"(it polls every 100 ms); the result e-mail %s. "+
		"Records of (c) count the %d rejected ones. Workers: WORKER_CONCURRENCY %s, CHUNK_SIZE %s; their peak RSS "+
		"is each one's over all %d runs; %d tasks failed and were retried (logs: %s).\n",
		mail, p.gen.Invalid,
		envOr("WORKER_CONCURRENCY", fmt.Sprint(config.DefaultConcurrency)), envOr("CHUNK_SIZE", fmt.Sprint(config.DefaultChunkSize)), p.f.runs, failed, strings.Join(logs, ", "))

	var workerCPU time.Duration
	for _, w := range p.workers {
		workerCPU += processCPU(w.cmd.ProcessState)
	}
	server := "not readable from here (run the bench on the server's host as root or its user)"
	if p.serverKnown {
		server = cpuPerThousand(p.cpuServer, p.imported)
	}
	fmt.Printf("\nCPU per 1,000 records of (c), over its %d runs (the kernel's accounting): the %d workers %s "+
		"(their whole life, idle polling included), importctl %s, PostgreSQL %s (every process of the server "+
		"during (c)'s runs, autovacuum and checkpoints included).\n",
		p.f.runs, len(p.workers), cpuPerThousand(workerCPU, p.imported), cpuPerThousand(p.cpuImportctl, p.imported), server)

	vsCopy := med[modePipeline].Seconds / med[modePipeCopy].Seconds
	vsLoader := med[modePgloader].Seconds / med[modePipeline].Seconds
	fmt.Println("\nGoals:")
	fmt.Println()
	fmt.Printf("- (c) within 8× of (a)'s time: %.1f× — %s\n", vsCopy, passFail(vsCopy <= 8))
	fmt.Printf("- (c) faster than (b): %.2f× pgloader's speed — %s\n\n", vsLoader, passFail(vsLoader > 1))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
