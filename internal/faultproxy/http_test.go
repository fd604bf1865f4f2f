package faultproxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/faultproxy"
)

// stream returns n bytes of a fixed pseudo-random stream.
func stream(n int64) io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{}), n) }

func hashOf(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// echo answers with what it received in X-Got-* headers, and with a body of
// ?size= bytes of stream (with a Content-Length unless ?chunked is set).
func echo(hits *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h := sha256.New()
		_, _ = io.Copy(h, r.Body)
		for k, v := range map[string]string{
			"Method": r.Method, "Path": r.URL.EscapedPath(), "Query": r.URL.RawQuery, "Host": r.Host,
			"Authorization": r.Header.Get("Authorization"), "Date": r.Header.Get("X-Amz-Date"),
			"Body": hex.EncodeToString(h.Sum(nil)),
		} {
			w.Header().Set("X-Got-"+k, v)
		}
		size, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if !r.URL.Query().Has("chunked") {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		} else {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
		}
		_, _ = io.Copy(w, stream(size))
	}
}

// newHTTP starts backend and a proxy in front of it.
func newHTTP(t *testing.T, backend http.Handler) *faultproxy.HTTP {
	t.Helper()
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	p, err := faultproxy.NewHTTP(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// fresh is a client that opens a new connection for each request, so that
// the transport never retries a request on another connection by itself.
func fresh(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, header ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.Do(req)
}

// status makes a request and returns its status, reading the body.
func status(t *testing.T, c *http.Client, method, url string, header ...string) int {
	t.Helper()
	res, err := do(t, c, method, url, nil, header...)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func TestHTTPPassThrough(t *testing.T) {
	t.Parallel()
	p := newHTTP(t, echo(new(atomic.Int64)))
	proxyHost := strings.TrimPrefix(p.URL(), "http://")
	tests := []struct {
		name, method, target, host, body string
	}{
		{"list", http.MethodGet, "/userimport?list-type=2&prefix=imports%2Fa%20b", "", ""},
		{"escaped key", http.MethodGet, "/userimport/a%20b/%C3%A9t%C3%A9+%2B.csv", "", ""},
		{"upload part", http.MethodPut, "/userimport/k?partNumber=3&uploadId=u%2F1", "s3.example.test:9000", "part body"},
		{"delete", http.MethodDelete, "/userimport/k", "s3.example.test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, p.URL()+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab")
			req.Header.Set("X-Amz-Date", "20260101T000000Z")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			path, query, _ := strings.Cut(tt.target, "?")
			host := tt.host
			if host == "" {
				host = proxyHost // Go sends the URL's host
			}
			want := map[string]string{
				"Method": tt.method, "Path": path, "Query": query, "Host": host,
				"Authorization": req.Header.Get("Authorization"), "Date": "20260101T000000Z",
				"Body": hashOf(t, strings.NewReader(tt.body)),
			}
			got := map[string]string{}
			for k := range want {
				got[k] = res.Header.Get("X-Got-" + k)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("backend saw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHTTPStreams sends 20 MiB each way. Each side waits for the other to
// have received the first MiB before it sends the rest, so a proxy that
// buffered whole bodies would deadlock.
func TestHTTPStreams(t *testing.T) {
	t.Parallel()
	const size, first = 20 << 20, 1 << 20
	gotFirst, sendRest := make(chan struct{}), make(chan struct{})
	p := newHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.CopyN(h, r.Body, first); err != nil {
			t.Error(err)
			return
		}
		close(gotFirst)
		_, _ = io.Copy(h, r.Body)
		w.Header().Set("X-Got-Body", hex.EncodeToString(h.Sum(nil)))
		w.Header().Set("Content-Length", strconv.Itoa(size))
		src := stream(size)
		_, _ = io.CopyN(w, src, first)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-sendRest:
		case <-r.Context().Done():
			return
		}
		_, _ = io.Copy(w, src)
	}))

	pr, pw := io.Pipe()
	go func() {
		src := stream(size)
		_, _ = io.CopyN(pw, src, first)
		select {
		case <-gotFirst:
		case <-t.Context().Done():
		}
		_, _ = io.Copy(pw, src)
		_ = pw.Close()
	}()
	c := &http.Client{Timeout: time.Minute} // fails the test instead of hanging it
	res, err := do(t, c, http.MethodPut, p.URL()+"/userimport/big", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, res.Body, first); err != nil {
		t.Fatal(err)
	}
	close(sendRest)
	if _, err := io.Copy(h, res.Body); err != nil {
		t.Fatal(err)
	}
	want := hashOf(t, stream(size))
	if got := res.Header.Get("X-Got-Body"); got != want {
		t.Errorf("backend got request body with SHA-256 %s, want %s", got, want)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("client got response body with SHA-256 %s, want %s", got, want)
	}
}

// s3Error is an S3 error response body.
type s3Error struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
}

func TestHTTPErrorResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind       faultproxy.Kind
		wantStatus int
		wantCode   string
	}{
		{faultproxy.Status500, 500, "InternalError"},
		{faultproxy.SlowDown, 503, "SlowDown"},
		{faultproxy.Unavailable, 503, "ServiceUnavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			p := newHTTP(t, echo(&hits))
			p.Inject(faultproxy.Fault{Kind: tt.kind})
			res, err := do(t, http.DefaultClient, http.MethodGet, p.URL()+"/userimport/k", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e s3Error
			if err := xml.NewDecoder(res.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.wantStatus || e.Code != tt.wantCode || e.Message == "" || e.RequestID == "" {
				t.Errorf("got %d %+v, want %d with code %s, a message and a request ID", res.StatusCode, e, tt.wantStatus, tt.wantCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/xml" {
				t.Errorf("Content-Type = %q, want application/xml", ct)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("backend got %d requests, want 0", n)
			}
		})
	}
}

func TestHTTPReset(t *testing.T) {
	t.Parallel()
	p := newHTTP(t, echo(new(atomic.Int64)))
	p.Inject(faultproxy.Fault{Kind: faultproxy.Reset})
	c := fresh(0)
	if res, err := do(t, c, http.MethodGet, p.URL()+"/userimport/k", nil); !errors.Is(err, syscall.ECONNRESET) {
		if err == nil {
			_ = res.Body.Close()
		}
		t.Fatalf("got error %v, want ECONNRESET", err)
	}
	if got := status(t, c, http.MethodGet, p.URL()+"/userimport/k"); got != http.StatusOK {
		t.Errorf("after the fault: status %d, want 200", got)
	}
}

func TestHTTPResetMidBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		query      string
		afterBytes int64
		wantAtMost int64
	}{
		{"mid-body", "size=1048576", 64 << 10, 64 << 10},
		{"body shorter than AfterBytes", "size=1048576", 2 << 20, 1<<20 - 1},
		{"short chunked body", "size=1000&chunked", 4096, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newHTTP(t, echo(new(atomic.Int64)))
			p.Inject(faultproxy.Fault{Kind: faultproxy.ResetMidBody, AfterBytes: tt.afterBytes})
			res, err := do(t, fresh(0), http.MethodGet, p.URL()+"/userimport/k?"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			n, err := io.Copy(io.Discard, res.Body)
			if err == nil || n > tt.wantAtMost {
				t.Errorf("read %d bytes, error %v; want at most %d bytes and an error", n, err, tt.wantAtMost)
			}
		})
	}
}

func TestHTTPStall(t *testing.T) {
	t.Parallel()
	p := newHTTP(t, echo(new(atomic.Int64)))
	url := p.URL() + "/userimport/k"

	// A client with a timeout gives up.
	p.Inject(faultproxy.Fault{Kind: faultproxy.Stall, Stall: time.Hour})
	var ne interface{ Timeout() bool }
	if res, err := do(t, fresh(100*time.Millisecond), http.MethodGet, url, nil); !errors.As(err, &ne) || !ne.Timeout() {
		if err == nil {
			_ = res.Body.Close()
		}
		t.Fatalf("got error %v, want a timeout", err)
	}

	// After Stall, the proxy drops the connection without answering.
	p.Inject(faultproxy.Fault{Kind: faultproxy.Stall, Stall: 20 * time.Millisecond})
	if res, err := do(t, fresh(0), http.MethodGet, url, nil); err == nil {
		_ = res.Body.Close()
		t.Fatalf("got status %d, want an error", res.StatusCode)
	}

	// Close ends a stall.
	p.Inject(faultproxy.Fault{Kind: faultproxy.Stall})
	errc := make(chan error, 1)
	go func() {
		res, err := do(t, fresh(0), http.MethodGet, url, nil)
		if err == nil {
			_ = res.Body.Close()
		}
		errc <- err
	}()
	for p.Stats().Injected[faultproxy.Stall] < 3 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("stalled request succeeded, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stalled request still running 10 s after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestHTTPCount(t *testing.T) {
	t.Parallel()
	p := newHTTP(t, echo(new(atomic.Int64)))
	p.Inject(faultproxy.Fault{Kind: faultproxy.SlowDown, Count: 2})
	p.Inject(faultproxy.Fault{Kind: faultproxy.Status500}) // Count 0: once
	var got []int
	for range 5 {
		got = append(got, status(t, http.DefaultClient, http.MethodGet, p.URL()+"/userimport/k"))
	}
	if diff := cmp.Diff([]int{503, 503, 500, 200, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	want := faultproxy.HTTPStats{Requests: 5, Injected: map[faultproxy.Kind]int{faultproxy.SlowDown: 2, faultproxy.Status500: 1}}
	if diff := cmp.Diff(want, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestHTTPRate(t *testing.T) {
	t.Parallel()
	const n = 200
	run := func(seed uint64) []bool {
		p := newHTTP(t, echo(new(atomic.Int64)))
		p.Inject(faultproxy.Fault{Kind: faultproxy.Unavailable, Rate: 0.25, Seed: seed})
		failed := make([]bool, n)
		for i := range failed {
			failed[i] = status(t, http.DefaultClient, http.MethodGet, p.URL()+"/userimport/k") == 503
		}
		if got := p.Stats().Injected[faultproxy.Unavailable]; got < n/10 || got > n*4/10 {
			t.Errorf("%d of %d requests failed at rate 0.25", got, n)
		}
		p.Clear()
		for range 10 {
			if got := status(t, http.DefaultClient, http.MethodGet, p.URL()+"/userimport/k"); got != http.StatusOK {
				t.Fatalf("after Clear: status %d", got)
			}
		}
		return failed
	}
	a, b := run(7), run(7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("the same seed failed different requests (-first +second):\n%s", diff)
	}
}

func TestHTTPFilters(t *testing.T) {
	t.Parallel()
	type req struct {
		method, target string
		header         []string
		wantFault      bool
	}
	tests := []struct {
		name  string
		fault faultproxy.Fault
		reqs  []req
	}{
		{"method", faultproxy.Fault{Method: http.MethodGet}, []req{
			{http.MethodGet, "/userimport/k", nil, true},
			{http.MethodPut, "/userimport/k", nil, false},
			{http.MethodHead, "/userimport/k", nil, false},
		}},
		{"header", faultproxy.Fault{Header: "Range"}, []req{
			{http.MethodGet, "/userimport/k", []string{"Range", "bytes=0-9"}, true},
			{http.MethodGet, "/userimport/k", nil, false},
		}},
		{"query", faultproxy.Fault{Match: "uploadId="}, []req{
			{http.MethodPut, "/userimport/k?partNumber=1&uploadId=u", nil, true},
			{http.MethodPut, "/userimport/k", nil, false},
		}},
		{"path", faultproxy.Fault{Match: "/reports/"}, []req{
			{http.MethodGet, "/userimport/reports/r.csv", nil, true},
			{http.MethodGet, "/userimport/imports/reports.csv", nil, false},
		}},
		{"all of them", faultproxy.Fault{Method: http.MethodGet, Header: "Range", Match: "/imports/"}, []req{
			{http.MethodGet, "/userimport/imports/a.csv", []string{"Range", "bytes=0-9"}, true},
			{http.MethodHead, "/userimport/imports/a.csv", []string{"Range", "bytes=0-9"}, false},
			{http.MethodGet, "/userimport/imports/a.csv", nil, false},
			{http.MethodGet, "/userimport/reports/a.csv", []string{"Range", "bytes=0-9"}, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newHTTP(t, echo(new(atomic.Int64)))
			f := tt.fault
			f.Kind, f.Rate = faultproxy.Unavailable, 1
			p.Inject(f)
			for _, r := range tt.reqs {
				got := status(t, http.DefaultClient, r.method, p.URL()+r.target, r.header...)
				if want := map[bool]int{true: 503, false: 200}[r.wantFault]; got != want {
					t.Errorf("%s %s %q: status %d, want %d", r.method, r.target, r.header, got, want)
				}
			}
		})
	}
}
