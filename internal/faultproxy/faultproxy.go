// Package faultproxy puts fault-injecting proxies between the service and the
// servers it depends on, for the reliability tests: they run the workers
// against the real PostgreSQL, Redis, S3 and SMTP servers and break the path
// to them on purpose.
//
// HTTP is a reverse proxy in front of an S3 server. It forwards requests
// unchanged (the client's Host header included, so SigV4 signatures stay
// valid) and streams bodies both ways. Inject programs faults into the
// requests that match a filter: S3 error responses (InternalError, SlowDown,
// ServiceUnavailable) that the AWS SDK retries, connection resets before or
// in the middle of a response, and stalls; for the next Count requests, or at
// random with probability Rate.
//
// TCP is a plain TCP proxy, for PostgreSQL, Redis or SMTP. Down cuts every
// connection with a reset and resets new ones until Up.
//
// Both listen on 127.0.0.1 on a port of their own and are safe for concurrent
// use.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is what a Fault does to a request.
type Kind int

// The kinds of fault.
const (
	Status500    Kind = iota + 1 // 500 InternalError, without contacting the server
	SlowDown                     // 503 SlowDown ("Please reduce your request rate.")
	Unavailable                  // 503 ServiceUnavailable
	Reset                        // reset the connection (ECONNRESET) instead of answering
	ResetMidBody                 // forward, then reset the connection after AfterBytes bytes of the response body
	Stall                        // answer nothing for Fault.Stall, then close the connection
)

var kindNames = [...]string{"", "Status500", "SlowDown", "Unavailable", "Reset", "ResetMidBody", "Stall"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// s3Errors are the error responses of the status kinds.
var s3Errors = map[Kind]struct {
	status        int
	code, message string
}{
	Status500:   {http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."},
	SlowDown:    {http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."},
	Unavailable: {http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request."},
}

// A Fault is injected into the requests that match all of Method, Header and
// Match (an empty one matches every request): into the next Count of them
// (1 when Count is 0) or, when Rate is set, into each with probability Rate
// until Clear. Faults apply in the order they were injected.
type Fault struct {
	Kind   Kind
	Count  int
	Rate   float64 // 0..1; draws come from a PCG source seeded with Seed
	Seed   uint64
	Method string // e.g. http.MethodGet
	Header string // the request carries this header, e.g. "Range"
	Match  string // a substring of the URL path or of the raw query, e.g. "uploadId="

	Stall      time.Duration // how long Stall holds the request; 0: until the client gives up or Close
	AfterBytes int64         // response body bytes ResetMidBody lets through (fewer if the body is shorter)
}

func (f *Fault) matches(r *http.Request) bool {
	return (f.Method == "" || r.Method == f.Method) &&
		(f.Header == "" || len(r.Header.Values(f.Header)) > 0) &&
		(f.Match == "" || strings.Contains(r.URL.Path, f.Match) || strings.Contains(r.URL.RawQuery, f.Match))
}

// rule is an injected Fault and its state.
type rule struct {
	Fault
	left int        // requests still to fail, for Count
	rng  *rand.Rand // for Rate
}

// HTTPStats counts what an HTTP proxy saw.
type HTTPStats struct {
	Requests int          // requests received
	Injected map[Kind]int // faults injected, by kind
}

// HTTP is a fault-injecting reverse proxy. Make it with NewHTTP.
type HTTP struct {
	srv    *http.Server
	ln     net.Listener
	proxy  *httputil.ReverseProxy
	cancel context.CancelFunc // cancels every request's context
	wg     sync.WaitGroup     // running handlers

	mu     sync.Mutex
	closed bool
	rules  []*rule
	stats  HTTPStats
}

// NewHTTP starts a proxy to target, the base URL of an HTTP server
// (http://127.0.0.1:9002), on a free port of 127.0.0.1.
func NewHTTP(target string) (*HTTP, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http(s)://host[:port] URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	// A transport of its own, not a clone of http.DefaultTransport: tests
	// replace that one (with a checking one), and the proxy passes bytes on
	// as they are. No proxy from the environment, no gzip asked for.
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	quiet := log.New(io.Discard, "", 0) // injected faults make both of them complain
	ctx, cancel := context.WithCancel(context.Background())
	h := &HTTP{ln: ln, cancel: cancel, stats: HTTPStats{Injected: map[Kind]int{}}}
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the Host the client signed
		},
		Transport:     tr,
		FlushInterval: -1, // the client gets each part of a body as soon as the server sends it
		ErrorLog:      quiet,
	}
	h.srv = &http.Server{
		Handler:           http.HandlerFunc(h.serve),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          quiet,
		ReadHeaderTimeout: time.Minute,
	}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

// URL returns the proxy's base URL, http://127.0.0.1:port.
func (h *HTTP) URL() string { return "http://" + h.ln.Addr().String() }

// Inject adds f after the faults already injected. It panics if f has no
// valid Kind or its Rate is outside 0..1.
func (h *HTTP) Inject(f Fault) {
	if f.Kind < Status500 || f.Kind > Stall {
		panic(fmt.Sprintf("faultproxy: inject %v", f.Kind))
	}
	if f.Rate < 0 || f.Rate > 1 {
		panic(fmt.Sprintf("faultproxy: inject %v at rate %v", f.Kind, f.Rate))
	}
	r := &rule{Fault: f, left: max(f.Count, 1), rng: rand.New(rand.NewPCG(f.Seed, f.Seed))} //nolint:gosec // reproducible draws, not secrets
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = append(h.rules, r)
}

// Clear removes every fault still pending.
func (h *HTTP) Clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rules = nil
}

// Stats returns the counts so far.
func (h *HTTP) Stats() HTTPStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stats
	s.Injected = maps.Clone(s.Injected)
	return s
}

// Close stops the proxy: it closes the listener and every connection, ends
// stalls, and waits for the requests in progress to end.
func (h *HTTP) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	err := h.srv.Close()
	h.wg.Wait()
	h.proxy.Transport.(*http.Transport).CloseIdleConnections()
	return err
}

// pick counts r and returns the fault to inject into it, if any, and the
// request's sequence number.
func (h *HTTP) pick(r *http.Request) (f Fault, ok bool, seq int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Requests++
	for i, ru := range h.rules {
		if !ru.matches(r) {
			continue
		}
		if ru.Rate > 0 {
			if ru.rng.Float64() >= ru.Rate {
				continue
			}
		} else if ru.left--; ru.left == 0 {
			h.rules = slices.Delete(h.rules, i, i+1)
		}
		h.stats.Injected[ru.Kind]++
		return ru.Fault, true, h.stats.Requests
	}
	return Fault{}, false, h.stats.Requests
}

// serve forwards r, or injects the fault that pick chooses.
func (h *HTTP) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	f, ok, seq := h.pick(r)
	if !ok {
		h.proxy.ServeHTTP(w, r)
		return
	}
	switch f.Kind {
	case Status500, SlowDown, Unavailable:
		e := s3Errors[f.Kind]
		id := fmt.Sprintf("FAULTPROXY%010d", seq)
		body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + e.code + "</Code><Message>" + e.message +
			"</Message><RequestId>" + id + "</RequestId></Error>"
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("X-Amz-Request-Id", id)
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, body)
	case Reset:
		reset(w)
	case ResetMidBody:
		// The reset comes after the proxy is done with w: ReverseProxy flushes
		// from a timer of its own until it returns, and a flush after a
		// hijack dereferences a released buffer.
		h.proxyUntilCut(&cutWriter{ResponseWriter: w, left: f.AfterBytes}, r)
		_ = http.NewResponseController(w).Flush()
		reset(w)
	case Stall:
		if f.Stall > 0 {
			t := time.NewTimer(f.Stall)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
		} else {
			<-r.Context().Done()
		}
		panic(http.ErrAbortHandler) // the server closes the connection without answering
	}
}

// reset resets w's connection, dropping whatever w has buffered.
func reset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

var errCut = errors.New("faultproxy: connection reset mid-body")

// cutWriter lets left bytes of the response body through, then fails.
type cutWriter struct {
	http.ResponseWriter
	left int64
	cut  bool
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *cutWriter) WriteHeader(status int) {
	// Cut before the last byte, or the client would read a complete body.
	if n, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64); err == nil && n > 0 && c.left >= n {
		c.left = n - 1
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if int64(len(p)) < c.left {
		n, err := c.ResponseWriter.Write(p)
		c.left -= int64(n)
		return n, err
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	c.cut = true
	return n, errCut // ReverseProxy stops copying and aborts the handler
}

// proxyUntilCut forwards r through w until w cuts it, taking back the abort
// ReverseProxy panics with when a write fails.
func (h *HTTP) proxyUntilCut(w *cutWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler { //nolint:errorlint // the sentinel itself is panicked
			panic(v)
		}
	}()
	h.proxy.ServeHTTP(w, r)
}
