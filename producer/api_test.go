package producer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/apidoc/apidoctest"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/producer"
)

func TestMain(m *testing.M) {
	stacktest.SetDefaults()
	os.Exit(apidoctest.Main(func() int { return pgtest.Main(m) }))
}

// recorder is the queue: it keeps what is enqueued.
type recorder struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{}, nil
}

type env struct {
	srv   *httptest.Server
	store *postgres.Store
	files *s3store.Store
	queue *recorder
}

func setup(t *testing.T) env {
	t.Helper()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	q := &recorder{}
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop(), MaxUpload: 1 << 20}))
	t.Cleanup(srv.Close)
	return env{srv: srv, store: store, files: files, queue: q}
}

func token(t *testing.T, s *postgres.Store, tenant string) string {
	t.Helper()
	secret, _, err := s.CreateToken(t.Context(), tenant, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func multipartFile(t *testing.T, name string, content []byte, fields map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), &buf
}

// Every route needs a token; without one, or with a bad or revoked one, the
// answer is 401 with a JSON error.
func TestRoutesRequireAToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant := pgtest.Tenant(t)
	revoked := token(t, e.store, tenant)
	toks, err := e.store.Tokens(t.Context(), tenant)
	if err != nil || len(toks) != 1 {
		t.Fatal(toks, err)
	}
	if err := e.store.RevokeToken(t.Context(), tenant, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	for _, route := range []struct{ method, path string }{
		{"POST", "/v1/imports"}, {"GET", "/v1/imports"}, {"GET", "/v1/imports/1"}, {"GET", "/v1/imports/1/errors"}, {"GET", "/v1/users"},
		{"POST", "/v1/events/s3"}, // no secret configured: always refused
	} {
		for _, tok := range []string{"", "uit_not-a-token", "not even the prefix", revoked} {
			code, body := stacktest.Do(t, route.method, e.srv.URL+route.path, tok, "application/json", strings.NewReader("{}"))
			if code != http.StatusUnauthorized || !bytes.Contains(body, []byte(`"code":"unauthorized"`)) {
				t.Errorf("%s %s with token %q: %d %s", route.method, route.path, tok, code, body)
			}
		}
	}
	if code, _ := stacktest.Do(t, "GET", e.srv.URL+"/healthz", "", "", nil); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
}

// /readyz pings the real dependencies: ready while they answer, 503 naming the
// one that does not (here a Redis nobody listens for).
func TestReadiness(t *testing.T) {
	t.Parallel()
	e := setup(t)
	opt, err := asynq.ParseRedisURI(stacktest.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	redis := asynq.NewClient(opt)
	t.Cleanup(func() { _ = redis.Close() })
	gone := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = gone.Close() })
	for _, tc := range []struct {
		name   string
		redis  *asynq.Client
		status int
		want   string
	}{
		{"all up", redis, http.StatusOK, `"checks":{"postgres":"ok","redis":"ok","s3":"ok"},"ready":true`},
		{"redis down", gone, http.StatusServiceUnavailable, `"checks":{"postgres":"ok","redis":"unreachable","s3":"ok"},"ready":false`},
	} {
		srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: e.store, Files: e.files, Queue: e.queue, Log: zap.NewNop(),
			Ready: []health.Check{
				{Name: "postgres", Ping: e.store.Ping},
				{Name: "redis", Ping: func(context.Context) error { return tc.redis.Ping() }},
				{Name: "s3", Ping: e.files.Ping},
			}}))
		code, out := stacktest.Do(t, "GET", srv.URL+"/readyz", "", "", nil)
		srv.Close()
		if code != tc.status || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("%s: %d %s; want %d %s", tc.name, code, out, tc.status, tc.want)
		}
	}
}

// An upload lands in S3, is recorded as an import of the token's tenant and
// queued; another tenant's token cannot see it.
func TestUploadAndIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a, b := pgtest.Tenant(t), pgtest.Tenant(t)
	tokA, tokB := token(t, e.store, a), token(t, e.store, b)
	content := []byte("User name,Login ID\nAnna,anna\n")
	ctype, body := multipartFile(t, "../../etc/users.csv", content, map[string]string{"delimiter": "comma", "notify": "hr@example.com"})
	code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/imports", tokA, ctype, body)
	var view struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(out, &view); err != nil || code != http.StatusAccepted {
		t.Fatalf("upload: %d %s (%v)", code, out, err)
	}
	// The file's name is kept, but never as a path.
	if !strings.HasPrefix(view.Source, "s3://userimport/uploads/"+a+"/") || !strings.HasSuffix(view.Source, "/users.csv") || strings.Contains(view.Source, "..") {
		t.Errorf("source %q", view.Source)
	}
	_, key, err := s3store.ParseURL(view.Source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.files.Delete(context.WithoutCancel(t.Context()), key) })
	rc, err := e.files.OpenRange(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("stored %q, uploaded %q", got, content)
	}
	if len(e.queue.tasks) != 1 || e.queue.tasks[0].Type() != task.TypeImportPlan {
		t.Fatalf("queued %d tasks", len(e.queue.tasks))
	}
	p, err := task.Parse[task.ImportPlanPayload](e.queue.tasks[0])
	if err != nil || p.Tenant != a || p.ImportID != view.ID {
		t.Errorf("plan task %+v, %v", p, err)
	}

	url := e.srv.URL + "/v1/imports/" + itoa(view.ID)
	if code, out := stacktest.Do(t, "GET", url, tokA, "", nil); code != http.StatusOK || !bytes.Contains(out, []byte(`"state":"planning"`)) {
		t.Errorf("GET own import: %d %s", code, out)
	}
	if code, out := stacktest.Do(t, "GET", e.srv.URL+"/v1/imports?state=planning", tokA, "", nil); code != http.StatusOK || !bytes.Contains(out, []byte(view.Source)) {
		t.Errorf("list: %d %s", code, out)
	}
	// Tenant B sees nothing of A's: the same answer as for a missing import.
	for _, path := range []string{url, url + "/errors", e.srv.URL + "/v1/imports/999999"} {
		if code, out := stacktest.Do(t, "GET", path, tokB, "", nil); code != http.StatusNotFound || !bytes.Contains(out, []byte(`"code":"not_found"`)) {
			t.Errorf("GET %s with B's token: %d %s", path, code, out)
		}
	}
	if code, out := stacktest.Do(t, "GET", e.srv.URL+"/v1/imports", tokB, "", nil); code != http.StatusOK || bytes.Contains(out, []byte(view.Source)) {
		t.Errorf("B's list shows A's import: %s", out)
	}
	// B cannot import A's file by naming it; A can.
	named := `{"source":"` + view.Source + `"}`
	if code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/imports", tokB, "application/json", strings.NewReader(named)); code != http.StatusBadRequest ||
		!bytes.Contains(out, []byte("uploads/"+b+"/")) {
		t.Errorf("B naming A's file: %d %s", code, out)
	}
	if ims, err := e.store.Imports(t.Context(), b, "", 10); err != nil || len(ims) != 0 {
		t.Errorf("B has %d imports (%v)", len(ims), err)
	}
	if code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/imports", tokA, "application/json", strings.NewReader(named)); code != http.StatusAccepted {
		t.Errorf("A naming its own file: %d %s", code, out)
	}
}

// Bad requests get a clear error and create nothing.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant := pgtest.Tenant(t)
	tok := token(t, e.store, tenant)
	big := bytes.Repeat([]byte("a,b\n"), 1<<19) // 2 MiB, over the test's 1 MiB limit
	bigType, bigBody := multipartFile(t, "big.csv", big, nil)
	var emptyForm bytes.Buffer
	mw := multipart.NewWriter(&emptyForm)
	_ = mw.WriteField("delimiter", "comma")
	_ = mw.Close()
	badDelimType, badDelimBody := multipartFile(t, "u.csv", []byte("a,b\n"), map[string]string{"delimiter": "tab"})
	// curl -F file=@u.csv -F notify=… sends the options after the file.
	var notifyAfter bytes.Buffer
	mw2 := multipart.NewWriter(&notifyAfter)
	fw, _ := mw2.CreateFormFile("file", "u.csv")
	_, _ = fw.Write([]byte("a,b\n"))
	_ = mw2.WriteField("notify", "nobody")
	_ = mw2.Close()
	for _, tc := range []struct {
		name, ctype string
		body        io.Reader
		status      int
		code        string
	}{
		{"wrong content type", "text/plain", strings.NewReader("hello"), http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"malformed JSON", "application/json", strings.NewReader(`{"source":`), http.StatusBadRequest, "bad_request"},
		{"unknown JSON field", "application/json", strings.NewReader(`{"source":"s3://userimport/x.csv","dry":true}`), http.StatusBadRequest, "bad_request"},
		{"path traversal in the key", "application/json", strings.NewReader(`{"source":"s3://userimport/../secrets.csv"}`), http.StatusBadRequest, "bad_request"},
		{"another bucket", "application/json", strings.NewReader(`{"source":"s3://elsewhere/users.csv"}`), http.StatusBadRequest, "bad_request"},
		{"missing object", "application/json", strings.NewReader(`{"source":"s3://userimport/uploads/` + tenant + `/missing.csv"}`), http.StatusBadRequest, "bad_request"},
		{"outside the tenant's prefixes", "application/json", strings.NewReader(`{"source":"s3://userimport/does/not/exist.csv"}`), http.StatusBadRequest, "bad_request"},
		{"no file part", mw.FormDataContentType(), &emptyForm, http.StatusBadRequest, "bad_request"},
		{"bad delimiter", badDelimType, badDelimBody, http.StatusBadRequest, "bad_request"},
		{"bad notify after the file", mw2.FormDataContentType(), &notifyAfter, http.StatusBadRequest, "bad_request"},
		{"too large", bigType, bigBody, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/imports", tok, tc.ctype, tc.body)
		if code != tc.status || !bytes.Contains(out, []byte(`"code":"`+tc.code+`"`)) {
			t.Errorf("%s: %d %s; want %d %s", tc.name, code, out, tc.status, tc.code)
		}
	}
	ims, err := e.store.Imports(t.Context(), tenant, "", 10)
	if err != nil || len(ims) != 0 || len(e.queue.tasks) != 0 {
		t.Errorf("bad requests created %d imports, queued %d tasks (%v)", len(ims), len(e.queue.tasks), err)
	}
	// Nor did they leave a file behind in the bucket.
	if err := e.files.List(t.Context(), "uploads/"+tenant+"/", func(o s3store.Object) error {
		t.Errorf("a refused upload left %s", o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// eventsSecret is the tests' S3_EVENTS_SECRET: 32 characters, the minimum.
const eventsSecret = "s3cret-s3cret-s3cret-s3cret-s3cr"

// S3 event notifications start one import per object version under the
// prefix, for the tenant the key names; anything else is ignored or refused.
func TestS3Events(t *testing.T) {
	t.Parallel()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	q := &recorder{}
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop(),
		Events: producer.Events{Secret: eventsSecret}}))
	t.Cleanup(srv.Close)
	tenant := pgtest.Tenant(t)
	event := func(name, key, etag string) string {
		return `{"Records":[{"eventName":"` + name + `","s3":{"bucket":{"name":"userimport"},"object":{"key":"` + key + `","size":10,"eTag":"` + etag + `"}}}]}`
	}
	post := func(tok, query, body string) (int, []byte) {
		return stacktest.Do(t, "POST", srv.URL+"/v1/events/s3"+query, tok, "application/json", strings.NewReader(body))
	}
	put := func(key, content string) string {
		o, err := files.Put(t.Context(), key, []byte(content), "text/csv")
		if err != nil {
			t.Fatal(err)
		}
		return o.ETag
	}
	v1 := put("incoming/"+tenant+"/users 2026.csv", "version 1\n")
	created := event("s3:ObjectCreated:Put", "incoming/"+tenant+"/users+2026.csv", v1)
	if code, out := post(eventsSecret, "", created); code != http.StatusOK || len(q.tasks) != 1 {
		t.Fatalf("event: %d %s, %d tasks", code, out, len(q.tasks))
	}
	// The same object version again (a redelivered event): one import.
	if code, _ := post("", "?token="+eventsSecret, created); code != http.StatusOK || len(q.tasks) != 1 {
		t.Errorf("redelivered event queued %d tasks, want still 1", len(q.tasks))
	}
	ims, err := store.Imports(t.Context(), tenant, "", 10)
	if err != nil || len(ims) != 1 || ims[0].Source != "s3://userimport/incoming/"+tenant+"/users 2026.csv" {
		t.Fatalf("imports %+v (%v)", ims, err)
	}
	// A new version of the same object is a new import.
	v2 := put("incoming/"+tenant+"/users 2026.csv", "version 2\n")
	if post(eventsSecret, "", event("s3:ObjectCreated:Put", "incoming/"+tenant+"/users+2026.csv", `\"`+v2+`\"`)); len(q.tasks) != 2 {
		t.Errorf("new version: %d tasks, want 2", len(q.tasks))
	}
	// Ignored: a test event, a deletion, a key outside the prefix or without
	// a valid tenant, another bucket.
	for _, body := range []string{
		`{"Service":"Amazon S3","Event":"s3:TestEvent"}`,
		event("s3:ObjectRemoved:Delete", "incoming/"+tenant+"/x.csv", "1"),
		event("s3:ObjectCreated:Put", "elsewhere/"+tenant+"/x.csv", "1"),
		event("s3:ObjectCreated:Put", "incoming/Bad Tenant/x.csv", "1"),
		event("s3:ObjectCreated:Put", "incoming/"+tenant+"/../x.csv", "1"),
		event("s3:ObjectCreated:Put", "incoming/"+tenant+"/users.import-7.errors.csv", "1"), // a report, not a file
		strings.Replace(event("s3:ObjectCreated:Put", "incoming/"+tenant+"/y.csv", "1"), `"userimport"`, `"other"`, 1),
	} {
		if code, out := post(eventsSecret, "", body); code != http.StatusOK {
			t.Errorf("%s: %d %s", body, code, out)
		}
	}
	// Ignored too, since the object says otherwise: the ETag of an older
	// version (the event came late), an object that does not exist.
	for _, body := range []string{
		event("s3:ObjectCreated:Put", "incoming/"+tenant+"/users+2026.csv", v1),
		event("s3:ObjectCreated:Put", "incoming/"+tenant+"/never-written.csv", v1),
	} {
		if code, out := post(eventsSecret, "", body); code != http.StatusOK {
			t.Errorf("%s: %d %s", body, code, out)
		}
	}
	if len(q.tasks) != 2 {
		t.Errorf("ignored events queued tasks: %d", len(q.tasks))
	}
	// Refused: no secret, a wrong one, malformed JSON.
	if code, _ := post("", "", created); code != http.StatusUnauthorized {
		t.Errorf("no secret: %d", code)
	}
	if code, _ := post("wrong", "", created); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ := post(eventsSecret, "", `{"Records":[`); code != http.StatusBadRequest {
		t.Errorf("malformed: %d", code)
	}
}
