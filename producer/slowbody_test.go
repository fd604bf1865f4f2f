package producer_test

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

// stall sends the request's head and the first part of its body, then sends
// the rest a few bytes at a time, every interval: it returns how long the
// server took to answer (or hang up) and the status line it sent, if any.
func stall(t *testing.T, srv *httptest.Server, head, first string, interval time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	start := time.Now()
	if _, err := io.WriteString(conn, head+first); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		answered <- line
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line := <-answered:
			return time.Since(start), strings.TrimSpace(line)
		case <-tick.C:
			_, _ = io.WriteString(conn, "xx") // a trickle that never finishes
		case <-timeout:
			return time.Since(start), "(no answer in 5 s)"
		}
	}
}

// A body that trickles in is cut off: a login form must arrive within the
// body timeout, an upload at the minimum rate. Neither holds the producer
// (and an upload its S3 part buffers) for as long as the client likes.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		BodyTimeout: 300 * time.Millisecond, UploadMinRate: 1 << 20}))
	t.Cleanup(srv.Close)
	tok := token(t, store, pgtest.Tenant(t))

	login := "POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
	if took, status := stall(t, srv, login, "token=uit_", 50*time.Millisecond); took > 2*time.Second || !strings.Contains(status, " 400 ") {
		t.Errorf("a login form that trickles in: answered %q after %s, want 400 within about 300 ms", status, took.Round(time.Millisecond))
	}

	upload := "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n" +
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000000\r\n\r\n"
	first := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\n"
	took, status := stall(t, srv, upload, first, 50*time.Millisecond) // 40 bytes a second, under 1 MiB/s
	if took > 3*time.Second || !strings.Contains(status, " 408 ") {
		t.Errorf("an upload that trickles in: answered %q after %s, want 408 within about a second", status, took.Round(time.Millisecond))
	}
}

// An upload at a normal rate is not cut off by the body deadline, nor is the
// next request on the same connection once the deadline has passed.
func TestBodyDeadlineSparesNormalRequests(t *testing.T) {
	t.Parallel()
	e := setup(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: e.store, Files: e.files, Queue: e.queue, Log: zap.NewNop(),
		BodyTimeout: 200 * time.Millisecond, UploadMinRate: 1 << 20}))
	t.Cleanup(srv.Close)
	tok := token(t, e.store, pgtest.Tenant(t))
	ctype, body := multipartFile(t, "users.csv", bytes.Repeat([]byte("a,b\n"), 1<<16), nil)
	if code, out := stacktest.Do(t, http.MethodPost, srv.URL+"/v1/imports", tok, ctype, body); code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, out)
	}
	time.Sleep(300 * time.Millisecond) // past the deadline on a kept-alive connection
	if code, out := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", tok, "", nil); code != http.StatusOK {
		t.Errorf("a request after the upload on the same connection: %d %s", code, out)
	}
}

// pendingUpload starts an upload whose body stays open until the test ends,
// and returns once the producer has had half a second to take it in: the
// test's next request must not reach the caps before it.
func pendingUpload(t *testing.T, base, tok string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := io.WriteString(conn, "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000000\r\n\r\n"+
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\na,b\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
		t.Fatalf("the pending upload was answered: %s", line)
	}
}

// post uploads a small file and returns the status, Retry-After and body.
func post(t *testing.T, base, tok string) (int, string, string) {
	t.Helper()
	ctype, body := multipartFile(t, "users.csv", []byte("a,b\n"), nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/imports", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(out)
}

// until retries f until it reports true, for up to 3 s.
func until(f func() bool) bool {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return false
}

// Uploads in flight are capped per tenant (429) and in all (503), with
// Retry-After and a message saying which cap; the web page's uploads count
// in the same caps.
func TestUploadsInFlightAreCapped(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{},
		UploadsInFlight: 2, TenantUploadsInFlight: 1, WebSessionSecret: "test-secret", Log: zaptest.NewLogger(t)}))
	t.Cleanup(srv.Close)
	a, b, c := pgtest.Tenant(t), pgtest.Tenant(t), pgtest.Tenant(t)
	tokA, tokB, tokC := token(t, store, a), token(t, store, b), token(t, store, c)

	pendingUpload(t, srv.URL, tokA)
	var code int
	var retry, body string
	if !until(func() bool { code, retry, body = post(t, srv.URL, tokA); return code == http.StatusTooManyRequests }) ||
		retry == "" || !strings.Contains(body, "TENANT_UPLOADS_IN_FLIGHT") {
		t.Errorf("a second upload of the tenant: %d, Retry-After %q, %s; want 429 naming TENANT_UPLOADS_IN_FLIGHT", code, retry, body)
	}
	if code, _, body := post(t, srv.URL, tokB); code != http.StatusAccepted {
		t.Errorf("another tenant's upload: %d %s, want 202", code, body)
	}
	pendingUpload(t, srv.URL, tokB)
	if !until(func() bool { code, retry, body = post(t, srv.URL, tokC); return code == http.StatusServiceUnavailable }) ||
		retry == "" || !strings.Contains(body, "UPLOADS_IN_FLIGHT") {
		t.Errorf("a third tenant's upload with two in flight: %d, Retry-After %q, %s; want 503 naming UPLOADS_IN_FLIGHT", code, retry, body)
	}

	// The web page's upload of tenant A waits for the same slot.
	jar := newJar(t)
	csrf := webLogin(t, jar, srv.URL, tokA)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; filename="u.csv"`}})
	_, _ = fw.Write([]byte("a,b\n"))
	_ = mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/ui/upload", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := jar.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(page), "TENANT_UPLOADS_IN_FLIGHT") {
		t.Errorf("a web upload of the tenant with one in flight: %d, Retry-After %q; want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// So does a feed's dry run, which reads a whole file too.
	if _, err := store.CreateFeed(t.Context(), postgres.Feed{Tenant: a, Name: "hr", Prefix: feed.DefaultPrefix(a, "hr"), Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: feed.ModeUpsert, MaxDeactivatePercent: 10, Notify: []string{}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	resp, err = jar.PostForm(srv.URL+"/ui/feeds/hr/dry-run", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(page), "TENANT_UPLOADS_IN_FLIGHT") {
		t.Errorf("a feed's dry run of the tenant with an upload in flight: %d, Retry-After %q; want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// The web pages count against the per-token rate limit of the token the
// session was made with, in the same bucket as its API requests.
func TestPagesCountAgainstTheTokensRate(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		RateLimit: producer.Rate{PerSecond: 0.01, Burst: 3}, WebSessionSecret: "test-secret"}))
	t.Cleanup(srv.Close)
	tok := token(t, store, pgtest.Tenant(t))
	c := newJar(t)
	webLogin(t, c, srv.URL, tok) // its GET /ui/ takes one request
	if code, _ := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", tok, "", nil); code != http.StatusOK {
		t.Fatalf("the API within the burst: %d", code)
	}
	get := func(path string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	if resp := get("/ui/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the third request: %d", resp.StatusCode)
	}
	if resp := get("/ui/upload"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a page over the token's rate: %d, Retry-After %q; want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// newJar is a client with cookies that does not follow redirects.
func newJar(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// webLogin logs c in with tok and returns a page's CSRF token.
func webLogin(t *testing.T, c *http.Client, base, tok string) string {
	t.Helper()
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := csrfField.FindStringSubmatch(page(c.Get(base + "/ui/login"))) //nolint:noctx // a test's request
	if m == nil {
		t.Fatal("no CSRF field on the login page")
	}
	resp, err := c.PostForm(base+"/ui/login", url.Values{"token": {tok}, "csrf": {m[1]}}) //nolint:noctx // a test's request
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	m = csrfField.FindStringSubmatch(page(c.Get(base + "/ui/"))) //nolint:noctx // a test's request
	if m == nil {
		t.Fatal("no CSRF field on the imports page")
	}
	return m[1]
}
