package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

// The store suite imports one all-valid file into PostgreSQL four ways:
//
//	(a) psql \copy into a flat table of 27 text columns: the physical limit;
//	(b) the chunk engine, every user new, two chunk appliers at once;
//	(c) the chunk engine, the same file again: every record unchanged;
//	(d) a naive importer, one transaction per record, on the first records.
//
// It works in a database of its own, benchDB, created at the start and
// dropped at the end, on the server of DATABASE_URL.

// benchDB is the store suite's database; it is dropped and created again.
const benchDB = "userimport_bench"

// Tenants of the store suite: the engine's (b, c) and the naive importer's (d).
const (
	engineTenant = "bench-engine"
	naiveTenant  = "bench-naive"
)

// The store suite's modes, in the order they run and are reported. The
// engine's and the naive importer's run in a child process (storeModes).
const (
	modeCopy  = "store:copy"
	modeFresh = "store:engine-fresh"
	modeAgain = "store:engine-again"
	modeNaive = "store:naive"
)

var storeModeOrder = []string{modeCopy, modeFresh, modeAgain, modeNaive}

// storeFlags are the store suite's settings.
type storeFlags struct {
	outDir        string
	runs          int
	rows          int    // records of the generated file
	chunk         int    // records per chunk
	naiveRows     int    // records the naive importer writes
	logStatements string // log_min_duration_statement for the bench database; "" leaves it
}

// storeResult is what a store child reports: the result and where its time
// went.
type storeResult struct {
	result
	Phases []phase `json:"phases"`
}

// phase is a named part of a measurement's time.
type phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

type storeSample struct {
	storeResult
	MaxRSS int64 // bytes, of the client process
}

func storeSuite(ctx context.Context, self string, f storeFlags) error {
	if f.rows < 1 || f.chunk < 1 || f.naiveRows < 1 {
		return errors.New("-store-rows, -chunk and -naive-rows must be at least 1")
	}
	logMillis, err := logMillis(f.logStatements)
	if err != nil {
		return err
	}
	// Every record valid: the baselines cannot reject any.
	file, err := generate(filepath.Join(f.outDir, fmt.Sprintf("users-%d-seed1-valid.csv", f.rows)),
		usergen.Options{Rows: f.rows, Seed: 1, Invalid: 0})
	if err != nil {
		return err
	}
	if file, err = filepath.Abs(file); err != nil {
		return err
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = postgres.DefaultURL
	}
	benchURL, err := withDatabase(base, benchDB)
	if err != nil {
		return err
	}
	if err := recreateDatabase(ctx, base, logMillis); err != nil {
		return err
	}
	err = storeRuns(ctx, self, file, benchURL, f)
	if dropErr := dropDatabase(ctx, base); dropErr != nil {
		err = errors.Join(err, dropErr)
	}
	return err
}

// storeRuns prepares the bench database and runs the modes, interleaved.
func storeRuns(ctx context.Context, self, file, benchURL string, f storeFlags) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	store, err := postgres.Open(ctx, benchURL)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	for _, t := range []string{engineTenant, naiveTenant} {
		if err := store.SetRoles(ctx, t, demoRoles); err != nil {
			return err
		}
	}
	db := benchConn{store: store}
	if _, err := store.Pool().Exec(ctx, flatTable()); err != nil {
		return fmt.Errorf("create the flat table: %w", err)
	}

	engineArgs := []string{"-tenant", engineTenant, "-chunk", strconv.Itoa(f.chunk)}
	samples := map[string][]storeSample{}
	for i := range f.runs {
		progress := func(mode string, s storeSample) {
			fmt.Fprintf(os.Stderr, "store run %d/%d: %s: %.3f s%s\n", i+1, f.runs, storeLabel(mode, f), s.Seconds, phasesText(s.Phases))
			samples[mode] = append(samples[mode], s)
		}
		// (a) psql \copy into the emptied flat table.
		s, err := db.copyBaseline(ctx, benchURL, file, f.rows)
		if err != nil {
			return fmt.Errorf("\\copy run %d: %w", i+1, err)
		}
		progress(modeCopy, s)

		// (b) every user new, into an empty store.
		if err := db.prepare(ctx, truncateStore); err != nil {
			return err
		}
		if s, err = runStoreChild(ctx, self, modeFresh, file, benchURL, engineArgs...); err != nil {
			return fmt.Errorf("engine run %d: %w", i+1, err)
		}
		progress(modeFresh, s)

		// (c) the same file again. By the next night's feed autovacuum has
		// vacuumed and analysed the tables the first import filled.
		if err := db.prepare(ctx, "VACUUM ANALYZE"); err != nil {
			return err
		}
		if s, err = runStoreChild(ctx, self, modeAgain, file, benchURL, engineArgs...); err != nil {
			return fmt.Errorf("engine again run %d: %w", i+1, err)
		}
		progress(modeAgain, s)

		// (d) the naive importer on the first records, into an empty store.
		if err := db.prepare(ctx, truncateStore); err != nil {
			return err
		}
		if s, err = runStoreChild(ctx, self, modeNaive, file, benchURL,
			"-tenant", naiveTenant, "-rows", strconv.Itoa(f.naiveRows)); err != nil {
			return fmt.Errorf("naive run %d: %w", i+1, err)
		}
		progress(modeNaive, s)
	}
	printStoreTable(file, st.Size(), f, samples)
	return nil
}

// truncateStore empties what imports write; the tenants and their role
// catalogs stay. CASCADE empties the tables that reference imports as well
// (a dry run's import_would_create, and whatever a later migration adds).
const truncateStore = `TRUNCATE user_roles, user_groups, user_extensions, users, groups, extensions,
	import_rejects, import_chunks, imports CASCADE`

// benchConn runs the untimed statements between measurements.
type benchConn struct {
	store      *postgres.Store
	noCheckpts bool // CHECKPOINT was refused (not a superuser or pg_checkpoint)
}

// prepare runs stmt, then a checkpoint, so that the writes of one measurement
// are not flushed during the next one.
func (b *benchConn) prepare(ctx context.Context, stmt string) error {
	if _, err := b.store.Pool().Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", strings.Fields(stmt)[0], err)
	}
	return b.checkpoint(ctx)
}

// checkpoint runs a CHECKPOINT, unless the server refused one before.
func (b *benchConn) checkpoint(ctx context.Context) error {
	if b.noCheckpts {
		return nil
	}
	if _, err := b.store.Pool().Exec(ctx, "CHECKPOINT"); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" { // insufficient_privilege
			return fmt.Errorf("CHECKPOINT: %w", err)
		}
		fmt.Fprintln(os.Stderr, "store: CHECKPOINT refused (not a superuser); runs may be noisier")
		b.noCheckpts = true
	}
	return nil
}

// flatTable is the \copy baseline's table: the 27 columns as text, the Login
// ID the primary key.
func flatTable() string {
	cols := make([]string, 0, userrow.NumColumns)
	for c, name := range userrow.Names() {
		col := pgx.Identifier{name}.Sanitize() + " text"
		if userrow.Column(c) == userrow.LoginID {
			col += " PRIMARY KEY"
		}
		cols = append(cols, col)
	}
	return "CREATE TABLE flat (" + strings.Join(cols, ", ") + ")"
}

// copyBaseline is the (a) of the store and pipeline suites: it empties the
// flat table (untimed), times psql's \copy of file into it and checks that the
// table then holds rows records.
func (b *benchConn) copyBaseline(ctx context.Context, benchURL, file string, rows int) (storeSample, error) {
	st, err := os.Stat(file)
	if err != nil {
		return storeSample{}, err
	}
	if err := b.prepare(ctx, "TRUNCATE flat"); err != nil {
		return storeSample{}, err
	}
	s, err := runCopy(ctx, benchURL, file)
	if err != nil {
		return storeSample{}, err
	}
	if err := b.checkFlat(ctx, rows); err != nil {
		return storeSample{}, err
	}
	s.Records, s.Bytes = rows, st.Size()
	return s, nil
}

// checkFlat checks that the flat table holds rows rows.
func (b *benchConn) checkFlat(ctx context.Context, rows int) error {
	var n int
	if err := b.store.Pool().QueryRow(ctx, "SELECT count(*) FROM flat").Scan(&n); err != nil {
		return err
	}
	if n != rows {
		return fmt.Errorf("the flat table holds %d rows after the load, want %d", n, rows)
	}
	return nil
}

// runCopy times psql loading the file into the flat table, the whole process.
func runCopy(ctx context.Context, dbURL, file string) (storeSample, error) {
	copyCmd := `\copy flat FROM '` + strings.ReplaceAll(file, "'", "''") + `' WITH (FORMAT csv, HEADER true)`
	cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbURL, "-c", copyCmd) //nolint:gosec // psql on the bench database and the file the suite generated
	// libpq tries GSSAPI first, which costs ~0.5 s per connection on hosts
	// without Kerberos (see deploy/local/stack.sh).
	cmd.Env = append(os.Environ(), "PGGSSENCMODE=disable")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return storeSample{}, fmt.Errorf("psql: %w", err)
	}
	s := storeSample{storeResult: storeResult{result: result{Seconds: time.Since(start).Seconds()}}}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10
	}
	return s, nil
}

// runStoreChild runs a store mode in a child process on the bench database.
func runStoreChild(ctx context.Context, self, mode, file, dbURL string, args ...string) (storeSample, error) {
	cmd := exec.CommandContext(ctx, self, append([]string{"-child", mode, file}, args...)...) //nolint:gosec // this very binary
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return storeSample{}, err
	}
	var s storeSample
	if err := json.Unmarshal(b, &s.storeResult); err != nil {
		return storeSample{}, fmt.Errorf("child output %q: %w", b, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSS = ru.Maxrss << 10
	}
	return s, nil
}

func storeLabel(mode string, f storeFlags) string {
	switch mode {
	case modeCopy:
		return "(a) psql `\\copy` into a flat table of 27 text columns (baseline)"
	case modeFresh:
		return "(b) engine, all new users, 2 appliers"
	case modeAgain:
		return "(c) engine, the same file again (all unchanged), 2 appliers"
	case modeNaive:
		return fmt.Sprintf("(d) naive: one transaction per record, first %d records", f.naiveRows)
	}
	return mode
}

func printStoreTable(file string, size int64, f storeFlags, samples map[string][]storeSample) {
	med := map[string]storeSample{}
	for _, m := range storeModeOrder {
		med[m] = medianStore(samples[m])
	}
	rate := func(m string) float64 { return float64(med[m].Records) / med[m].Seconds }
	copyTime, naiveRate := med[modeCopy].Seconds, rate(modeNaive)

	fmt.Printf("## Store suite: %d rows (%s, %.1f MB), chunks of %d records\n\n", f.rows, filepath.Base(file), float64(size)/1e6, f.chunk)
	fmt.Println("| mode | median s | rows/s | client peak RSS MiB | time vs (a) | speed vs (d) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, m := range storeModeOrder {
		s := med[m]
		vsCopy, vsNaive := "—", "—"
		if m != modeNaive {
			vsCopy = fmt.Sprintf("%.1f× \\copy", s.Seconds/copyTime)
		}
		if m == modeFresh || m == modeAgain {
			vsNaive = fmt.Sprintf("%.0f× naive", rate(m)/naiveRate)
		}
		fmt.Printf("| %s | %.3f | %.0f | %.1f | %s | %s |\n", storeLabel(m, f), s.Seconds, rate(m),
			float64(maxStoreRSS(samples[m]))/(1<<20), vsCopy, vsNaive)
	}
	fmt.Printf("\n(d) writes only the first %d records, so it is compared by rows/s, not by time.\n", med[modeNaive].Records)
	fmt.Println("Where the time goes (medians of each phase):")
	fmt.Println()
	for _, m := range []string{modeFresh, modeAgain, modeNaive} {
		if phases := medianPhases(samples[m]); len(phases) > 0 {
			fmt.Printf("- %s: %s\n", storeLabel(m, f), strings.Trim(phasesText(phases), " ()"))
		}
	}

	fresh, again := med[modeFresh].Seconds/copyTime, med[modeAgain].Seconds/copyTime
	speedup := rate(modeFresh) / naiveRate
	fmt.Println("\nGoals:")
	fmt.Println()
	fmt.Printf("- (b) within 5× of (a)'s time: %.1f× — %s\n", fresh, passFail(fresh <= 5))
	fmt.Printf("- (c) within 2× of (a)'s time: %.1f× — %s\n", again, passFail(again <= 2))
	fmt.Printf("- (b) at least 20× faster than (d) in rows/s: %.0f× — %s\n\n", speedup, passFail(speedup >= 20))
}

func passFail(ok bool) string {
	if ok {
		return "**pass**"
	}
	return "**FAIL**"
}

func phasesText(ps []phase) string {
	if len(ps) == 0 {
		return ""
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s %.3f s", p.Name, p.Seconds)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func medianStore(ss []storeSample) storeSample {
	sorted := slices.Clone(ss)
	slices.SortFunc(sorted, func(a, b storeSample) int { return cmpFloat(a.Seconds, b.Seconds) })
	return sorted[len(sorted)/2]
}

// medianPhases takes the median of each phase on its own.
func medianPhases(ss []storeSample) []phase {
	if len(ss) == 0 {
		return nil
	}
	out := make([]phase, len(ss[0].Phases))
	for i, p := range ss[0].Phases {
		var xs []float64
		for _, s := range ss {
			if i < len(s.Phases) {
				xs = append(xs, s.Phases[i].Seconds)
			}
		}
		slices.Sort(xs)
		out[i] = phase{Name: p.Name, Seconds: xs[len(xs)/2]}
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func maxStoreRSS(ss []storeSample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.MaxRSS)
	}
	return m
}

// logMillis turns the -log-statements flag into milliseconds for
// recreateDatabase; "" stays "".
func logMillis(flag string) (string, error) {
	if flag == "" {
		return "", nil
	}
	d, err := time.ParseDuration(flag)
	if err != nil {
		return "", fmt.Errorf("-log-statements: %w", err)
	}
	return strconv.FormatInt(d.Milliseconds(), 10), nil
}

// withDatabase returns the URL rawURL with its database replaced by db.
func withDatabase(rawURL, db string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL: the store suite wants a postgres://user@host:port/database URL")
	}
	if strings.TrimPrefix(u.Path, "/") == db {
		return "", fmt.Errorf("DATABASE_URL names %s, the database the store suite drops: name another one", db)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// adminConn connects to DATABASE_URL's database, or to the server's
// "postgres" database when that one does not exist (yet).
func adminConn(ctx context.Context, base string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, base)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		var other string
		if other, err = withDatabase(base, "postgres"); err != nil {
			return nil, err
		}
		conn, err = pgx.Connect(ctx, other)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (DATABASE_URL): %w", err)
	}
	return conn, nil
}

// recreateDatabase drops the bench database and creates it empty; with
// logMillis, the server logs its statements slower than that.
func recreateDatabase(ctx context.Context, base, logMillis string) error {
	conn, err := adminConn(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	stmts := []string{"DROP DATABASE IF EXISTS " + benchDB + " WITH (FORCE)", "CREATE DATABASE " + benchDB}
	if logMillis != "" {
		stmts = append(stmts, "ALTER DATABASE "+benchDB+" SET log_min_duration_statement = "+logMillis)
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func dropDatabase(ctx context.Context, base string) error {
	conn, err := adminConn(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+benchDB+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", benchDB, err)
	}
	return nil
}
