// Package web serves the tenant admins' pages under /ui/: log in with an API
// token, upload a file (a dry run starts), preview and correct its records,
// execute the real import of the corrected file, follow its progress,
// download its error report, retry its rejected records and undo it.
//
// The pages are rendered on the server with html/template and work without
// JavaScript. Templates and the style sheet are embedded in the binary.
//
// A session is a signed cookie naming the tenant, the ID of the token the
// admin logged in with (never the token) and the session's record in
// PostgreSQL: revoking the token or logging out ends the session, and a copy
// of the cookie with it. Every POST carries a per-session CSRF token in a hidden field.
//
// The package does not import package producer (which imports it to serve
// its routes): what it reuses from there, the upload keys and the retry,
// comes in Deps as functions.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
)

// Files is the object store as the pages use it.
type Files interface {
	Bucket() string
	Upload(ctx context.Context, key string, r io.Reader, contentType string) (s3store.Object, error)
	Head(ctx context.Context, key string) (s3store.Object, error)
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Deps are what the pages work with.
type Deps struct {
	Store  *postgres.Store
	Files  Files
	Intake *intake.Intake // starts the dry run, the real import and retries
	// Lister lists a feed's folder for the dry run of its newest file; nil:
	// that dry run fails.
	Lister    feed.Lister
	Log       *zap.Logger
	MaxUpload int64 // bytes; 0: 512 MiB
	// EventsPrefix is where tenants drop files for the S3 events endpoint
	// (S3_EVENTS_PREFIX): nothing the pages write may land there.
	EventsPrefix string
	// SessionSecret signs the session cookies (WEB_SESSION_SECRET). Empty: a
	// random one per process, so that sessions end when the producer
	// restarts; producers behind one load balancer need the same secret.
	SessionSecret string
	// LoginFailed counts a wrong token on the login form against the
	// client's address and reports whether the address is over its limit,
	// as the API does for bearer tokens; nil: no limit.
	LoginFailed func(*http.Request) (limited bool)
	// TokenAllowed takes one request from the bucket of the token a session
	// was made with, the one its API requests use (API_RATE_LIMIT); nil: no
	// limit.
	TokenAllowed func(tokenID int64) (bool, time.Duration)
	// UploadSlot takes one of the uploads in flight for the tenant, or
	// refuses with a *BusyError; nil: no cap.
	UploadSlot func(tenant string) (release func(), err error)
	// SlowBody is what to tell an admin whose upload arrived too slowly.
	SlowBody string
	// SecureCookies makes the cookies Secure even over plain HTTP: the
	// producer is behind a proxy that terminates TLS (an https:// PUBLIC_URL).
	SecureCookies bool
	// SessionTTL is how long a session lasts; 0: 12 hours.
	SessionTTL time.Duration
}

// BusyError refuses an upload for the uploads in flight already.
type BusyError struct {
	Status     int // 429 (the tenant's uploads) or 503 (the service's)
	RetryAfter time.Duration
	Message    string
}

func (e *BusyError) Error() string { return e.Message }

// Auth says who may use a route.
type Auth int

// The kinds of access to the pages.
const (
	Session Auth = iota // a logged-in tenant admin; without a session, a redirect to the login page
	Token               // the login form: a tenant's API token in the form (401 without)
	Public              // the login page and the style sheet
)

// Route is one of the pages' routes.
type Route struct {
	Pattern string // "METHOD /ui/..."
	Auth    Auth
	Handler http.Handler
}

// LoginPath is the login page, where a request without a session is sent.
const LoginPath = "/ui/login"

// pageSize is the records a preview page shows.
const pageSize = 100

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// UI serves the pages.
type UI struct {
	d      Deps
	key    []byte // HMAC key of the cookies and CSRF tokens
	pages  map[string]*template.Template
	assets fs.FS
}

// New returns the pages.
func New(d Deps) (*UI, error) {
	if d.MaxUpload <= 0 {
		d.MaxUpload = csvfile.DefaultMaxFileBytes
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	u := &UI{d: d, pages: map[string]*template.Template{}}
	u.key = deriveKey(d.SessionSecret)
	if d.SessionSecret == "" {
		u.key = make([]byte, 32)
		if _, err := rand.Read(u.key); err != nil {
			return nil, err
		}
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		u.pages[n[len("templates/"):len(n)-len(".html")]] = t
	}
	u.assets, err = fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Routes returns the pages' routes.
func (u *UI) Routes() []Route {
	return []Route{
		{"GET " + LoginPath, Public, http.HandlerFunc(u.loginPage)},
		{"POST " + LoginPath, Token, http.HandlerFunc(u.login)},
		{"GET /ui/assets/style.css", Public, http.HandlerFunc(u.asset)},
		{"POST /ui/logout", Session, u.session(u.logout)},
		{"GET /ui/", Session, u.session(u.list)}, // and a "not found" page for the rest
		{"GET /ui/upload", Session, u.session(u.uploadPage)},
		{"POST /ui/upload", Session, u.sessionNoForm(u.upload)},
		{"GET /ui/imports/{id}", Session, u.session(u.importPage)},
		{"GET /ui/imports/{id}/errors", Session, u.session(u.errorReport)},
		{"GET /ui/imports/{id}/results", Session, u.session(u.results)},
		{"POST /ui/imports/{id}/retry", Session, u.session(u.retry)},
		{"GET /ui/imports/{id}/undo", Session, u.session(u.undoPage)},
		{"POST /ui/imports/{id}/undo", Session, u.session(u.undo)},
		{"GET /ui/imports/{id}/preview", Session, u.session(u.preview)},
		{"POST /ui/imports/{id}/records/{line}", Session, u.session(u.edit)},
		{"POST /ui/imports/{id}/execute", Session, u.session(u.execute)},
		{"GET /ui/roles", Session, u.session(u.rolesPage)},
		{"POST /ui/roles", Session, u.session(u.addRoles)},
		{"POST /ui/roles/remove", Session, u.session(u.removeRole)},
		{"GET /ui/settings", Session, u.session(u.settingsPage)},
		{"POST /ui/settings", Session, u.session(u.saveSettings)},
		{"GET /ui/tokens", Session, u.session(u.tokensPage)},
		{"POST /ui/tokens", Session, u.session(u.createToken)},
		{"POST /ui/tokens/revoke", Session, u.session(u.revokeToken)},
		{"GET /ui/users", Session, u.session(u.usersPage)},
		{"GET /ui/users/{login}", Session, u.session(u.userPage)},
		{"GET /ui/feeds", Session, u.session(u.feedsPage)},
		{"GET /ui/new-feed", Session, u.session(u.newFeedPage)},
		{"POST /ui/feeds", Session, u.session(u.createFeed)},
		{"GET /ui/feeds/{name}", Session, u.session(u.feedPage)},
		{"GET /ui/feeds/{name}/edit", Session, u.session(u.editFeedPage)},
		{"POST /ui/feeds/{name}/edit", Session, u.session(u.saveFeed)},
		{"POST /ui/feeds/{name}/enable", Session, u.session(u.setFeedEnabled(true))},
		{"POST /ui/feeds/{name}/disable", Session, u.session(u.setFeedEnabled(false))},
		{"POST /ui/feeds/{name}/remove", Session, u.session(u.removeFeed)},
		{"POST /ui/feeds/{name}/dry-run", Session, u.session(u.dryRunFeed)},
		{"POST /ui/feeds/{name}/run", Session, u.session(u.runFeedNow)},
		{"GET /ui/feed-runs/{id}", Session, u.session(u.feedRunPage)},
		{"POST /ui/feed-runs/{id}/approve", Session, u.session(u.decideRun(true))},
		{"POST /ui/feed-runs/{id}/reject", Session, u.session(u.decideRun(false))},
	}
}

func (u *UI) asset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, u.assets, "style.css")
}

var funcs = template.FuncMap{
	"percent": func(done, all int) int {
		if all <= 0 {
			return 0
		}
		return 100 * done / all
	},
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"add":  func(a, b int) int { return a + b },
	"itoa": strconv.Itoa,
	"list": func(s ...string) []string { return s },
}

// page is what every page's template gets.
type page struct {
	Title   string
	Tenant  string // "" when logged out
	CSRF    string
	Refresh int // seconds; 0: no automatic refresh
	// Follow is the link that turns the automatic refresh on or off, on a
	// page of something that runs (see live); "": nothing runs.
	Follow string
	Notice string
	Error  string
	Nav    string // the current section: imports, upload, feeds, users, roles, settings or tokens
	D      any
}

// live makes the page of something that runs reload every seconds, when
// the admin asked for it with the page's link (?follow=1), and offers that
// link, or the one to stop. A reload nobody asked for moves a screen reader
// back to the page's top every few seconds (WCAG 2.2.1; axe-core's
// meta-refresh rule).
func (p *page) live(r *http.Request, seconds int) {
	q := r.URL.Query()
	q.Del("notice")
	if q.Get("follow") == "1" {
		p.Refresh = seconds
		q.Del("follow")
	} else {
		q.Set("follow", "1")
	}
	p.Follow = r.URL.Path
	if len(q) > 0 {
		p.Follow += "?" + q.Encode()
	}
}

// render writes the page with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := u.pages[name]
	if !ok {
		u.fail(w, r, fmt.Errorf("no template %q", name))
		return
	}
	setHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.Execute(w, p); err != nil {
		u.d.Log.Warn("page interrupted", zap.String("page", name), zap.Error(err))
	}
}

// setHeaders are the pages' security headers: no framing, no inline script.
func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// fail logs err and answers 500 with a page that says so.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.d.Log.Error("page failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	setHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><title>Error</title><h1>Something went wrong</h1><p>The service failed; try again later (the error is logged). <a href="/ui/">Back to the imports</a></p></html>`)
}

// notFound answers 404 with a page.
func (u *UI) notFound(w http.ResponseWriter, r *http.Request, s *session, what string) {
	u.render(w, r, http.StatusNotFound, "message", page{Title: "Not found", Tenant: s.Tenant, CSRF: u.csrf(s),
		D: message{Heading: "Not found", Text: what}})
}

// message is the data of a page that only says something.
type message struct {
	Heading string
	Text    string
	Link    string
	LinkTo  string
}

// seeOther redirects after a POST. Callers pass paths of the pages only
// (a login's "next" goes through safeNext first).
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther) //nolint:gosec // G710: to is always a local path (see above)
}
