package producer

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of the limits on request bodies and uploads in flight.
const (
	// DefaultBodyTimeout is how long a request body other than an upload
	// may take to arrive (a form, a JSON request: a few KiB at most), and
	// the grace an upload gets before its rate counts.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultUploadMinRate is the slowest an upload may arrive on average,
	// in bytes a second, after the grace (UPLOAD_MIN_RATE): 32 KiB/s
	// (256 kbit/s), a floor no real sender comes near.
	DefaultUploadMinRate = 32 << 10
	// DefaultUploadsInFlight and DefaultTenantUploadsInFlight cap the uploads
	// being received at once, in all and per tenant. Each holds up to about
	// 24 MiB of S3 part buffers.
	DefaultUploadsInFlight       = 16
	DefaultTenantUploadsInFlight = 4
)

// limitBody puts the request's body under a read deadline, so that a client
// sending it slowly (or not at all) ties up nothing for long: a body must
// arrive within bodyTimeout, an upload (multipart/form-data) at minRate
// bytes a second on average once bodyTimeout has passed, and neither may
// pause for longer than bodyTimeout. Requests without a body get no deadline:
// a read deadline still running once the body is read would cancel a long
// answer (a download) through the server's background read.
func limitBody(w http.ResponseWriter, r *http.Request, bodyTimeout time.Duration, minRate int64) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(), timeout: bodyTimeout}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype == "multipart/form-data" {
		b.upload, b.minRate = true, minRate
	}
	if err := b.rc.SetReadDeadline(b.start.Add(bodyTimeout)); err != nil {
		return // not a server connection (a test's recorder): no deadline to set
	}
	r.Body = b
}

// deadlineBody moves the connection's read deadline as the body arrives.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	timeout time.Duration
	upload  bool  // an upload: no pause longer than timeout, at minRate; else the whole body within timeout
	minRate int64 // bytes a second; 0: no minimum
	n       int64
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.upload && !b.done {
		// Never a pause longer than timeout, whatever credit a fast start
		// earned; and no later than the bytes so far may take at the
		// minimum rate, after the grace.
		deadline := time.Now().Add(b.timeout)
		if b.minRate > 0 {
			if due := b.start.Add(b.timeout + time.Duration(float64(b.n)/float64(b.minRate)*float64(time.Second))); due.Before(deadline) {
				deadline = due
			}
		}
		_ = b.rc.SetReadDeadline(deadline)
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err == io.EOF && !b.done {
		// The body is read: from now on the connection is read only to
		// notice the client going away, which must not time out.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Both wrapped: package web, which cannot import this one, knows
		// the deadline's.
		return n, fmt.Errorf("%w: %w", errSlowBody, err)
	}
	return n, err
}

// errSlowBody is a request body that did not arrive in time (limitBody).
var errSlowBody = errors.New("the request body arrived too slowly")

// slowMessage says what to do about a slow body.
func slowMessage(minRate int64, timeout time.Duration) string {
	if minRate > 0 {
		return fmt.Sprintf("the upload arrived slower than %d bytes a second (UPLOAD_MIN_RATE), or paused for %s: send it over a faster connection", minRate, timeout)
	}
	return fmt.Sprintf("the request body did not arrive within %s: send it again", timeout)
}

// uploadSlots counts the uploads being received, in all and per tenant.
type uploadSlots struct {
	total, perTenant int // caps; 0: none
	mu               sync.Mutex
	inFlight         int
	tenants          map[string]int
}

// busyError is an upload refused for the uploads already in flight.
type busyError struct {
	tenant bool // the tenant's cap (429), else the service's (503)
	limit  int
}

func (e busyError) Error() string {
	if e.tenant {
		return fmt.Sprintf("the tenant has %d uploads in progress already, its limit (TENANT_UPLOADS_IN_FLIGHT): send this one when one of them has finished", e.limit)
	}
	return fmt.Sprintf("the service is receiving %d uploads already, its limit (UPLOADS_IN_FLIGHT): try again shortly", e.limit)
}

// status is the HTTP status of the refusal.
func (e busyError) status() int {
	if e.tenant {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// busyRetryAfter is the Retry-After of a refused upload, in seconds: uploads
// take seconds to minutes, and a client retrying sooner only adds load.
const busyRetryAfter = 10

// acquire takes a slot for one of the tenant's uploads; release gives it back.
func (s *uploadSlots) acquire(tenant string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perTenant > 0 && s.tenants[tenant] >= s.perTenant {
		return nil, busyError{tenant: true, limit: s.perTenant}
	}
	if s.total > 0 && s.inFlight >= s.total {
		return nil, busyError{limit: s.total}
	}
	s.inFlight++
	s.tenants[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.inFlight--
			if s.tenants[tenant]--; s.tenants[tenant] <= 0 {
				delete(s.tenants, tenant)
			}
		})
	}, nil
}
