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
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// 1. kill -9 of one of two workers while its chunk transaction is open.
func TestFaultWorkerKilledMidChunk(t *testing.T) {
	bin := build(t)
	environ := faultEnv(t)
	ctl(t, bin, environ, 0, "migrate")
	tenant := newTenant(t, bin, environ)
	path, gen := faultFile(t, 50000, 51)
	watch := watchImports(t)
	victim := start(t, bin, "worker", environ, withApp(t, pgtest.URL(t), "victim"))
	start(t, bin, "worker", environ)

	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	id := queueImport(t, bin, environ, tenant, path)
	waitChunks(t, watch, id, 3)
	deadline := time.Now().Add(60 * time.Second)
	for openTransactions(t, conn, "victim") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the victim never had a chunk transaction open")
		}
	}
	_ = victim.cmd.Process.Kill()
	<-victim.done
	killed := time.Now()
	at := watch(id)
	t.Logf("killed a worker with its chunk transaction open, at %d of %d chunks", at.ChunksDone, at.Chunks)

	r := waitFinished(t, watch, id, 4*time.Minute)
	t.Logf("import finished %s after the kill (asynq hands a dead worker's task on when its lease has expired)",
		time.Since(killed).Round(time.Second))
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
