package operator_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/stacktest"
)

var creds = operator.Credentials{
	Viewer:       operator.Credential{User: "viewer", Password: "viewer-password-1"},
	Admin:        operator.Credential{User: "admin", Password: "admin-password-12"},
	MetricsToken: "metrics-token-123",
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func do(t *testing.T, h http.Handler, method, target, authorization string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The dashboard on the real Redis: its page and its API answer 401 without
// operator credentials, viewers read but cannot delete, admins can.
func TestDashboardRoles(t *testing.T) {
	t.Parallel()
	redis := stacktest.Redis(t, 10)
	d := operator.NewDashboard(creds, redis, "")
	t.Cleanup(func() { _ = d.Close() })

	queue := "optest-" + stacktest.RandomHex(4)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	info, err := client.Enqueue(asynq.NewTask("import:plan", []byte(`{"tenant":"acme","import_id":7}`)), asynq.Queue(queue))
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(redis)
	t.Cleanup(func() {
		_ = inspector.DeleteQueue(queue, true)
		_ = inspector.Close()
	})
	taskURL := "/monitoring/api/queues/" + queue + "/pending_tasks/" + info.ID

	for _, path := range []string{"/monitoring/", "/monitoring/api/queues", "/monitoring/api/queues/" + queue + "/pending_tasks"} {
		for _, auth := range []string{"", basic("viewer", "wrong"), basic("admin", "viewer-password-1"), "Bearer " + creds.MetricsToken} {
			w := do(t, d, http.MethodGet, path, auth)
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
				t.Errorf("GET %s with %q = %d, want 401 asking for basic credentials", path, auth, w.Code)
			}
		}
		for _, auth := range []string{basic("viewer", "viewer-password-1"), basic("admin", "admin-password-12")} {
			if w := do(t, d, http.MethodGet, path, auth); w.Code != http.StatusOK {
				t.Errorf("GET %s as an operator = %d, want 200: %s", path, w.Code, w.Body)
			}
		}
	}
	if w := do(t, d, http.MethodDelete, taskURL, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("DELETE without credentials = %d, want 401", w.Code)
	}
	if w := do(t, d, http.MethodDelete, taskURL, basic("viewer", "viewer-password-1"), "Origin", "http://example.com"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE as a viewer = %d, want 405", w.Code)
	}
	if _, err := inspector.GetTaskInfo(queue, info.ID); err != nil {
		t.Fatalf("the task is gone after a viewer's DELETE: %v", err)
	}
	if w := do(t, d, http.MethodDelete, taskURL, basic("admin", "admin-password-12"), "Origin", "http://example.com"); w.Code/100 != 2 {
		t.Fatalf("DELETE as an admin = %d, want 2xx: %s", w.Code, w.Body)
	}
	if _, err := inspector.GetTaskInfo(queue, info.ID); err == nil {
		t.Error("the task is still there after an admin's DELETE")
	}
}

// No credentials configured: nobody gets in, whatever they send.
func TestDashboardWithoutCredentialsIsClosed(t *testing.T) {
	t.Parallel()
	d := operator.NewDashboard(operator.Credentials{}, stacktest.Redis(t, 10), "")
	t.Cleanup(func() { _ = d.Close() })
	for _, auth := range []string{"", basic("", ""), basic("admin", "")} {
		if w := do(t, d, http.MethodGet, "/monitoring/api/queues", auth); w.Code != http.StatusUnauthorized {
			t.Errorf("GET with %q = %d, want 401", auth, w.Code)
		}
	}
}

func TestMetricsNeedAToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "userimport_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	h := operator.Metrics(creds, reg)
	for _, auth := range []string{"", "Bearer wrong", "Bearer ", basic("viewer", "nope")} {
		if w := do(t, h, http.MethodGet, "/metrics", auth); w.Code != http.StatusUnauthorized {
			t.Errorf("GET /metrics with %q = %d, want 401", auth, w.Code)
		}
	}
	for _, auth := range []string{"Bearer " + creds.MetricsToken, basic("viewer", "viewer-password-1")} {
		w := do(t, h, http.MethodGet, "/metrics", auth)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "userimport_test_total 1") {
			t.Errorf("GET /metrics with %q = %d:\n%s", auth, w.Code, w.Body)
		}
	}
	// An empty token configured must not let "Bearer " in.
	open := operator.Metrics(operator.Credentials{}, reg)
	if w := do(t, open, http.MethodGet, "/metrics", "Bearer "); w.Code != http.StatusUnauthorized {
		t.Errorf("with no token configured, GET /metrics = %d, want 401", w.Code)
	}
}

func TestFormatPayloadShowsOnlyIdentifiers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ payload, want string }{
		{`{"tenant":"acme","import_id":42,"seq":3,"offset":100,"length":50,"first_line":12}`,
			`{"tenant":"acme","import_id":42,"chunk":3,"first_line":12,"bytes":"100-149"}`},
		{`{"tenant":"acme","import_id":42}`, `{"tenant":"acme","import_id":42}`},
		// A field the formatter does not know is left out, whatever it holds.
		{`{"tenant":"acme","import_id":1,"email":"jane@example.com","password":"x"}`, `{"tenant":"acme","import_id":1}`},
		{`not json: jane@example.com`, `(26 bytes, not JSON)`},
	} {
		if got := operator.FormatPayload("import:chunk", []byte(tc.payload)); got != tc.want {
			t.Errorf("FormatPayload(%s) = %s, want %s", tc.payload, got, tc.want)
		}
	}
}

// A page an admin visits cannot use the browser's cached basic credentials to
// pause a queue: a change needs a same-origin Origin, Sec-Fetch-Site:
// same-origin or X-Requested-With, which a cross-site form cannot send.
func TestDashboardRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	redis := stacktest.Redis(t, 10)
	d := operator.NewDashboard(creds, redis, "")
	t.Cleanup(func() { _ = d.Close() })
	queue := "csrf-" + stacktest.RandomHex(4)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	if _, err := client.Enqueue(asynq.NewTask("import:plan", nil), asynq.Queue(queue)); err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(redis)
	t.Cleanup(func() {
		_ = inspector.DeleteQueue(queue, true)
		_ = inspector.Close()
	})
	paused := func() bool {
		t.Helper()
		q, err := inspector.GetQueueInfo(queue)
		if err != nil {
			t.Fatal(err)
		}
		return q.Paused
	}
	admin := basic("admin", "admin-password-12")
	// httptest's requests are for example.com.
	for _, h := range [][]string{
		{"Origin", "https://evil.example"},
		{"Origin", "http://example.com.evil.example"},
		{"Origin", "null"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "cross-site", "Origin", "http://example.com"},
		{"Referer", "http://example.com/monitoring/"}, // not enough on its own
		{}, // nothing: a form of an old browser, or a script that forgot the header
	} {
		w := do(t, d, http.MethodPost, "/monitoring/api/queues/"+queue+":pause", admin, h...)
		if w.Code != http.StatusForbidden || paused() {
			t.Errorf("POST :pause with %q: %d, paused %v; want 403, not paused", h, w.Code, paused())
		}
	}
	for _, h := range [][]string{
		{"Origin", "http://example.com"}, // asynqmon's own pages (XHR sends Origin on every POST and DELETE)
		{"Sec-Fetch-Site", "same-origin"},
		{"X-Requested-With", "curl"}, // a script
	} {
		if w := do(t, d, http.MethodPost, "/monitoring/api/queues/"+queue+":pause", admin, h...); w.Code/100 != 2 || !paused() {
			t.Errorf("POST :pause with %q: %d %s, paused %v; want 2xx, paused", h, w.Code, w.Body, paused())
		}
		if w := do(t, d, http.MethodPost, "/monitoring/api/queues/"+queue+":resume", admin, h...); w.Code/100 != 2 || paused() {
			t.Errorf("POST :resume with %q: %d %s", h, w.Code, w.Body)
		}
	}
	// Reading needs nothing of the kind.
	if w := do(t, d, http.MethodGet, "/monitoring/api/queues", admin, "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusOK {
		t.Errorf("GET: %d, want 200", w.Code)
	}
}
