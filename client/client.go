package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the API for the tenant of its token. It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	agent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the tenant's API token, sent as Authorization: Bearer. The
// client never prints it: it is absent from errors and from String.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the HTTP client the requests go through (timeouts,
// proxies, TLS, a test's transport); the default is one without a total
// timeout, since uploads and exports stream: bound calls with their context.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// New returns a client of the API at baseURL, such as
// "https://import.example.com" (the producer's address; a path prefix in
// front of /v1 is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http:// or https:// and a host, such as https://import.example.com", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, hc: &http.Client{}, agent: "userimport-go-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// String names the API the client calls, without the token.
func (c *Client) String() string { return "userimport API at " + c.base.String() }

// Sentinels for errors.Is on an *Error.
var (
	ErrUnauthorized = errors.New("unauthorized") // 401: no token, or one unknown or revoked
	ErrNotFound     = errors.New("not found")    // 404: no such import, feed, run or report
	ErrRateLimited  = errors.New("rate limited") // 429: too many requests; see Error.RetryAfter
)

// Error is an answer of the API other than success: its HTTP status and the
// JSON error it carries ({"error": {"code", "message"}}, docs/api.md).
type Error struct {
	Method, Path string // the request, without the query
	StatusCode   int
	Code         string // stable: unauthorized, bad_request, not_found, no_report, nothing_to_retry, ...
	Message      string // what went wrong and what to do, for a person
	// RetryAfter is how long the API asked to wait (429, 503); 0: not said.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, e.Code, e.Message)
}

// Is matches the sentinels ErrUnauthorized, ErrNotFound and ErrRateLimited.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// The error codes the API answers with (Error.Code).
const (
	CodeUnauthorized   = "unauthorized"
	CodeBadRequest     = "bad_request"
	CodeNotFound       = "not_found"
	CodeNoReport       = "no_report"
	CodeNothingToRetry = "nothing_to_retry"
	CodeNotPending     = "not_pending"
	CodeFeedExists     = "feed_exists"
	CodeFeedDisabled   = "feed_disabled"
	CodeTooLarge       = "too_large"
	CodeRateLimited    = "rate_limited"
	CodeBusy           = "busy"
	CodeInternal       = "internal"
)

// request is one call: method, path under the base URL, query, body.
type request struct {
	method, path string
	query        url.Values
	ctype        string
	body         io.Reader
	accept       string
}

// send makes the request and returns the response when its status is 2xx;
// otherwise it reads the JSON error into an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := *c.base
	u.Path += r.path
	u.RawQuery = r.query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), r.body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err // *url.Error names the method and URL, never the headers
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(r.method, r.path, resp)
}

func readError(method, path string, resp *http.Response) error {
	e := &Error{Method: method, Path: path, StatusCode: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	// Not the API's JSON: a proxy in front, or the wrong address.
	e.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(resp.StatusCode)), " ", "_")
	e.Message = "the answer is not the API's JSON error (is the base URL the producer's?)"
	if t := strings.TrimSpace(string(b)); t != "" && len(t) <= 200 {
		e.Message += ": " + t
	}
	return e
}

// call makes a JSON request and decodes the JSON answer into out (nil: no body).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		r.ctype, r.body = "application/json", strings.NewReader(string(b))
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
