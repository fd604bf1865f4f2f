//go:build faults

package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

// Every byte the service's processes write, at LOG_LEVEL=debug, over full
// imports with rejected records (through the API, importctl and an S3
// event), their retries, error reports and result e-mails, holds none of
// the file's personal data (e-mail addresses, password hashes, phone
// numbers, raw records) and none of the secrets (API tokens, the events
// secret, operator credentials).
func TestFaultSecurityLogsHoldNoPersonalData(t *testing.T) {
	bin := build(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	secrets := map[string]string{
		"events secret":     "events-" + stacktest.RandomHex(16),
		"metrics token":     "metrics-" + stacktest.RandomHex(16),
		"viewer password":   "viewer-" + stacktest.RandomHex(12),
		"admin password":    "admin-" + stacktest.RandomHex(12),
		"rejected token":    "uit_" + stacktest.RandomHex(16),
		"S3 secret key":     stacktest.Getenv("AWS_SECRET_ACCESS_KEY"),
		"another API token": "",
	}
	environ := faultEnv(t, "PRODUCER_ADDR=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=debug",
		"S3_EVENTS_SECRET="+secrets["events secret"], "METRICS_TOKEN="+secrets["metrics token"],
		"MONITORING_VIEWER=ops:"+secrets["viewer password"], "MONITORING_ADMIN=root:"+secrets["admin password"])

	// importctl, with its standard error kept with the logs.
	var ctlErr bytes.Buffer
	importctl := func(maxCode int, args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, "importctl"), args...)
		cmd.Env = environ
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		ctlErr.Write(stderr.Bytes())
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("importctl %v: %v", args, err)
		}
		if code := cmd.ProcessState.ExitCode(); code > maxCode {
			t.Fatalf("importctl %v: exit %d: %s", args, code, stderr.Bytes())
		}
		return out
	}
	importctl(0, "migrate")
	tenant := newTenant(t, bin, environ)
	token := strings.TrimSpace(string(importctl(0, "tokens", "create", "--tenant", tenant, "--name", "logs")))
	secrets["API token"] = token
	secrets["another API token"] = strings.TrimSpace(string(importctl(0, "tokens", "create", "--tenant", tenant, "--name", "unused")))
	files := stacktest.S3(t)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		for _, prefix := range []string{"uploads/" + tenant + "/", "incoming/" + tenant + "/"} {
			_ = files.List(ctx, prefix, func(o s3store.Object) error { return files.Delete(ctx, o.Key) })
		}
	})

	procs := []*proc{start(t, bin, "producer", environ)}
	ready := []string{base + "/readyz"}
	for range 2 {
		health := freePort(t)
		procs = append(procs, start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(health)))
		ready = append(ready, fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
	}
	for _, url := range ready {
		waitHTTP(t, url)
	}

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 3000, Seed: 71, Invalid: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// Through the API: upload, error report, retry.
	uploader := stacktest.Address("logs-uploader")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "users.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file.Bytes())
	_ = mw.WriteField("notify", uploader)
	_ = mw.Close()
	code, out := stacktest.Do(t, http.MethodPost, base+"/v1/imports", token, mw.FormDataContentType(), &body)
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, out)
	}
	first := logsWaitAPI(t, base, token, out)
	if first.Rejected != gen.Invalid {
		t.Fatalf("upload: %+v; want %d rejected", first, gen.Invalid)
	}
	if code, out := stacktest.Do(t, http.MethodGet, fmt.Sprintf("%s/v1/imports/%d/errors", base, first.ID), token, "", nil); code != http.StatusOK {
		t.Fatalf("error report: %d %s", code, out)
	}
	code, out = stacktest.Do(t, http.MethodPost, fmt.Sprintf("%s/v1/imports/%d/retry", base, first.ID), token, "", nil)
	if code != http.StatusAccepted {
		t.Fatalf("retry: %d %s", code, out)
	}
	logsWaitAPI(t, base, token, out)

	// Through importctl: an import of the same file (the valid records now
	// unchanged) and its retry, both waited for.
	importer := stacktest.Address("logs-importer")
	var res struct {
		ID       int64  `json:"id"`
		State    string `json:"state"`
		Rejected int    `json:"rejected"`
	}
	if err := json.Unmarshal(importctl(1, "import", "--tenant", tenant, "--wait", "--format", "json", "--notify", importer, path), &res); err != nil ||
		res.State != "finished" || res.Rejected != gen.Invalid {
		t.Fatalf("importctl import: %+v (%v)", res, err)
	}
	importctl(1, "retry", "--tenant", tenant, "--wait", "--format", "json", strconv.FormatInt(res.ID, 10))
	importctl(1, "status", "--tenant", tenant, "--format", "json", strconv.FormatInt(res.ID, 10))

	// Through an S3 event, its secret in the query string as some stores send it.
	key := "incoming/" + tenant + "/users.csv"
	obj, err := files.Put(t.Context(), key, file.Bytes(), "text/csv")
	if err != nil {
		t.Fatal(err)
	}
	event := `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"` + files.Bucket() + `"},"object":{"key":"` + key +
		`","size":` + strconv.Itoa(file.Len()) + `,"eTag":"` + obj.ETag + `"}}}]}`
	code, out = stacktest.Do(t, http.MethodPost, base+"/v1/events/s3?token="+secrets["events secret"], "", "application/json", strings.NewReader(event))
	var queued struct {
		Imports []int64 `json:"imports"`
	}
	if err := json.Unmarshal(out, &queued); err != nil || code != http.StatusOK || len(queued.Imports) != 1 {
		t.Fatalf("s3 event: %d %s", code, out)
	}
	watch := watchImports(t)
	waitFinished(t, watch, queued.Imports[0], 60*time.Second)

	// Requests that fail: a token the service does not know, and operator
	// endpoints with wrong and right credentials.
	if code, _ := stacktest.Do(t, http.MethodGet, base+"/v1/imports", secrets["rejected token"], "", nil); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", code)
	}
	get(t, base+"/metrics", "Bearer "+secrets["metrics token"])
	get(t, base+"/metrics", basicAuth("ops:"+secrets["rejected token"]))

	// Each import's uploader got the result of the import and of its retry.
	waitMail(t, uploader, 2)
	waitMail(t, importer, 2)

	for _, p := range procs {
		if err := p.stop(t, 30*time.Second); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
	var logs strings.Builder
	for _, p := range procs {
		logs.WriteString(p.logs.String())
	}
	logs.WriteString(ctlErr.String())
	// The configuration the processes print (and ran with): secrets masked.
	for _, name := range []string{"producer", "worker"} {
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, name), "--print-config")
		cmd.Env = environ
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s --print-config: %v\n%s", name, err, out)
		}
		logs.Write(out)
	}
	all := logs.String()
	for _, want := range []string{"LOG_LEVEL=debug", `"msg":"chunk applied"`, `"msg":"result e-mail sent"`, "import " + strconv.FormatInt(res.ID, 10) + " queued"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the logs (%d bytes) lack %s: not everything was captured", len(all), want)
		}
	}
	t.Logf("searched %d bytes of output of %d processes and importctl", len(all), len(procs))

	leaks := map[string][]string{}
	for kind, values := range logsPersonalData(t, file.Bytes()) {
		for _, v := range values {
			if strings.Contains(all, v) {
				leaks[kind] = append(leaks[kind], v)
			}
		}
	}
	for name, v := range secrets {
		if v != "" && strings.Contains(all, v) {
			leaks["secret"] = append(leaks["secret"], name)
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(leaks)) {
		v := leaks[kind]
		t.Errorf("%d %s values in the logs, e.g. %q", len(v), kind, v[:min(3, len(v))])
	}
	// The addresses results go to are not the tenant's user data, but they
	// are personal data too.
	for _, addr := range []string{uploader, importer} {
		if strings.Contains(all, addr) {
			t.Errorf("the notify address %s is in the logs", addr)
		}
	}
}

// logsImport is an import as the API shows it.
type logsImport struct {
	ID       int64  `json:"id"`
	State    string `json:"state"`
	Rejected int    `json:"rejected"`
}

// logsWaitAPI follows the import the API answered with until it finishes.
func logsWaitAPI(t *testing.T, base, token string, answer []byte) logsImport {
	t.Helper()
	var im logsImport
	if err := json.Unmarshal(answer, &im); err != nil || im.ID == 0 {
		t.Fatalf("import %s: %v", answer, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for im.State != "finished" {
		if im.State == "rejected" || im.State == "failed" || time.Now().After(deadline) {
			t.Fatalf("import %d: %s", im.ID, im.State)
		}
		time.Sleep(200 * time.Millisecond)
		code, out := stacktest.Do(t, http.MethodGet, fmt.Sprintf("%s/v1/imports/%d", base, im.ID), token, "", nil)
		if err := json.Unmarshal(out, &im); err != nil || code != http.StatusOK {
			t.Fatalf("import: %d %s", code, out)
		}
	}
	return im
}

// logsPersonalData returns the values of a generated file that must never be
// logged, by kind: e-mail addresses (the E-mail column, and Login IDs that
// are addresses), password hashes (as written and as stored), phone numbers
// and URIs (as written and normalised), and raw records: each whole record,
// and each physical line long enough to be more than a word.
func logsPersonalData(t *testing.T, file []byte) map[string][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(file))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	field := func(rec []string, c userrow.Column) string {
		if i, ok := col[c.String()]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	out := map[string][]string{}
	seen := map[string]bool{}
	add := func(kind, v string) {
		if len(v) >= 6 && !seen[v] { // shorter ones are no one's data (and match by chance)
			seen[v] = true
			out[kind] = append(out[kind], v)
		}
	}
	last := r.InputOffset()
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw := strings.TrimRight(string(file[last:r.InputOffset()]), "\r\n")
		last = r.InputOffset()
		add("raw record", raw)
		for line := range strings.SplitSeq(raw, "\n") {
			if line = strings.TrimRight(line, "\r"); len(line) >= 24 {
				add("raw line", line)
			}
		}
		if e := field(rec, userrow.Email); strings.Contains(e, "@") {
			add("e-mail address", e)
		}
		if l := field(rec, userrow.LoginID); strings.Contains(l, "@") {
			add("e-mail address (Login ID)", l)
		}
		if p := field(rec, userrow.Password); p != "" {
			add("password hash", p)
			add("password hash", strings.ToLower(p))
		}
		for entry := range strings.SplitSeq(field(rec, userrow.PhoneMapping), ";") {
			entry = strings.TrimSpace(entry)
			add("phone number", entry)
			add("phone number", strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(entry))
		}
	}
	if len(out["e-mail address"]) == 0 || len(out["password hash"]) == 0 || len(out["phone number"]) == 0 || len(out["raw record"]) == 0 {
		t.Fatalf("the file yields too little to search for: %d kinds", len(out))
	}
	return out
}
