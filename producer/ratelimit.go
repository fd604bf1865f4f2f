package producer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket's settings: PerSecond on average, Burst at once.
type Rate struct {
	PerSecond float64
	Burst     int
}

// DefaultFailedAuthLimit slows down guessing tokens: a client address may
// fail the token check about once a second, ten times in a row.
var DefaultFailedAuthLimit = Rate{PerSecond: 1, Burst: 10}

// limiter keeps a token bucket per key (a token's hash, a client address).
// Each producer process counts for itself: with N producers behind a load
// balancer a client gets up to N times the rate.
type limiter struct {
	r       Rate
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleFor is how long an unused bucket is kept: a full one is as good as none.
const idleFor = 10 * time.Minute

func newLimiter(r Rate) *limiter {
	if r.PerSecond <= 0 {
		return nil
	}
	return &limiter{r: r, buckets: map[string]*bucket{}, swept: time.Now()}
}

// allow takes one request from key's bucket; when it is empty it says how
// long until the next request may pass.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	b := l.bucket(key, now)
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// peek says whether key's bucket has a request left, without taking it.
func (l *limiter) peek(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	b := l.bucket(key, now)
	if b.lim.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - b.lim.TokensAt(now)) / l.r.PerSecond * float64(time.Second))
}

func (l *limiter) bucket(key string, now time.Time) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleFor {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleFor {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.r.PerSecond), max(l.r.Burst, 1))}
		l.buckets[key] = b
	}
	b.seen = now
	return b
}

// tokenKey keys a token's bucket by its hash: the limiter never holds secrets.
func tokenKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// clientAddr is the request's remote address without its port. Behind a
// proxy it is the proxy's: the failed-token limit then counts all clients
// together, which errs on the safe side.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func tooMany(w http.ResponseWriter, wait time.Duration, why string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("%s; retry after %d s", why, max(secs, 1)))
}
