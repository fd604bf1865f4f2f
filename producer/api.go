package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/apidoc"
	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/resultfile"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userrow"
)

// Files is the object store as the API uses it.
type Files interface {
	Bucket() string
	Upload(ctx context.Context, key string, r io.Reader, contentType string) (s3store.Object, error)
	Head(ctx context.Context, key string) (s3store.Object, error)
	Delete(ctx context.Context, key string) error
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Enqueuer puts tasks on the queue (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var (
	_ Files    = (*s3store.Store)(nil)
	_ Enqueuer = (*asynq.Client)(nil)
)

// Deps are what the API works with.
type Deps struct {
	Store     *postgres.Store
	Files     Files
	Queue     Enqueuer
	Log       *zap.Logger
	MaxUpload int64 // bytes; 0: 512 MiB
	Events    Events
	Namespace task.Namespace // prefixes the queue names (QUEUE_NAMESPACE)
	Ready     []health.Check // what /readyz pings
	// RateLimit is how many requests one token may make; zero: no limit.
	RateLimit Rate
	// FailedAuthLimit is how many failed token checks one client address
	// may make (DefaultFailedAuthLimit); zero: no limit.
	FailedAuthLimit Rate
	// TrustedProxies are the proxies whose X-Forwarded-For or Forwarded
	// header names the client (TRUSTED_PROXIES); from any other peer the
	// headers are ignored.
	TrustedProxies []netip.Prefix
	// Operators' routes, each behind operator credentials; nil: not served.
	Dashboard http.Handler // the asynq dashboard at /monitoring/
	Metrics   http.Handler // Prometheus metrics at /metrics
	// WebSessionSecret signs the web pages' session cookies; empty: random
	// per process (several producers need the same one).
	WebSessionSecret string
	// BodyTimeout is how long a request body may take (an upload: the grace
	// before UploadMinRate counts, and the longest pause); 0:
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// UploadMinRate is the slowest, in bytes a second, an upload may arrive
	// on average (UPLOAD_MIN_RATE); 0: no minimum.
	UploadMinRate int64
	// UploadsInFlight and TenantUploadsInFlight cap the uploads being
	// received at once, in all and per tenant; 0: no cap.
	UploadsInFlight, TenantUploadsInFlight int
	// PublicURL is where browsers reach the producer (PUBLIC_URL); with
	// https://, cookies are Secure and HSTS is sent even though a proxy in
	// front terminates TLS. Empty: Secure only over TLS to the producer.
	PublicURL string
	// NotifyMax is how many addresses an import or a feed may notify
	// (NOTIFY_MAX_RECIPIENTS); 0: mail.DefaultMaxRecipients.
	NotifyMax int
	// Tracer makes a span of every request, under the caller's traceparent;
	// an import the request starts continues its trace. nil: tracing off.
	Tracer trace.TracerProvider
}

// API serves the HTTP API, version 1.
type API struct {
	d       Deps
	perTok  *limiter // requests of one token, through the API and the pages
	failing *limiter // failed token checks of one client address
	uploads *uploadSlots
}

// intake starts the imports the API, the S3 events and the web pages accept.
func (a *API) intake() *intake.Intake {
	return &intake.Intake{Store: a.d.Store, Queue: a.d.Queue, Namespace: a.d.Namespace, NotifyMax: a.d.NotifyMax, Tracer: a.d.Tracer}
}

// Access says who may use a route.
type Access string

// The kinds of access.
const (
	TenantToken Access = "tenant token"         // Authorization: Bearer <a tenant's API token>
	Operator    Access = "operator credentials" // MONITORING_VIEWER/ADMIN (basic) or METRICS_TOKEN
	EventSecret Access = "S3 event secret"      // S3_EVENTS_SECRET
	Public      Access = "none (probes)"        // /healthz and /readyz, /v1/openapi.json, and the web pages' login page and style sheet
	Session     Access = "tenant session"       // the web pages under /ui/: without a session, a redirect to /ui/login
)

// Route is one of the API's routes and who may use it.
type Route struct {
	Pattern string // as http.ServeMux has it: "METHOD /path/{var}"
	Access  Access
	handler http.Handler
}

// Handler serves the API's routes.
type Handler struct {
	mux         *http.ServeMux
	routes      []Route
	hsts        bool // PUBLIC_URL is https://
	bodyTimeout time.Duration
	minRate     int64
	tracer      trace.Tracer // nil: tracing off
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.hsts {
		// Browsers heed it over HTTPS only, which is how they reach an
		// https:// PUBLIC_URL. A year, the common choice; no includeSubDomains,
		// which would bind hosts the service does not own.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	limitBody(w, r, h.bodyTimeout, h.minRate)
	if h.tracer != nil && traced(r.URL.Path) {
		h.serveTraced(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Routes lists every route served, so that a test can walk them all.
func (h *Handler) Routes() []Route { return h.routes }

// NewHandler returns the API's routes. Every route under /v1/ but the S3
// events (the events secret) and the OpenAPI document (none) requires a
// tenant's token (Authorization: Bearer ...), and sees only that tenant.
// Every /v1/ route is described in internal/apidoc/openapi.json.
func NewHandler(d Deps) *Handler {
	if d.MaxUpload <= 0 {
		d.MaxUpload = csvfile.DefaultMaxFileBytes
	}
	if d.Events.Prefix == "" {
		d.Events.Prefix = config.DefaultEventsPrefix
	}
	if d.BodyTimeout <= 0 {
		d.BodyTimeout = DefaultBodyTimeout
	}
	a := &API{d: d, perTok: newLimiter(d.RateLimit), failing: newLimiter(d.FailedAuthLimit),
		uploads: &uploadSlots{total: d.UploadsInFlight, perTenant: d.TenantUploadsInFlight, tenants: map[string]int{}}}
	h := &Handler{mux: http.NewServeMux(), hsts: strings.HasPrefix(d.PublicURL, "https://"), bodyTimeout: d.BodyTimeout, minRate: d.UploadMinRate}
	if d.Tracer != nil {
		h.tracer = d.Tracer.Tracer("github.com/userimport/userimport/producer")
	}
	h.routes = []Route{
		{"POST /v1/imports", TenantToken, a.auth(a.createImport)},
		{"GET /v1/imports", TenantToken, a.auth(a.listImports)},
		{"GET /v1/imports/{id}", TenantToken, a.auth(a.getImport)},
		{"GET /v1/imports/{id}/errors", TenantToken, a.auth(a.getErrors)},
		{"GET /v1/imports/{id}/results", TenantToken, a.auth(a.getResults)},
		{"POST /v1/imports/{id}/retry", TenantToken, a.auth(a.retryImport)},
		{"POST /v1/imports/{id}/undo", TenantToken, a.auth(a.undoImport)},
		{"GET /v1/users/{login_id}/history", TenantToken, a.auth(a.userHistory)},
		{"GET /v1/users", TenantToken, a.auth(a.exportUsers)},
		{"POST /v1/events/s3", EventSecret, http.HandlerFunc(a.s3Events)},
		{"GET " + apidoc.Path, Public, apidoc.Handler()}, // the OpenAPI document of these routes
	}
	h.routes = append(h.routes, a.feedRoutes()...)
	h.routes = append(h.routes, a.settingsRoutes()...)
	h.routes = append(h.routes, a.webRoutes()...)
	if d.Dashboard != nil {
		h.routes = append(h.routes, Route{operator.DashboardPath, Operator, d.Dashboard})
	}
	if d.Metrics != nil {
		h.routes = append(h.routes, Route{"GET /metrics", Operator, d.Metrics})
	}
	for _, rt := range h.routes {
		h.mux.Handle(rt.Pattern, rt.handler)
	}
	health.Register(h.mux, d.Ready, d.Log)
	h.routes = append(h.routes, Route{Pattern: "GET /healthz", Access: Public}, Route{Pattern: "GET /readyz", Access: Public})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: see the API's documentation in docs/api.md")
	})
	return h
}

// auth resolves the request's token to its tenant, or answers 401.
func (a *API) auth(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="userimport"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "send the tenant's API token: Authorization: Bearer <token> (importctl tokens create)")
			return
		}
		tenant, tokenID, err := a.d.Store.TokenLogin(r.Context(), secret)
		if errors.Is(err, postgres.ErrNotFound) {
			// Only failures count, after the check: a good token is never
			// refused for others' mistakes from the same address (a proxy's).
			if ok, wait := a.failing.allow(a.client(r)); !ok {
				tooMany(w, wait, "too many requests with bad tokens from this address")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="userimport", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the token is unknown or revoked")
			return
		}
		if err != nil {
			a.internal(w, r, err)
			return
		}
		if ok, wait := a.tokenAllowed(tokenID); !ok {
			tooMany(w, wait, fmt.Sprintf("this token's limit is %g requests a second (API_RATE_LIMIT)", a.d.RateLimit.PerSecond))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), tokenIDKey{}, tokenID)), tenant)
	})
}

// tokenIDKey holds, in a request's context, the ID of the token auth
// resolved.
type tokenIDKey struct{}

// requestToken returns the ID of the request's token (auth's routes only).
func requestToken(r *http.Request) int64 {
	id, _ := r.Context().Value(tokenIDKey{}).(int64)
	return id
}

// tokenAllowed takes one request from the token's bucket, which its API
// requests and its web sessions' pages share.
func (a *API) tokenAllowed(id int64) (bool, time.Duration) {
	return a.perTok.allow("token " + strconv.FormatInt(id, 10))
}

// importRequest is the JSON body of POST /v1/imports for a file already in
// the bucket.
type importRequest struct {
	Source    string   `json:"source"` // s3://bucket/key
	Delimiter string   `json:"delimiter"`
	Header    string   `json:"header"`
	Notify    []string `json:"notify"`
	DryRun    bool     `json:"dry_run"` // plan and validate, count what would happen, write no user
}

// createImport takes a file (multipart/form-data, part "file", with fields
// delimiter, header and notify) or names one in the bucket (JSON), records
// the import and queues it.
func (a *API) createImport(w http.ResponseWriter, r *http.Request, tenant string) {
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		req importRequest
		err error
	)
	switch ctype {
	case "multipart/form-data":
		release, berr := a.uploads.acquire(tenant)
		if berr != nil {
			var busy busyError
			errors.As(berr, &busy)
			w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
			writeError(w, busy.status(), "busy", busy.Error())
			return
		}
		defer release()
		r.Body = http.MaxBytesReader(w, r.Body, a.d.MaxUpload)
		req, err = a.upload(r, tenant)
	case "application/json":
		req, err = a.named(r, tenant)
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the file as multipart/form-data (part \"file\"), or JSON naming an s3:// object")
		return
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		var bad badRequestError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the file is larger than %d MiB", a.d.MaxUpload>>20))
		case errors.As(err, &bad):
			writeError(w, http.StatusBadRequest, "bad_request", bad.Error())
		case errors.Is(err, errSlowBody):
			writeError(w, http.StatusRequestTimeout, "too_slow", slowMessage(a.d.UploadMinRate, a.d.BodyTimeout))
		default:
			a.internal(w, r, err)
		}
		return
	}
	// A refused upload leaves no object behind.
	discard := func() {
		if ctype == "multipart/form-data" {
			a.discard(r, tenant, req.Source)
		}
	}
	if req.Notify, err = a.recipients(r.Context(), tenant, req.Notify); err != nil {
		discard()
		a.refuseRecipients(w, r, err)
		return
	}
	im, _, err := a.intake().Start(r.Context(), postgres.NewImport{Tenant: tenant, Source: req.Source, RequestedBy: "api",
		Options: lifecycle.Options{Delimiter: req.Delimiter, Header: req.Header, Notify: req.Notify, DryRun: req.DryRun}})
	var invalid *intake.InvalidError
	if errors.As(err, &invalid) {
		discard()
		writeError(w, http.StatusBadRequest, "bad_request", invalid.Error())
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	id := im.ID
	a.d.Log.Info("import queued", zap.String("tenant", tenant), zap.Int64("import_id", id))
	w.Header().Set("Location", fmt.Sprintf("/v1/imports/%d", id))
	writeJSON(w, http.StatusAccepted, newImportView(im))
}

// badRequestError is a request error the client can fix; its text says how.
type badRequestError string

func (b badRequestError) Error() string { return string(b) }

// upload streams the multipart body's file to the bucket, under the tenant's
// uploads, and reads the option fields around it.
func (a *API) upload(r *http.Request, tenant string) (importRequest, error) {
	req, err := a.uploadParts(r, tenant)
	if err != nil {
		// Options sent after the file (curl -F file=@… -F notify=… sends
		// them in that order) are known only once it is stored: a bad one,
		// or a broken body after the file, leaves no orphan object.
		a.discard(r, tenant, req.Source)
	}
	return req, err
}

// discard deletes a stored upload that was refused.
func (a *API) discard(r *http.Request, tenant, source string) {
	if source == "" {
		return
	}
	_, key, _ := s3store.ParseURL(source)
	if err := a.d.Files.Delete(context.WithoutCancel(r.Context()), key); err != nil {
		a.d.Log.Warn("refused upload not deleted", zap.String("tenant", tenant), zap.Error(err))
	}
}

func (a *API) uploadParts(r *http.Request, tenant string) (importRequest, error) {
	var req importRequest
	mr, err := r.MultipartReader()
	if err != nil {
		return req, badRequestError("malformed multipart body: " + err.Error())
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errSlowBody) {
			return req, err
		}
		if err != nil {
			return req, badRequestError("malformed multipart body: " + err.Error())
		}
		switch part.FormName() {
		case "file":
			if req.Source != "" {
				return req, badRequestError("send one file per import")
			}
			// The options sent before the file are checked before it is
			// stored: a bad one stores nothing.
			if err := checkOptions(req); err != nil {
				return req, err
			}
			key := intake.UploadKey(tenant, part.FileName())
			if _, err := a.d.Files.Upload(r.Context(), key, part, "text/csv"); err != nil {
				return req, err
			}
			req.Source = "s3://" + a.d.Files.Bucket() + "/" + key
		case "delimiter", "header", "notify", "dry_run":
			b, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return req, err
			}
			v := strings.TrimSpace(string(b))
			switch part.FormName() {
			case "delimiter":
				req.Delimiter = v
			case "header":
				req.Header = v
			case "dry_run":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return req, badRequestError(fmt.Sprintf("dry_run %q: use true or false", v))
				}
				req.DryRun = b
			default:
				for _, n := range strings.Split(v, ",") {
					if n = strings.TrimSpace(n); n != "" {
						req.Notify = append(req.Notify, n)
					}
				}
			}
		default:
			return req, badRequestError(fmt.Sprintf("unknown field %q: send file, delimiter, header, notify and dry_run", part.FormName()))
		}
	}
	if req.Source == "" {
		return req, badRequestError(`no file: send it in the part named "file"`)
	}
	return req, checkOptions(req)
}

// named reads a JSON body naming an object already in the bucket, under one
// of the tenant's own prefixes: the bucket is shared, and an import reads the
// file into the tenant that asks and mails its rejected rows back.
func (a *API) named(r *http.Request, tenant string) (importRequest, error) {
	var req importRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, badRequestError("malformed JSON: " + err.Error())
	}
	bucket, key, err := s3store.ParseURL(req.Source)
	if err != nil {
		return req, badRequestError(fmt.Sprintf("source: %v (want s3://bucket/key)", err))
	}
	if bucket != a.d.Files.Bucket() {
		return req, badRequestError(fmt.Sprintf("source: the service reads bucket %s only", a.d.Files.Bucket()))
	}
	// Before Head, so that another tenant's keys do not even show whether
	// they exist.
	own := []string{intake.UploadsPrefix + tenant + "/", a.d.Events.Prefix + tenant + "/"}
	if !strings.HasPrefix(key, own[0]) && !strings.HasPrefix(key, own[1]) {
		return req, badRequestError(fmt.Sprintf("source: name an object under s3://%[1]s/%[2]s or s3://%[1]s/%[3]s, the tenant's own prefixes",
			a.d.Files.Bucket(), own[0], own[1]))
	}
	if _, err := a.d.Files.Head(r.Context(), key); err != nil {
		if errors.Is(err, s3store.ErrNotFound) {
			return req, badRequestError(fmt.Sprintf("source: %s does not exist", req.Source))
		}
		return req, err
	}
	return req, checkOptions(req)
}

func checkOptions(req importRequest) error {
	err := intake.CheckOptions(lifecycle.Options{Delimiter: req.Delimiter, Header: req.Header, Notify: req.Notify})
	if err != nil {
		return badRequestError(err.Error())
	}
	return nil // notify: see recipients
}

// recipients checks the addresses to notify (intake.Recipients): at most
// NOTIFY_MAX_RECIPIENTS bare addresses, in the domains the tenant allows.
func (a *API) recipients(ctx context.Context, tenant string, addrs []string) ([]string, error) {
	return a.intake().Recipients(ctx, tenant, addrs)
}

// refuseRecipients answers a recipients error: 400 naming the address and
// the rule, or 500.
func (a *API) refuseRecipients(w http.ResponseWriter, r *http.Request, err error) {
	var bad *mail.RecipientError
	if errors.As(err, &bad) {
		writeError(w, http.StatusBadRequest, "bad_request", bad.Error())
		return
	}
	a.internal(w, r, err)
}

func (a *API) getImport(w http.ResponseWriter, r *http.Request, tenant string) {
	im, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	v := newImportView(im)
	if im.DryRun && im.State == lifecycle.ImportFinished {
		g, e, err := a.d.Store.WouldCreate(r.Context(), tenant, im.ID)
		if err != nil {
			a.internal(w, r, err)
			return
		}
		v.WouldCreate = &wouldCreate{Groups: g, Extensions: e}
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) listImports(w http.ResponseWriter, r *http.Request, tenant string) {
	var state lifecycle.ImportState
	if q := r.URL.Query().Get("state"); q != "" {
		var err error
		if state, err = lifecycle.ParseImportState(q); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}
	limit, ok := queryLimit(w, r, 100)
	if !ok {
		return
	}
	ims, err := a.d.Store.Imports(r.Context(), tenant, state, limit)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	views := make([]importView, len(ims))
	for i, im := range ims {
		views[i] = newImportView(im)
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": views})
}

// getErrors streams the import's error report.
func (a *API) getErrors(w http.ResponseWriter, r *http.Request, tenant string) {
	im, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	if im.Report == "" {
		msg := "the import has no error report: it is not finished, or it rejected no record"
		writeError(w, http.StatusNotFound, "no_report", msg)
		return
	}
	_, key, err := s3store.ParseURL(im.Report)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	body, err := a.d.Files.OpenRange(r.Context(), key, 0, -1)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(key)))
	if _, err := io.Copy(w, body); err != nil {
		a.d.Log.Warn("error report interrupted", zap.Int64("import_id", im.ID), zap.Error(err))
	}
}

// getResults streams the import's results file (package resultfile): every
// record with its outcome.
func (a *API) getResults(w http.ResponseWriter, r *http.Request, tenant string) {
	im, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	f, err := resultfile.Open(r.Context(), a.d.Store, a.d.Files, tenant, im.ID)
	if status, code, refused := resultfile.Refusal(err); refused {
		writeError(w, status, code, err.Error())
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", f.Name()))
	if err := f.WriteTo(r.Context(), w); err != nil {
		a.d.Log.Warn("results file interrupted", zap.Int64("import_id", im.ID), zap.Error(err))
	}
}

// lookup finds the tenant's import named in the path; another tenant's is
// answered exactly like a missing one.
func (a *API) lookup(w http.ResponseWriter, r *http.Request, tenant string) (postgres.Import, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such import")
		return postgres.Import{}, false
	}
	im, err := a.d.Store.Import(r.Context(), tenant, id)
	if errors.Is(err, postgres.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such import")
		return im, false
	}
	if err != nil {
		a.internal(w, r, err)
		return im, false
	}
	return im, true
}

// importView is an import as the API shows it.
type importView struct {
	ID        int64                 `json:"id"`
	Kind      lifecycle.Kind        `json:"kind"` // upload, local, retry, event, feed or undo
	State     lifecycle.ImportState `json:"state"`
	Source    string                `json:"source"`
	Records   int                   `json:"records"`
	Created   int                   `json:"created"`
	Updated   int                   `json:"updated"`
	Unchanged int                   `json:"unchanged"`
	Rejected  int                   `json:"rejected"`
	Progress  int                   `json:"progress"` // percent of chunks applied
	DryRun    bool                  `json:"dry_run"`
	// WouldCreate is what a finished dry run would create besides users.
	WouldCreate *wouldCreate `json:"would_create,omitempty"`
	Error       string       `json:"error,omitempty"`
	// Rejections group the rejected records by reason, the largest first
	// (once the import has ended).
	Rejections []userrow.Reason `json:"rejections,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	StartedAt  *time.Time       `json:"started_at,omitempty"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	// Undoes is the import an undo undid; UndoneBy the latest undo of the
	// import (shown for one import, not in the list).
	Undoes   int64       `json:"undoes,omitempty"`
	UndoneBy int64       `json:"undone_by,omitempty"`
	Links    importLinks `json:"links"`
}

type wouldCreate struct {
	Groups     int `json:"groups"`
	Extensions int `json:"extensions"`
}

type importLinks struct {
	Self   string `json:"self"`
	Errors string `json:"errors,omitempty"`
	// Results is the results file, once the import has finished.
	Results string `json:"results,omitempty"`
	Undo    string `json:"undo,omitempty"`   // the latest undo of the import
	Undoes  string `json:"undoes,omitempty"` // the import an undo undid
}

func newImportView(im postgres.Import) importView {
	v := importView{ID: im.ID, Kind: im.Kind, State: im.State, Source: im.Source, Records: im.Records, Created: im.Created, DryRun: im.DryRun,
		Updated: im.Updated, Unchanged: im.Unchanged, Rejected: im.Rejected, Error: im.Error, Rejections: im.Reasons,
		CreatedAt: im.CreatedAt, StartedAt: im.StartedAt, FinishedAt: im.FinishedAt,
		Links: importLinks{Self: fmt.Sprintf("/v1/imports/%d", im.ID)}}
	if im.Chunks > 0 {
		v.Progress = 100 * im.ChunksDone / im.Chunks
	}
	if im.State == lifecycle.ImportFinished || im.State == lifecycle.ImportRejected {
		v.Progress = 100
	}
	if im.Report != "" {
		v.Links.Errors = v.Links.Self + "/errors"
	}
	if im.State == lifecycle.ImportFinished {
		v.Links.Results = v.Links.Self + "/results"
	}
	if im.Kind == lifecycle.KindUndo && im.ParentID != 0 {
		v.Undoes, v.Links.Undoes = im.ParentID, fmt.Sprintf("/v1/imports/%d", im.ParentID)
	}
	if im.UndoneBy != 0 {
		v.UndoneBy, v.Links.Undo = im.UndoneBy, fmt.Sprintf("/v1/imports/%d", im.UndoneBy)
	}
	return v
}

// client is the request's client address, for the failure limits.
func (a *API) client(r *http.Request) string { return clientAddr(r, a.d.TrustedProxies) }

func (a *API) internal(w http.ResponseWriter, r *http.Request, err error) {
	a.d.Log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	writeError(w, http.StatusInternalServerError, "internal", "the service failed; try again later (the error is logged)")
}

// apiError is the body of every error answer: a stable code and a message a
// person can act on.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// queryLimit reads the query's limit (1 to 1000, def when absent); on a bad
// one it answers 400 and reports false.
func queryLimit(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		writeError(w, http.StatusBadRequest, "bad_request", "limit: a number from 1 to 1000")
		return 0, false
	}
	return n, true
}
