package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type noQueue struct{}

func (noQueue) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	return &asynq.TaskInfo{}, nil
}

// server is the producer's handler with the pages, on the test database.
func server(t *testing.T) (*httptest.Server, *postgres.Store) {
	t.Helper()
	return serverQueue(t, noQueue{})
}

// serverQueue is server with the queue q.
func serverQueue(t *testing.T, q producer.Enqueuer) (*httptest.Server, *postgres.Store) {
	t.Helper()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: q, Log: zap.NewNop(),
		WebSessionSecret: "test-secret"}))
	t.Cleanup(srv.Close)
	return srv, store
}

// browser is a client with cookies that does not follow redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// login logs the browser in with token and returns a page's CSRF token.
func (b *browser) login(token string) string {
	b.t.Helper()
	_, _, page := b.do(http.MethodGet, "/ui/login", nil)
	code, h, body := b.do(http.MethodPost, "/ui/login", url.Values{"token": {token}, "csrf": {csrfOf(b.t, page)}, "next": {"/ui/"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/" {
		b.t.Fatalf("login: %d to %q\n%s", code, h.Get("Location"), body)
	}
	_, _, page = b.do(http.MethodGet, "/ui/", nil)
	return csrfOf(b.t, page)
}

func token(t *testing.T, store *postgres.Store, tenant string) string {
	t.Helper()
	secret, _, err := store.CreateToken(t.Context(), tenant, "web test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// Without a session every page sends to the login form, and back after it.
func TestPagesNeedASession(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	b := newBrowser(t, srv.URL)
	for _, path := range []string{"/ui/", "/ui/upload", "/ui/imports/1", "/ui/imports/1/preview?page=2", "/ui/imports/1/errors", "/ui/imports/1/results",
		"/ui/feeds", "/ui/feeds/hr", "/ui/feed-runs/1", "/ui/new-feed", "/ui/feeds/hr/edit", "/ui/users", "/ui/users/u1"} {
		code, h, _ := b.do(http.MethodGet, path, nil)
		if want := "/ui/login?next=" + url.QueryEscape(path); code != http.StatusSeeOther || h.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 303 to %s", path, code, h.Get("Location"), want)
		}
	}
	code, _, page := b.do(http.MethodGet, "/ui/login", nil)
	if code != http.StatusOK || !strings.Contains(page, `<label for="token">`) || !strings.Contains(page, `<html lang="en">`) {
		t.Fatalf("login page: %d\n%s", code, page)
	}
	csrf := csrfOf(t, page)
	for _, tc := range []struct {
		name  string
		form  url.Values
		want  int
		wants string
	}{
		{"no token", url.Values{"csrf": {csrf}}, http.StatusUnauthorized, "Enter the tenant"},
		{"wrong token", url.Values{"csrf": {csrf}, "token": {"uit_wrong"}}, http.StatusUnauthorized, "unknown or revoked"},
		{"no CSRF token", url.Values{"token": {"uit_wrong"}}, http.StatusForbidden, "expired"},
	} {
		if tc.form.Has("csrf") {
			tc.form.Set("csrf", csrf) // this form's
		}
		code, _, body := b.do(http.MethodPost, "/ui/login", tc.form)
		if code != tc.want || !strings.Contains(body, tc.wants) {
			t.Errorf("%s: %d, want %d with %q\n%s", tc.name, code, tc.want, tc.wants, body)
		}
		_, _, page = b.do(http.MethodGet, "/ui/login", nil) // a fresh form
		csrf = csrfOf(t, page)
	}

	tenant := pgtest.Tenant(t)
	secret := token(t, store, tenant)
	code, h, _ := b.do(http.MethodPost, "/ui/login", url.Values{"token": {secret}, "csrf": {csrf}, "next": {"/ui/upload"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/upload" {
		t.Fatalf("login: %d to %q, want 303 to /ui/upload", code, h.Get("Location"))
	}
	cookie := h.Get("Set-Cookie")
	for _, attr := range []string{"ui_session=", "HttpOnly", "SameSite=Lax", "Path=/ui/"} {
		if !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), secret) {
		t.Error("the session cookie holds the token")
	}
	code, _, page = b.do(http.MethodGet, "/ui/upload", nil)
	if code != http.StatusOK || !strings.Contains(page, tenant) {
		t.Fatalf("upload page after login: %d", code)
	}
	// A POST without the CSRF token is refused.
	if code, _, _ := b.do(http.MethodPost, "/ui/logout", url.Values{}); code != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d, want 403", code)
	}
	// Revoking the token ends the session.
	toks, err := store.Tokens(t.Context(), tenant)
	if err != nil || len(toks) != 1 {
		t.Fatal(toks, err)
	}
	if err := store.RevokeToken(t.Context(), tenant, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, h, _ := b.do(http.MethodGet, "/ui/", nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/login") {
		t.Errorf("after the token was revoked: %d to %q, want 303 to the login page", code, h.Get("Location"))
	}
}

// A forged or altered session cookie is no session.
func TestForgedSession(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, pgtest.Tenant(t)))
	u, _ := url.Parse(srv.URL + "/ui/")
	cookies := b.c.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	value, sig, _ := strings.Cut(cookies[0].Value, ".")
	other := pgtest.Tenant(t)
	forged := value[:len(value)-2] + "AA" + "." + sig
	for _, v := range []string{forged, value + ".", "garbage", other} {
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ui_session", Value: v, Path: "/ui/"}})
		if code, _, _ := b.do(http.MethodGet, "/ui/", nil); code != http.StatusSeeOther {
			t.Errorf("cookie %q: %d, want 303 to the login page", v, code)
		}
	}
}

// Another tenant's import is answered like a missing one, on every page.
func TestAnotherTenantsImportIsNotFound(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	mine, theirs := pgtest.Tenant(t), pgtest.Tenant(t)
	id, _, err := store.CreateImport(t.Context(), postgres.NewImport{Tenant: theirs, Source: "s3://userimport/uploads/" + theirs + "/x/a.csv",
		Options: lifecycle.Options{DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePreview(t.Context(), theirs, id, nil); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, mine))
	for _, p := range []string{"", "/preview", "/errors", "/results", "/undo"} {
		path := fmt.Sprintf("/ui/imports/%d%s", id, p)
		if code, _, body := b.do(http.MethodGet, path, nil); code != http.StatusNotFound || !strings.Contains(body, "Not found") {
			t.Errorf("GET %s of another tenant: %d, want 404", path, code)
		}
	}
	for _, p := range []string{"/retry", "/execute", "/records/2", "/undo"} {
		path := fmt.Sprintf("/ui/imports/%d%s", id, p)
		if code, _, _ := b.do(http.MethodPost, path, url.Values{"csrf": {csrf}, "f0": {"x"}}); code != http.StatusNotFound {
			t.Errorf("POST %s of another tenant: %d, want 404", path, code)
		}
	}
	// The owner sees it.
	b2 := newBrowser(t, srv.URL)
	b2.login(token(t, store, theirs))
	if code, _, body := b2.do(http.MethodGet, fmt.Sprintf("/ui/imports/%d", id), nil); code != http.StatusOK || !bytes.Contains([]byte(body), []byte("dry run")) {
		t.Errorf("the owner: %d", code)
	}
}

// Wrong tokens on the login form are limited per address, but a good token
// from the same address still logs in: behind a proxy every admin shares it.
func TestLoginAfterOthersFailed(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: noQueue{}, Log: zap.NewNop(),
		WebSessionSecret: "test-secret", FailedAuthLimit: producer.Rate{PerSecond: 0.01, Burst: 2}}))
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		_, _, page := b.do(http.MethodGet, "/ui/login", nil)
		if code, _, _ := b.do(http.MethodPost, "/ui/login", url.Values{"token": {"uit_wrong"}, "csrf": {csrfOf(t, page)}}); code != want {
			t.Errorf("wrong token %d: %d, want %d", i+1, code, want)
		}
	}
	newBrowser(t, srv.URL).login(token(t, store, pgtest.Tenant(t))) // fails the test unless it logs in
}

// Logging out ends the session on the server: a copy of the cookie taken
// before (from a shared computer, a proxy's log) no longer opens the pages.
func TestLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, pgtest.Tenant(t)))
	u, _ := url.Parse(srv.URL + "/ui/")
	copied := b.c.Jar.Cookies(u)
	if code, h, _ := b.do(http.MethodPost, "/ui/logout", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/ui/login" {
		t.Fatalf("logout: %d to %q", code, h.Get("Location"))
	}
	thief := newBrowser(t, srv.URL)
	thief.c.Jar.SetCookies(u, copied)
	if code, h, _ := thief.do(http.MethodGet, "/ui/", nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/login") {
		t.Errorf("the cookie copied before the logout: %d to %q, want 303 to the login page", code, h.Get("Location"))
	}
	// Logging in again makes a new session.
	b.login(token(t, store, pgtest.Tenant(t)))
}

// Behind a TLS proxy the producer sees plain HTTP: PUBLIC_URL with https://
// makes the cookies Secure and sends HSTS; without it, neither.
func TestPublicURLMakesCookiesSecure(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	for _, tc := range []struct {
		publicURL string
		secure    bool
	}{{"https://imports.example.com", true}, {"", false}, {"http://127.0.0.1:8080", false}} {
		srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: stacktest.S3(t), Queue: noQueue{}, Log: zap.NewNop(),
			WebSessionSecret: "test-secret", PublicURL: tc.publicURL}))
		t.Cleanup(srv.Close)
		b := newBrowser(t, srv.URL)
		_, h, page := b.do(http.MethodGet, "/ui/login", nil)
		if got := h.Get("Strict-Transport-Security"); (got != "") != tc.secure || (tc.secure && !strings.Contains(got, "max-age=")) {
			t.Errorf("PUBLIC_URL=%q: Strict-Transport-Security %q", tc.publicURL, got)
		}
		if _, h, _ := b.do(http.MethodGet, "/healthz", nil); (h.Get("Strict-Transport-Security") != "") != tc.secure {
			t.Errorf("PUBLIC_URL=%q: /healthz Strict-Transport-Security %q", tc.publicURL, h.Get("Strict-Transport-Security"))
		}
		_, h, _ = b.do(http.MethodPost, "/ui/login", url.Values{"token": {token(t, store, pgtest.Tenant(t))}, "csrf": {csrfOf(t, page)}})
		cookies := h.Values("Set-Cookie")
		if len(cookies) == 0 {
			t.Fatalf("PUBLIC_URL=%q: no cookie set at login", tc.publicURL)
		}
		for _, c := range cookies {
			if strings.Contains(c, "; Secure") != tc.secure {
				t.Errorf("PUBLIC_URL=%q: cookie %q, want Secure %v", tc.publicURL, c, tc.secure)
			}
		}
	}
}

// A page of a running import reloads itself only when the admin asks for it
// with its link, and offers the link to stop.
func TestRunningImportReloadsWhenAsked(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	id, _, err := store.CreateImport(t.Context(), postgres.NewImport{Tenant: tenant, Source: "s3://userimport/uploads/" + tenant + "/x/a.csv"})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	page := fmt.Sprintf("/ui/imports/%d", id)
	for _, c := range []struct {
		path, refresh, link string
	}{
		{page, "", `<a href="` + page + `?follow=1" id="follow">`},
		{page + "?follow=1", `<meta http-equiv="refresh" content="2">`, `<a href="` + page + `">Stop reloading</a>`},
		{page + "?follow=1&notice=retry", `<meta http-equiv="refresh" content="2">`, `<a href="` + page + `">Stop reloading</a>`},
		{"/ui/", "", `<a href="/ui/?follow=1" id="follow">`},
		{"/ui/?follow=1", `<meta http-equiv="refresh" content="3">`, `<a href="/ui/">Stop reloading</a>`},
	} {
		code, _, body := b.do(http.MethodGet, c.path, nil)
		if code != http.StatusOK || !strings.Contains(body, c.link) {
			t.Errorf("GET %s: %d, lacks %s", c.path, code, c.link)
		}
		if got := strings.Contains(body, `http-equiv="refresh"`); got != (c.refresh != "") || !strings.Contains(body, c.refresh) {
			t.Errorf("GET %s: reloads itself %v, want %q", c.path, got, c.refresh)
		}
	}
}
