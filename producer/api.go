package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Files is the object store as the API uses it.
type Files interface {
	Bucket() string
	Upload(ctx context.Context, key string, r io.Reader, contentType string) (s3store.Object, error)
	Head(ctx context.Context, key string) (s3store.Object, error)
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
	// Operators' routes, each behind operator credentials; nil: not served.
	Dashboard http.Handler // the asynq dashboard at /monitoring/
	Metrics   http.Handler // Prometheus metrics at /metrics
	// WebSessionSecret signs the web pages' session cookies; empty: random
	// per process (several producers need the same one).
	WebSessionSecret string
	// NotifyMax is how many addresses an import or a feed may notify
	// (NOTIFY_MAX_RECIPIENTS); 0: mail.DefaultMaxRecipients.
	NotifyMax int
}

// API serves the HTTP API, version 1.
type API struct {
	d       Deps
	perTok  *limiter // requests of one token
	failing *limiter // failed token checks of one client address
}

// Access says who may use a route.
type Access string

// The kinds of access.
const (
	TenantToken Access = "tenant token"         // Authorization: Bearer <a tenant's API token>
	Operator    Access = "operator credentials" // MONITORING_VIEWER/ADMIN (basic) or METRICS_TOKEN
	EventSecret Access = "S3 event secret"      // S3_EVENTS_SECRET
	Public      Access = "none (probes)"        // /healthz and /readyz, and the web pages' login page and style sheet
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
	mux    *http.ServeMux
	routes []Route
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Routes lists every route served, so that a test can walk them all.
func (h *Handler) Routes() []Route { return h.routes }

// NewHandler returns the API's routes. Every route under /v1/ requires a
// tenant's token (Authorization: Bearer ...), and sees only that tenant.
func NewHandler(d Deps) *Handler {
	if d.MaxUpload <= 0 {
		d.MaxUpload = 512 << 20
	}
	if d.Events.Prefix == "" {
		d.Events.Prefix = "incoming/"
	}
	a := &API{d: d, perTok: newLimiter(d.RateLimit), failing: newLimiter(d.FailedAuthLimit)}
	h := &Handler{mux: http.NewServeMux()}
	h.routes = []Route{
		{"POST /v1/imports", TenantToken, a.auth(a.createImport)},
		{"GET /v1/imports", TenantToken, a.auth(a.listImports)},
		{"GET /v1/imports/{id}", TenantToken, a.auth(a.getImport)},
		{"GET /v1/imports/{id}/errors", TenantToken, a.auth(a.getErrors)},
		{"POST /v1/imports/{id}/retry", TenantToken, a.auth(a.retryImport)},
		{"POST /v1/events/s3", EventSecret, http.HandlerFunc(a.s3Events)},
	}
	h.routes = append(h.routes, a.feedRoutes()...)
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
		writeError(w, http.StatusNotFound, "not_found", "no such route: see the API's documentation in README.md")
	})
	return h
}

// auth resolves the request's token to its tenant, or answers 401.
func (a *API) auth(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientAddr(r)
		if ok, wait := a.failing.peek(client); !ok {
			tooMany(w, wait, "too many requests with bad tokens from this address")
			return
		}
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="userimport"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "send the tenant's API token: Authorization: Bearer <token> (importctl tokens create)")
			return
		}
		tenant, err := a.d.Store.TokenTenant(r.Context(), secret)
		if errors.Is(err, postgres.ErrNotFound) {
			a.failing.allow(client)
			w.Header().Set("WWW-Authenticate", `Bearer realm="userimport", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the token is unknown or revoked")
			return
		}
		if err != nil {
			a.internal(w, r, err)
			return
		}
		if ok, wait := a.perTok.allow(tokenKey(secret)); !ok {
			tooMany(w, wait, fmt.Sprintf("this token's limit is %g requests a second (API_RATE_LIMIT)", a.d.RateLimit.PerSecond))
			return
		}
		next(w, r, tenant)
	})
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
		default:
			a.internal(w, r, err)
		}
		return
	}
	if req.Notify, err = a.recipients(r.Context(), tenant, req.Notify); err != nil {
		a.refuseRecipients(w, r, err)
		return
	}
	notify := make([]any, len(req.Notify))
	for i, n := range req.Notify {
		notify[i] = n
	}
	id, err := a.d.Store.CreateImport(r.Context(), postgres.NewImport{Tenant: tenant, Source: req.Source, RequestedBy: "api", DryRun: req.DryRun,
		Options: map[string]any{"delimiter": req.Delimiter, "header": req.Header, "notify": notify}})
	if err != nil {
		a.internal(w, r, err)
		return
	}
	t, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, a.d.Namespace.Queue(task.QueueDefault))
	if err == nil {
		_, err = a.d.Queue.EnqueueContext(r.Context(), t)
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.d.Log.Info("import queued", zap.String("tenant", tenant), zap.Int64("import_id", id))
	im, err := a.d.Store.Import(r.Context(), tenant, id)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/imports/%d", id))
	writeJSON(w, http.StatusAccepted, newImportView(im))
}

// badRequestError is a request error the client can fix; its text says how.
type badRequestError string

func (b badRequestError) Error() string { return string(b) }

// upload streams the multipart body's file to the bucket, under the tenant's
// uploads, and reads the option fields around it.
func (a *API) upload(r *http.Request, tenant string) (importRequest, error) {
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
		if err != nil {
			return req, badRequestError("malformed multipart body: " + err.Error())
		}
		switch part.FormName() {
		case "file":
			if req.Source != "" {
				return req, badRequestError("send one file per import")
			}
			key := UploadKey(tenant, part.FileName())
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
	own := []string{uploadsPrefix + tenant + "/", a.d.Events.Prefix + tenant + "/"}
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
	if _, err := userfile.ParseDelimiter(req.Delimiter); err != nil {
		return badRequestError(err.Error())
	}
	if _, err := userrow.ParseHeaderMode(req.Header); err != nil {
		return badRequestError(err.Error())
	}
	return nil // notify: see recipients
}

// recipients checks the addresses to notify (mail.Recipients): at most
// NOTIFY_MAX_RECIPIENTS bare addresses, in the domains the tenant allows.
func (a *API) recipients(ctx context.Context, tenant string, addrs []string) ([]string, error) {
	ts, err := a.d.Store.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return mail.Recipients(addrs, a.d.NotifyMax, ts.NotifyDomains)
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
	if im.DryRun && im.State == "finished" {
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
	state := r.URL.Query().Get("state")
	switch state {
	case "", "pending", "planning", "running", "finalizing", "finished", "rejected", "failed":
	default:
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("state %q: use planning, running, finished, rejected or failed", state))
		return
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
	ID        int64  `json:"id"`
	Kind      string `json:"kind"` // upload, local, retry, event or feed
	State     string `json:"state"`
	Source    string `json:"source"`
	Records   int    `json:"records"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
	Progress  int    `json:"progress"` // percent of chunks applied
	DryRun    bool   `json:"dry_run"`
	// WouldCreate is what a finished dry run would create besides users.
	WouldCreate *wouldCreate `json:"would_create,omitempty"`
	Error       string       `json:"error,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	StartedAt   *time.Time   `json:"started_at,omitempty"`
	FinishedAt  *time.Time   `json:"finished_at,omitempty"`
	Links       importLinks  `json:"links"`
}

type wouldCreate struct {
	Groups     int `json:"groups"`
	Extensions int `json:"extensions"`
}

type importLinks struct {
	Self   string `json:"self"`
	Errors string `json:"errors,omitempty"`
}

func newImportView(im postgres.Import) importView {
	v := importView{ID: im.ID, Kind: im.Kind, State: im.State, Source: im.Source, Records: im.Records, Created: im.Created, DryRun: im.DryRun,
		Updated: im.Updated, Unchanged: im.Unchanged, Rejected: im.Rejected, Error: im.Error,
		CreatedAt: im.CreatedAt, StartedAt: im.StartedAt, FinishedAt: im.FinishedAt,
		Links: importLinks{Self: fmt.Sprintf("/v1/imports/%d", im.ID)}}
	if im.Chunks > 0 {
		v.Progress = 100 * im.ChunksDone / im.Chunks
	}
	if im.State == "finished" || im.State == "rejected" {
		v.Progress = 100
	}
	if im.Report != "" {
		v.Links.Errors = v.Links.Self + "/errors"
	}
	return v
}

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
