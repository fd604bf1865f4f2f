package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/usergen"
)

// Operator settings of the tests (throwaway values).
const (
	viewerAuth   = "ops:viewer-password-1"
	adminAuth    = "root:admin-password-1"
	metricsToken = "e2e-metrics-token-of-32-characters"
)

// lookup returns the last value of key in environ.
func lookup(environ []string, key string) string {
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// get sends a GET with the Authorization header auth ("" for none).
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func basicAuth(userPassword string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPassword))
}

// sample returns the value of one series in Prometheus text output, e.g.
// `userimport_records_total{outcome="created",tenant="t-1"}`.
func sample(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// An import through a producer and a worker, then their operator endpoints:
// closed without credentials, and the queue and importer series are there
// with the import's exact counts.
func TestOperatorEndpoints(t *testing.T) {
	bin := build(t)
	port, health := freePort(t), freePort(t)
	environ := append(env(t), "PRODUCER_ADDR=127.0.0.1:"+itoa(port), "CHUNK_SIZE=1000",
		"MONITORING_VIEWER="+viewerAuth, "MONITORING_ADMIN="+adminAuth, "METRICS_TOKEN="+metricsToken)
	ctl(t, bin, environ, 0, "migrate")
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	start(t, bin, "producer", environ)
	start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+itoa(health))
	producer, worker := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", health)
	waitHTTP(t, producer+"/readyz")
	waitHTTP(t, worker+"/readyz")

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 3000, Seed: 43, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	to := "ops-" + pgtest.Tenant(t) + "@example.com"
	ctl(t, bin, environ, 1, "import", "--tenant", tenant, "--wait", "--notify", to, path)

	for _, url := range []string{producer + "/metrics", worker + "/metrics", producer + "/monitoring/", producer + "/monitoring/api/queues"} {
		for _, auth := range []string{"", "Bearer wrong", basicAuth("ops:wrong")} {
			if code, _ := get(t, url, auth); code != http.StatusUnauthorized {
				t.Errorf("GET %s with %q = %d, want 401", url, auth, code)
			}
		}
	}
	queue := lookup(environ, "QUEUE_NAMESPACE") + "-default"
	code, queues := get(t, producer+"/monitoring/api/queues", basicAuth(viewerAuth))
	if code != http.StatusOK || !strings.Contains(queues, `"`+queue+`"`) {
		t.Errorf("dashboard API as a viewer: %d %s", code, queues)
	}

	code, prod := get(t, producer+"/metrics", "Bearer "+metricsToken)
	if code != http.StatusOK {
		t.Fatalf("producer /metrics: %d %s", code, prod)
	}
	for _, series := range []string{`asynq_queue_size{queue="` + queue + `"}`, `asynq_tasks_processed_total{queue="` + queue + `"}`} {
		if _, ok := sample(prod, series); !ok {
			t.Errorf("producer /metrics lacks %s", series)
		}
	}
	if n, ok := sample(prod, `userimport_imports{state="finished"}`); !ok || n < 1 {
		t.Errorf("userimport_imports{state=finished} = %v, %t; want at least this import", n, ok)
	}

	code, work := get(t, worker+"/metrics", basicAuth(viewerAuth))
	if code != http.StatusOK {
		t.Fatalf("worker /metrics: %d", code)
	}
	valid := gen.Records - gen.Invalid
	for series, want := range map[string]float64{
		`userimport_records_total{outcome="created",tenant="` + tenant + `"}`:  float64(valid),
		`userimport_records_total{outcome="rejected",tenant="` + tenant + `"}`: float64(gen.Invalid),
		`userimport_chunk_duration_seconds_count{result="applied"}`:            3,
		`userimport_import_duration_seconds_count{kind="upload"}`:              1,
		`userimport_emails_total{result="sent"}`:                               1,
	} {
		if got, ok := sample(work, series); !ok || got != want {
			t.Errorf("worker %s = %v (found %t), want %v", series, got, ok, want)
		}
	}
	if !strings.Contains(work, "userimport_rejects_total{column=") {
		t.Error("worker /metrics has no rejects by column")
	}
}

// /readyz follows Redis: ready, unready (naming redis) while it is down,
// ready again once it is back, on the producer and the worker alike.
func TestReadinessFollowsRedis(t *testing.T) {
	redis := newRedis(t)
	bin := build(t)
	port, health := freePort(t), freePort(t)
	environ := append(env(t), "PRODUCER_ADDR=127.0.0.1:"+itoa(port), "REDIS_URL="+redis.url())
	ctl(t, bin, environ, 0, "migrate")
	start(t, bin, "producer", environ)
	start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+itoa(health))
	urls := []string{fmt.Sprintf("http://127.0.0.1:%d/readyz", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", health)}
	for _, u := range urls {
		waitHTTP(t, u)
	}

	waitFor := func(what string, ok func(code int, body string) bool) time.Duration {
		t.Helper()
		begin := time.Now()
		for _, u := range urls {
			for {
				code, body := get(t, u, "")
				if ok(code, body) {
					break
				}
				if time.Since(begin) > 20*time.Second {
					t.Fatalf("%s: %s still answers %d %s", what, u, code, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		return time.Since(begin)
	}
	redis.stop()
	took := waitFor("Redis stopped", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "redis")
	})
	t.Logf("unready %s after Redis stopped", took.Round(time.Millisecond))
	if code, _ := get(t, strings.Replace(urls[0], "/readyz", "/healthz", 1), ""); code != http.StatusOK {
		t.Errorf("/healthz = %d while Redis is down; the process itself is alive", code)
	}

	redis.start()
	took = waitFor("Redis back", func(code int, _ string) bool { return code == http.StatusOK })
	t.Logf("ready %s after Redis came back", took.Round(time.Millisecond))
}

// SIGTERM to the only worker in the middle of an import: it stops cleanly
// within its shutdown timeout, a new worker carries on, and the import
// completes with exact counts and exactly the valid users in the table.
func TestSigtermLosesNothing(t *testing.T) {
	bin := build(t)
	environ := append(env(t), "CHUNK_SIZE=500", "WORKER_SHUTDOWN_TIMEOUT=10s")
	ctl(t, bin, environ, 0, "migrate")
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	watch := watchImports(t)

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 20000, Seed: 44, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	first := start(t, bin, "worker", environ)
	id := queueImport(t, bin, environ, tenant, path)
	deadline := time.Now().Add(60 * time.Second)
	for r := watch(id); r.ChunksDone < 4; r = watch(id) {
		if time.Now().After(deadline) {
			t.Fatalf("import %d: %d chunks done after 60 s", id, r.ChunksDone)
		}
		time.Sleep(20 * time.Millisecond)
	}
	begin := time.Now()
	if err := first.stop(t, 15*time.Second); err != nil {
		t.Fatalf("worker on SIGTERM: %v", err)
	}
	at := watch(id)
	t.Logf("worker stopped in %s with %d of %d chunks done", time.Since(begin).Round(time.Millisecond), at.ChunksDone, at.Chunks)
	if at.State == "finished" {
		t.Fatal("the import finished before SIGTERM: nothing was in flight to lose")
	}

	start(t, bin, "worker", environ)
	r := waitFinished(t, watch, id, 90*time.Second)
	valid := gen.Records - gen.Invalid
	if r.Records != gen.Records || r.Created != valid || r.Rejected != gen.Invalid || r.Updated != 0 || r.Unchanged != 0 {
		t.Errorf("import after SIGTERM: %+v; want %d records, %d created, %d rejected", r, gen.Records, valid, gen.Invalid)
	}
	if n := countUsers(t, tenant); n != valid {
		t.Errorf("%d users in the table, want %d", n, valid)
	}
}

func countUsers(t *testing.T, tenant string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Fairness: a small tenant's 50-record import, queued behind a large
// tenant's 200,000-record one, finishes while most of the large one is still
// to do. Without TENANT_CHUNK_LIMIT the small import's plan waits behind
// every chunk of the large one, and the large one is nearly done before it.
func TestSmallTenantIsNotHeldByALargeOne(t *testing.T) {
	bin := build(t)
	environ := append(env(t), "TENANT_CHUNK_LIMIT=2", "WORKER_CONCURRENCY=4", "CHUNK_SIZE=2000")
	ctl(t, bin, environ, 0, "migrate")
	large, small := pgtest.Tenant(t), pgtest.Tenant(t)
	for _, tenant := range []string{large, small} {
		ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	}
	watch := watchImports(t)
	dir := t.TempDir()
	write := func(name string, rows int) string {
		t.Helper()
		var file bytes.Buffer
		if _, err := usergen.Write(&file, usergen.Options{Rows: rows, Seed: int64(rows)}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	largeFile, smallFile := write("large.csv", 200000), write("small.csv", 50)
	start(t, bin, "worker", environ)

	largeID := queueImport(t, bin, environ, large, largeFile)
	deadline := time.Now().Add(60 * time.Second)
	for r := watch(largeID); r.State != "running"; r = watch(largeID) { // planned: its 100 chunks are queued
		if time.Now().After(deadline) {
			t.Fatalf("large import still %s after 60 s", r.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	smallID := queueImport(t, bin, environ, small, smallFile)
	s := waitFinished(t, watch, smallID, 60*time.Second)
	l := watch(largeID)
	waited := s.FinishedAt.Sub(s.CreatedAt)
	t.Logf("small import finished %s after it was queued; the large one then had %d of %d chunks done",
		waited.Round(time.Millisecond), l.ChunksDone, l.Chunks)
	if s.Created != 50 {
		t.Errorf("small import created %d users, want 50", s.Created)
	}
	if l.State == "finished" || l.ChunksDone*2 > l.Chunks {
		t.Errorf("the small import waited for most of the large one: %d of %d chunks done, state %s", l.ChunksDone, l.Chunks, l.State)
	}
	if waited > 30*time.Second {
		t.Errorf("the small import took %s, want well under 30 s", waited)
	}
	// The limit costs the large import little: a freed slot calls its next
	// chunk in at once.
	r := waitFinished(t, watch, largeID, 5*time.Minute)
	t.Logf("large import took %s", r.FinishedAt.Sub(r.CreatedAt).Round(time.Millisecond))
	if r.Created != 200000 {
		t.Errorf("large import created %d users, want 200000", r.Created)
	}
}
