//go:build faults

// The fault tests (make test-faults): the service's processes against the
// real services, with something broken on purpose in the middle of an
// import. Each checks the promise to the tenant: every valid record applied
// exactly once, every rejected one reported, nothing else. They use short
// retry, sweep and timeout settings.
package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/faultproxy"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/usergen"
)

// faultEnv is env with the fault tests' short settings.
func faultEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	return slices.Concat(env(t), []string{
		"SWEEP_INTERVAL=2s", "RETRY_BASE_DELAY=300ms", "WORKER_SHUTDOWN_TIMEOUT=5s", "S3_READ_TIMEOUT=2s",
		"CHUNK_SIZE=1000", "LOG_LEVEL=info",
	}, extra)
}

// faultFile writes a generated file of rows records, 1 % invalid.
func faultFile(t *testing.T, rows int, seed int64) (string, usergen.Summary) {
	t.Helper()
	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: rows, Seed: seed, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, gen
}

// newTenant makes a tenant with the roles the generated files use.
func newTenant(t *testing.T, bin string, environ []string) string {
	t.Helper()
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	return tenant
}

// checkExact checks the import's counts against the generated file, and that
// the tenant's users are exactly those of a clean run: the same file imported
// in process into a fresh tenant, exported both ways.
func checkExact(t *testing.T, bin string, environ []string, r importRow, gen usergen.Summary, tenant, path string) {
	t.Helper()
	valid := gen.Records - gen.Invalid
	if r.Records != gen.Records || r.Created != valid || r.Rejected != gen.Invalid || r.Updated != 0 || r.Unchanged != 0 {
		t.Errorf("import: %+v; want %d records, %d created, %d rejected", r, gen.Records, valid, gen.Invalid)
	}
	clean := newTenant(t, bin, environ)
	ctl(t, bin, environ, 1, "import", "--local", "--tenant", clean, path)
	_, got := ctl(t, bin, environ, 0, "export", "--tenant", tenant)
	_, want := ctl(t, bin, environ, 0, "export", "--tenant", clean)
	users, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(users)-1 != valid {
		t.Errorf("%d users exported, want %d", len(users)-1, valid)
	}
	if !bytes.Equal(got, want) {
		t.Error("the users differ from a clean import of the same file")
	}
}

// withApp names a process's PostgreSQL connections, to find its transactions.
func withApp(t *testing.T, dbURL, app string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return "DATABASE_URL=" + u.String()
}

// waitChunks waits until import id has at least n chunks done, and returns
// the time that took.
func waitChunks(t *testing.T, watch func(int64) importRow, id int64, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for r := watch(id); r.ChunksDone < n; r = watch(id) {
		if r.State == "finished" || time.Now().After(deadline) {
			t.Fatalf("import %d: %s with %d chunks done; wanted it running with %d", id, r.State, r.ChunksDone, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recoveryGoal is how long after a worker's kill -9 its import must finish,
// with the shipped CHUNK_HEARTBEAT_INTERVAL and CHUNK_DEAD_AFTER.
const recoveryGoal = 20 * time.Second

// 1. kill -9 of one of two workers while its chunk transaction is open: its
// chunks are handed on when their leases' heartbeats stop, and the import
// finishes within recoveryGoal of the kill, the users as a clean import
// leaves them.
func TestFaultWorkerKilledMidChunk(t *testing.T) {
	bin := build(t)
	// The shipped sweep interval and tenant limit: recovery must come from
	// the chunk leases (CHUNK_* at their defaults), and the dead worker's
	// tenant slots must end as fast.
	environ := faultEnv(t, "SWEEP_INTERVAL="+config.DefaultSweepInterval.String(),
		"TENANT_CHUNK_LIMIT="+strconv.Itoa(config.DefaultTenantChunkLimit))
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 50000, 51)
	watch := watchImports(t)
	victim := start(t, bin, "worker", environ, withApp(t, pgtest.URL(t), "victim"))
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var id int64
	waitOpen := func() {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for openTransactions(t, conn, "victim") == 0 {
			if r := watch(id); (r.Chunks > 0 && r.ChunksDone+2 >= r.Chunks) || time.Now().After(deadline) {
				t.Fatalf("the victim never had a chunk transaction open (import %s, %d of %d chunks)", r.State, r.ChunksDone, r.Chunks)
			}
		}
	}
	// The victim starts alone, so that it surely holds chunks; the second
	// worker joins, and the victim is killed in one of its next transactions.
	id = queueImport(t, bin, environ, tenant, path)
	waitOpen()
	start(t, bin, "worker", environ)
	waitChunks(t, watch, id, 3)
	waitOpen()
	_ = victim.cmd.Process.Kill()
	<-victim.done
	killed := time.Now()
	at := watch(id)
	t.Logf("killed a worker with its chunk transaction open, at %d of %d chunks", at.ChunksDone, at.Chunks)
	if at.ChunksDone == at.Chunks {
		t.Fatal("every chunk was done: the open transaction was not a chunk's")
	}

	r := waitFinished(t, watch, id, 4*time.Minute)
	took := time.Since(killed)
	t.Logf("import finished %s after the kill", took.Round(100*time.Millisecond))
	if took > recoveryGoal {
		t.Errorf("import finished %s after the kill, more than the goal of %s", took.Round(100*time.Millisecond), recoveryGoal)
	}
	checkExact(t, bin, environ, r, gen, tenant, path)
}

// 2. PostgreSQL crashes and comes back mid-import.
func TestFaultPostgresRestarted(t *testing.T) {
	pg := newPostgres(t)
	bin := build(t)
	environ := faultEnv(t, "DATABASE_URL="+pg.url("userimport"))
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 30000, 52)
	for range 2 {
		start(t, bin, "worker", environ)
	}
	watch := watchImportsAt(t, pg.url("userimport"))
	id := queueImport(t, bin, environ, tenant, path)
	waitChunks(t, watch, id, 3)
	pg.crash()
	down := time.Now()
	time.Sleep(2 * time.Second)
	pg.start()
	t.Logf("PostgreSQL down for %s", time.Since(down).Round(100*time.Millisecond))
	back := time.Now()
	watch = watchImportsAt(t, pg.url("userimport"))
	r := waitFinished(t, watch, id, 3*time.Minute)
	t.Logf("import finished %s after PostgreSQL came back", time.Since(back).Round(100*time.Millisecond))
	checkExact(t, bin, environ, r, gen, tenant, path)
}

// 3. Redis restarted without persistence mid-import: the queued tasks are
// gone, and PostgreSQL, the source of truth, has the sweep put them back.
func TestFaultRedisRestartedEmpty(t *testing.T) {
	redis := newRedis(t)
	bin := build(t)
	environ := faultEnv(t, "REDIS_URL="+redis.url())
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 30000, 53)
	for range 2 {
		start(t, bin, "worker", environ)
	}
	watch := watchImports(t)
	to := "faults-" + pgtest.Tenant(t) + "@example.com"
	id := queueImport(t, bin, environ, tenant, path, "--notify", to)
	waitChunks(t, watch, id, 3)
	redis.stop()
	redis.start()
	back := time.Now()
	r := waitFinished(t, watch, id, 2*time.Minute)
	t.Logf("import finished %s after Redis came back empty", time.Since(back).Round(100*time.Millisecond))
	checkExact(t, bin, environ, r, gen, tenant, path)
	waitMail(t, to, 1)
}

// waitMail checks that exactly n e-mails reach to: it waits for them, then a
// little longer for any duplicate.
func waitMail(t *testing.T, to string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(stacktest.Mail(t, to)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d e-mails to %s after 60 s", n, to)
		}
	}
	time.Sleep(2 * time.Second)
	if got := stacktest.Mail(t, to); len(got) != n {
		t.Errorf("%d e-mails to %s, want %d: %+v", len(got), to, n, got)
	}
}

// 4. S3 misbehaving between the workers and the server: throttling, server
// errors, connections reset before and in the middle of a body, a stall
// longer than S3_READ_TIMEOUT, and one request in ten failing throughout.
func TestFaultS3Misbehaving(t *testing.T) {
	proxy, err := faultproxy.NewHTTP(stacktest.Getenv("S3_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	bin := build(t)
	environ := faultEnv(t)
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 20000, 54)
	for _, f := range []faultproxy.Fault{
		{Kind: faultproxy.SlowDown, Count: 3},
		{Kind: faultproxy.Status500, Count: 2},
		{Kind: faultproxy.Reset, Count: 2},
		{Kind: faultproxy.ResetMidBody, Count: 2, Method: http.MethodGet, Header: "Range", AfterBytes: 4096},
		{Kind: faultproxy.Stall, Count: 1, Method: http.MethodGet}, // until the worker gives up (S3_READ_TIMEOUT=2s)
		{Kind: faultproxy.Unavailable, Rate: 0.1, Seed: 54},
	} {
		proxy.Inject(f)
	}
	for range 2 {
		start(t, bin, "worker", environ, "S3_ENDPOINT="+proxy.URL())
	}
	watch := watchImports(t)
	to := "s3faults-" + pgtest.Tenant(t) + "@example.com"
	begin := time.Now()
	id := queueImport(t, bin, environ, tenant, path, "--notify", to) // the upload goes straight to S3
	r := waitFinished(t, watch, id, 3*time.Minute)
	stats := proxy.Stats()
	t.Logf("import finished in %s through %d S3 requests, %v of them broken on purpose",
		time.Since(begin).Round(100*time.Millisecond), stats.Requests, stats.Injected)
	for _, k := range []faultproxy.Kind{faultproxy.SlowDown, faultproxy.Status500, faultproxy.Reset, faultproxy.ResetMidBody,
		faultproxy.Stall, faultproxy.Unavailable} {
		if stats.Injected[k] == 0 {
			t.Errorf("no %s was injected: the test did not break what it says", k)
		}
	}
	checkExact(t, bin, environ, r, gen, tenant, path)
	waitMail(t, to, 1) // the report went to S3 through the proxy too
}

// 5. SMTP down when an import finishes: the import is finished all the same,
// and the e-mail goes out once when SMTP is back.
func TestFaultSMTPDown(t *testing.T) {
	smtp, err := url.Parse(stacktest.Getenv("SMTP_URL"))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.NewTCP(smtp.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	bin := build(t)
	environ := faultEnv(t)
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 3000, 55)
	worker := start(t, bin, "worker", environ, "SMTP_URL=smtp://"+proxy.Addr())
	watch := watchImports(t)
	proxy.Down()
	to := "smtpdown-" + pgtest.Tenant(t) + "@example.com"
	id := queueImport(t, bin, environ, tenant, path, "--notify", to)
	r := waitFinished(t, watch, id, time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(worker.logs.String(), "send result e-mail") {
		if time.Now().After(deadline) {
			t.Fatal("the worker never tried to send the e-mail")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := stacktest.Mail(t, to); len(got) != 0 {
		t.Fatalf("an e-mail went out while SMTP was down: %+v", got)
	}
	proxy.Up()
	back := time.Now()
	waitMail(t, to, 1)
	t.Logf("the e-mail went out %s after SMTP came back (%d connections refused meanwhile)",
		time.Since(back).Round(100*time.Millisecond), proxy.Stats().Refused)
	if after := watch(id); after.State != "finished" {
		t.Errorf("import %s after the e-mail trouble, want finished", after.State)
	}
	checkExact(t, bin, environ, r, gen, tenant, path)
}

// 8. Load: ten tenants' 20,000-record files queued at once for two workers,
// and a small tenant's 100 records queued last. Every import completes with
// exact counts; the throughput and the small tenant's wait are reported.
func TestFaultLoad(t *testing.T) {
	bin := build(t)
	environ := faultEnv(t, "CHUNK_SIZE=2000")
	ctl(t, bin, environ, 0, "migrate")
	for range 2 {
		start(t, bin, "worker", environ)
	}
	watch := watchImports(t)
	type job struct {
		tenant, path string
		gen          usergen.Summary
		id           int64
	}
	jobs := make([]job, 11)
	for i := range jobs {
		rows := 20000
		if i == len(jobs)-1 {
			rows = 100
		}
		jobs[i].tenant = newTenant(t, bin, environ)
		jobs[i].path, jobs[i].gen = faultFile(t, rows, int64(60+i))
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range jobs[:10] {
		wg.Go(func() { jobs[i].id = queueImport(t, bin, environ, jobs[i].tenant, jobs[i].path) })
	}
	wg.Wait()
	small := &jobs[10]
	small.id = queueImport(t, bin, environ, small.tenant, small.path)
	records := 0
	var smallWait time.Duration
	for i := range jobs {
		r := waitFinished(t, watch, jobs[i].id, 5*time.Minute)
		valid := jobs[i].gen.Records - jobs[i].gen.Invalid
		if r.Records != jobs[i].gen.Records || r.Created != valid || r.Rejected != jobs[i].gen.Invalid {
			t.Errorf("tenant %d: %+v; want %d created, %d rejected", i, r, valid, jobs[i].gen.Invalid)
		}
		if n := countUsers(t, jobs[i].tenant); n != valid {
			t.Errorf("tenant %d: %d users, want %d", i, n, valid)
		}
		records += r.Records
		if &jobs[i] == small {
			smallWait = r.FinishedAt.Sub(r.CreatedAt)
		}
	}
	took := time.Since(begin)
	t.Logf("%d records of 11 tenants in %s: %.0f records/s on two workers; the 100-record tenant, queued last, waited %s",
		records, took.Round(100*time.Millisecond), float64(records)/took.Seconds(), smallWait.Round(10*time.Millisecond))
}
