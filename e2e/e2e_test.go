// Package e2e drives the built binaries as a user does, against the real
// services make test provides: PostgreSQL, Redis, versitygw and mailpit.
package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/userimport/userimport/internal/apidoc/apidoctest"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

// Every response of the producer's /v1/ routes is checked against its
// OpenAPI document (apidoctest).
func TestMain(m *testing.M) { os.Exit(apidoctest.Main(func() int { return pgtest.Main(m) })) }

// env is the binaries' environment: the stack's, with the test database and a
// Redis database of the test's own (12), so that no other queue is touched.
func env(t *testing.T) []string {
	t.Helper()
	out := os.Environ()
	for k := range stacktest.Local {
		out = append(out, k+"="+stacktest.Getenv(k))
	}
	redis, err := url.Parse(stacktest.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	redis.Path = "/12"
	// A queue namespace of the test's own: another test run sharing this
	// Redis must not take its tasks.
	return append(out, "DATABASE_URL="+pgtest.URL(t), "REDIS_URL="+redis.String(), "LOG_LEVEL=warn", "QUEUE_NAMESPACE=e2e-"+stacktest.RandomHex(4))
}

// build compiles importctl and worker once per test binary.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", dir+"/", "../cmd/importctl", "../cmd/worker", "../cmd/producer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

// The acceptance run: a 20,000-record file with 1 % invalid records, imported
// through the queue by two worker processes. Afterwards the users table holds
// exactly the valid records, the error report lists exactly the invalid ones
// with their lines, one e-mail went out with the counts and the report, and
// importctl status shows the same counts.
func TestImportWithTwoWorkers(t *testing.T) {
	bin := build(t)
	environ := env(t)
	run := func(args ...string) (int, []byte) {
		t.Helper()
		return ctl(t, bin, environ, 1, args...)
	}
	run("migrate")
	tenant := pgtest.Tenant(t)
	run("roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")

	for range 2 {
		start(t, bin, "worker", environ)
	}

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 20000, Seed: 41, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	to := "e2e-" + stacktest.RandomHex(6) + "@example.com"
	code, out := run("import", "--tenant", tenant, "--wait", "--format", "json", "--notify", to, path)
	var res importResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("import output %q: %v", out, err)
	}
	valid := gen.Records - gen.Invalid
	if code != 1 || res.State != "finished" || res.Records != gen.Records || res.Created != valid || res.Rejected != gen.Invalid {
		t.Fatalf("import: exit %d, %+v; want finished, %d created, %d rejected", code, res, valid, gen.Invalid)
	}

	// The users table holds exactly the valid records.
	_, export := run("export", "--tenant", tenant)
	exported, err := csv.NewReader(bytes.NewReader(export)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(exported)-1 != valid {
		t.Errorf("%d users exported, want %d", len(exported)-1, valid)
	}

	// The error report lists exactly the invalid records, at their lines.
	files := stacktest.S3(t)
	_, key, err := s3store.ParseURL(res.Report)
	if err != nil {
		t.Fatal(err)
	}
	body, err := files.OpenRange(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	report, err := csv.NewReader(body).ReadAll()
	_ = body.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkReportAndMail(t, report, gen, to)

	// importctl status shows the same.
	_, status := run("status", "--tenant", tenant, "--format", "json", strconv.FormatInt(res.ID, 10))
	if !bytes.Equal(bytes.TrimSpace(status), bytes.TrimSpace(out)) {
		t.Errorf("status %s\ndiffers from the import's %s", status, out)
	}

	// It groups the rejections by reason: every rejected record has one at
	// least, and the table lists them.
	grouped := 0
	for _, r := range res.Rejections {
		grouped += r.Records
	}
	if len(res.Rejections) < 2 || grouped < res.Rejected {
		t.Errorf("rejections by reason %+v: %d records in all, want several reasons and at least the %d rejected", res.Rejections, grouped, res.Rejected)
	}
	if _, table := run("status", "--tenant", tenant, strconv.FormatInt(res.ID, 10)); len(res.Rejections) > 0 &&
		!bytes.Contains(table, []byte("rejected, by reason:\n  "+strconv.Itoa(res.Rejections[0].Records)+" records: ")) {
		t.Errorf("status lists no reasons:\n%s", table)
	}
}

func asExit(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError) //nolint:errorlint // exec returns it unwrapped
	if ok {
		*target = ee
	}
	return ok
}

// The acceptance run through the HTTP API: the producer binary takes a
// 20,000-record upload (1 % invalid) with a tenant's token, two worker
// processes carry it out; the API then shows the counts and serves the error
// report, which lists exactly the invalid records at their lines, and one
// e-mail went out.
func TestImportThroughTheAPI(t *testing.T) {
	bin := build(t)
	port := freePort(t)
	environ := append(env(t), "PRODUCER_ADDR=127.0.0.1:"+strconv.Itoa(port))
	importctl := func(args ...string) []byte {
		t.Helper()
		_, out := ctl(t, bin, environ, 0, args...)
		return out
	}
	importctl("migrate")
	tenant := pgtest.Tenant(t)
	importctl("roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	token := strings.TrimSpace(string(importctl("tokens", "create", "--tenant", tenant, "--name", "e2e")))
	// Each process is ready when its /readyz says PostgreSQL, Redis and S3
	// answer.
	ready := []string{fmt.Sprintf("http://127.0.0.1:%d/readyz", port)}
	start(t, bin, "producer", environ)
	for range 2 {
		health := freePort(t)
		start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(health))
		ready = append(ready, fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, url := range ready {
		waitHTTP(t, url)
	}

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 20000, Seed: 42, Invalid: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "users.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file.Bytes())
	to := "api-" + stacktest.RandomHex(6) + "@example.com"
	_ = mw.WriteField("notify", to)
	_ = mw.Close()
	code, out := stacktest.Do(t, http.MethodPost, base+"/v1/imports", token, mw.FormDataContentType(), &body)
	var view struct {
		ID       int64  `json:"id"`
		State    string `json:"state"`
		Created  int    `json:"created"`
		Rejected int    `json:"rejected"`
		Progress int    `json:"progress"`
		Links    struct {
			Errors string `json:"errors"`
		} `json:"links"`
	}
	if err := json.Unmarshal(out, &view); err != nil || code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for view.State != "finished" {
		if time.Now().After(deadline) {
			t.Fatalf("import still %s after 60 s", view.State)
		}
		time.Sleep(200 * time.Millisecond)
		code, out = stacktest.Do(t, http.MethodGet, fmt.Sprintf("%s/v1/imports/%d", base, view.ID), token, "", nil)
		if err := json.Unmarshal(out, &view); err != nil || code != http.StatusOK {
			t.Fatalf("status: %d %s", code, out)
		}
	}
	if view.Created != gen.Records-gen.Invalid || view.Rejected != gen.Invalid || view.Progress != 100 || view.Links.Errors == "" {
		t.Fatalf("finished import: %s", out)
	}
	code, report := stacktest.Do(t, http.MethodGet, base+view.Links.Errors, token, "", nil)
	rows, err := csv.NewReader(bytes.NewReader(report)).ReadAll()
	if err != nil || code != http.StatusOK {
		t.Fatalf("error report: %d (%v)", code, err)
	}
	checkReportAndMail(t, rows, gen, to)
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// checkReportAndMail checks that the error report lists exactly the generated
// defects, at their lines, and that exactly one e-mail with the counts and the
// report reached to.
func checkReportAndMail(t *testing.T, report [][]string, gen usergen.Summary, to string) {
	t.Helper()
	var lines, want []int
	for _, row := range report[1:] {
		n, _ := strconv.Atoi(row[userrow.NumColumns])
		lines = append(lines, n)
	}
	for _, d := range gen.Defects {
		want = append(want, d.Line)
	}
	if !slices.Equal(lines, want) {
		t.Errorf("report lines %v, want %v", lines, want)
	}
	msgs := stacktest.Mail(t, to)
	if len(msgs) != 1 || msgs[0].Attachments != 1 || !strings.Contains(msgs[0].Subject, fmt.Sprintf("%d rejected", gen.Invalid)) {
		t.Errorf("e-mails to %s: %+v", to, msgs)
	}
}
