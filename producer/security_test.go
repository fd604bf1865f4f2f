package producer_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

// Every route the producer serves, walked from its own list: without
// credentials each answers 401, except the two probes.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	t.Parallel()
	creds := operator.Credentials{Viewer: operator.Credential{User: "ops", Password: "viewer-password-1"}, MetricsToken: "metrics-token-1"}
	dashboard := operator.NewDashboard(creds, stacktest.Redis(t, 10), "")
	t.Cleanup(func() { _ = dashboard.Close() })
	h := producer.NewHandler(producer.Deps{Store: pgtest.Store(t), Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		Events:    producer.Events{Secret: "events-secret-1"},
		Dashboard: dashboard, Metrics: operator.Metrics(creds, prometheus.NewRegistry())})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	vars := regexp.MustCompile(`\{[a-z_]+\}`)
	seen := map[producer.Access]int{}
	for _, rt := range h.Routes() {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok { // a subtree for every method: the dashboard
			method, path = http.MethodGet, rt.Pattern
		}
		paths := []string{vars.ReplaceAllString(path, "1")}
		if strings.HasSuffix(path, "/") { // its pages and its API
			paths = append(paths, path+"api/queues", path+"api/queues/default/pending_tasks")
		}
		for _, p := range paths {
			seen[rt.Access]++
			if rt.Access == producer.Session { // a page: to the login page, not 401
				if code, to := noRedirect(t, method, srv.URL+p); code != http.StatusSeeOther || !strings.HasPrefix(to, "/ui/login") {
					t.Errorf("%s %s (%s) without a session: %d to %q, want 303 to /ui/login", method, p, rt.Access, code, to)
				}
				continue
			}
			code, body := stacktest.Do(t, method, srv.URL+p, "", "application/json", strings.NewReader("{}"))
			switch {
			case rt.Access == producer.Public && code != http.StatusOK:
				t.Errorf("%s %s: %d, want 200 (a probe needs no credentials)", method, p, code)
			case rt.Access != producer.Public && code != http.StatusUnauthorized:
				t.Errorf("%s %s (%s) without credentials: %d %s, want 401", method, p, rt.Access, code, body)
			}
		}
	}
	// The walk covers every kind of route; a new kind would need a case.
	for _, a := range []producer.Access{producer.TenantToken, producer.Operator, producer.EventSecret, producer.Public, producer.Session} {
		if seen[a] == 0 {
			t.Errorf("no %s route walked", a)
		}
	}
	if seen[producer.TenantToken] < 13 {
		t.Errorf("%d tenant routes walked; the API has at least 13", seen[producer.TenantToken])
	}
}

// noRedirect sends a request without following a redirect: its status and
// Location.
func noRedirect(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// A token over its rate gets 429 with Retry-After; another token is not held.
func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		RateLimit: producer.Rate{PerSecond: 0.01, Burst: 3}}))
	t.Cleanup(srv.Close)
	tenant := pgtest.Tenant(t)
	busy, other := token(t, store, tenant), token(t, store, tenant)
	for i := range 3 {
		if code, body := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", busy, "", nil); code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i+1, code, body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/imports", nil)
	req.Header.Set("Authorization", "Bearer "+busy)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("request over the limit: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, _ := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", other, "", nil); code != http.StatusOK {
		t.Errorf("another token: %d, want 200", code)
	}
}

// Guessing tokens is slowed down: after the burst of failures from one
// address, its next bad token gets 429. A good token from the same address
// still passes: behind a proxy every client shares one address, and others'
// mistakes must not lock a tenant out.
func TestFailedTokenChecksAreLimited(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		FailedAuthLimit: producer.Rate{PerSecond: 0.01, Burst: 3}}))
	t.Cleanup(srv.Close)
	good := token(t, store, pgtest.Tenant(t))
	for i := range 3 {
		if code, _ := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", "uit_guess", "", nil); code != http.StatusUnauthorized {
			t.Fatalf("bad token %d: %d, want 401", i+1, code)
		}
	}
	if code, body := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", "uit_guess", "", nil); code != http.StatusTooManyRequests ||
		!strings.Contains(string(body), `"code":"rate_limited"`) {
		t.Errorf("a bad token after the failures: %d %s; want 429", code, body)
	}
	if code, body := stacktest.Do(t, http.MethodGet, srv.URL+"/v1/imports", good, "", nil); code != http.StatusOK {
		t.Errorf("a good token after others' failures from its address: %d %s; want 200", code, body)
	}
}

// Behind a trusted proxy each client has its own failure bucket, taken from
// the right-most address of X-Forwarded-For (or Forwarded) that is not a
// trusted proxy's; from an untrusted peer the headers are ignored.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	limit := producer.Rate{PerSecond: 0.01, Burst: 2}
	behind := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		FailedAuthLimit: limit, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}}))
	t.Cleanup(behind.Close)
	direct := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		FailedAuthLimit: limit}))
	t.Cleanup(direct.Close)
	bad := func(srv *httptest.Server, header, value string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/imports", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer uit_guess")
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name          string
		srv           *httptest.Server
		header, value string
		want          int
	}{
		{"client A", behind, "X-Forwarded-For", "203.0.113.7", http.StatusUnauthorized},
		{"client A again", behind, "X-Forwarded-For", "203.0.113.7, 10.1.2.3", http.StatusUnauthorized}, // through a second, trusted proxy
		{"client A over its limit", behind, "X-Forwarded-For", "203.0.113.7", http.StatusTooManyRequests},
		{"client A forging a left-most address", behind, "X-Forwarded-For", "198.51.100.99, 203.0.113.7", http.StatusTooManyRequests},
		{"client B", behind, "X-Forwarded-For", "203.0.113.8", http.StatusUnauthorized},
		{"client C by Forwarded", behind, "Forwarded", `for="[2001:db8::1]:4711";proto=https, for=10.0.0.1`, http.StatusUnauthorized},
		{"client C again", behind, "Forwarded", `for="[2001:db8::1]"`, http.StatusUnauthorized},
		{"client C over its limit", behind, "Forwarded", `For=2001:db8::1`, http.StatusTooManyRequests},
		{"untrusted peer, client A", direct, "X-Forwarded-For", "203.0.113.7", http.StatusUnauthorized},
		{"untrusted peer, client B", direct, "X-Forwarded-For", "203.0.113.8", http.StatusUnauthorized},
		{"untrusted peer, client D: one bucket for the peer", direct, "X-Forwarded-For", "203.0.113.9", http.StatusTooManyRequests},
	} {
		if got := bad(tc.srv, tc.header, tc.value); got != tc.want {
			t.Errorf("%s (%s: %s): %d, want %d", tc.name, tc.header, tc.value, got, tc.want)
		}
	}
}

// Wrong S3 event secrets count against the sender's address like wrong
// tokens; the right secret still passes.
func TestFailedEventSecretsAreLimited(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: pgtest.Store(t), Files: stacktest.S3(t), Queue: &recorder{}, Log: zap.NewNop(),
		Events: producer.Events{Secret: eventsSecret}, FailedAuthLimit: producer.Rate{PerSecond: 0.01, Burst: 2}}))
	t.Cleanup(srv.Close)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if code, body := stacktest.Do(t, http.MethodPost, srv.URL+"/v1/events/s3?token=guess", "", "application/json", strings.NewReader("{}")); code != want {
			t.Errorf("wrong secret %d: %d %s, want %d", i+1, code, body, want)
		}
	}
	if code, body := stacktest.Do(t, http.MethodPost, srv.URL+"/v1/events/s3", eventsSecret, "application/json", strings.NewReader("{}")); code != http.StatusOK {
		t.Errorf("the right secret after the failures: %d %s, want 200", code, body)
	}
}
