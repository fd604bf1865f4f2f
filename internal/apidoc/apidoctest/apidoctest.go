// Package apidoctest checks, in tests, that the producer answers as its
// OpenAPI document (package apidoc) says: a Transport validates every
// response to a /v1/ request against the document, with
// github.com/pb33f/libopenapi-validator, and turns a response that does not
// match (an undocumented status, a body of the wrong shape) into an error
// of the client's Do. Other paths (the probes, the web pages, mailpit's and
// Prometheus' APIs) pass through unchecked.
//
// A test binary installs it over http.DefaultTransport in its TestMain with
// Main, so that every client built without a transport of its own (and
// stacktest.Do) is checked, and a mismatch fails the run even where a test
// ignored the error.
package apidoctest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/userimport/userimport/internal/apidoc"
)

// ErrMismatch is a response the document does not describe.
var ErrMismatch = errors.New("the response does not match the OpenAPI document (internal/apidoc/openapi.json)")

// Transport validates the responses to /v1/ requests against the document.
type Transport struct {
	base http.RoundTripper
	v    validator.Validator
	vmu  sync.Mutex // the validator's caches are not documented as safe for concurrent use

	mu         sync.Mutex
	mismatches []string
}

// New returns a Transport over base (http.DefaultTransport when nil).
func New(base http.RoundTripper) (*Transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	doc, err := libopenapi.NewDocument(apidoc.Document())
	if err != nil {
		return nil, fmt.Errorf("parse openapi.json: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %w", errors.Join(errs...))
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		msgs := make([]string, len(verrs))
		for i, e := range verrs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %s", strings.Join(msgs, "; "))
	}
	return &Transport{base: base, v: v}, nil
}

// RoundTrip sends the request, then checks the response to a /v1/ request;
// a mismatch is an error wrapping ErrMismatch, recorded for Mismatches.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/v1/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the response to %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	t.vmu.Lock()
	ok, verrs := t.v.ValidateHttpResponse(req, &check)
	t.vmu.Unlock()
	if ok {
		return resp, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"))
	for _, e := range verrs {
		fmt.Fprintf(&b, "\n\t%s", e.Message)
		if e.Reason != "" {
			fmt.Fprintf(&b, ": %s", e.Reason)
		}
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n\t\t%s: %s", s.FieldPath, s.Reason)
		}
	}
	if len(body) > 0 {
		fmt.Fprintf(&b, "\n\tbody: %.500s", body)
	}
	msg := b.String()
	t.mu.Lock()
	t.mismatches = append(t.mismatches, msg)
	t.mu.Unlock()
	return nil, fmt.Errorf("%w: %s", ErrMismatch, msg)
}

// Mismatches returns the responses that did not match so far.
func (t *Transport) Mismatches() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.mismatches...)
}

var (
	shared     *Transport
	sharedOnce sync.Once
	errShared  error
)

// Shared returns the Transport over the original http.DefaultTransport that
// Install puts in its place; it panics when the document does not load
// (it is embedded: every test would fail).
func Shared() *Transport {
	sharedOnce.Do(func() {
		base := http.DefaultTransport
		if t, ok := base.(*Transport); ok {
			base = t.base
		}
		shared, errShared = New(base)
	})
	if errShared != nil {
		panic(errShared)
	}
	return shared
}

// Client returns an http.Client that checks the responses with Shared.
func Client() *http.Client { return &http.Client{Transport: Shared()} }

// Main installs Shared as http.DefaultTransport, runs the tests with run
// (pgtest.Main, or m.Run) and fails the run, listing them, when any response
// did not match; call it from TestMain:
//
//	os.Exit(apidoctest.Main(func() int { return pgtest.Main(m) }))
func Main(run func() int) int {
	http.DefaultTransport = Shared()
	code := run()
	if ms := Shared().Mismatches(); len(ms) > 0 {
		fmt.Fprintf(os.Stderr, "apidoctest: %d responses do not match internal/apidoc/openapi.json:\n", len(ms))
		for _, m := range ms {
			fmt.Fprintln(os.Stderr, m)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}
