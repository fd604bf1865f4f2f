package producer

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

// limiter keeps a token bucket per key (a token's ID, a client address).
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

// clientAddr is the address a request came from. It is the peer's, unless
// the peer is one of the trusted proxies (TRUSTED_PROXIES): then it is the
// right-most hop of X-Forwarded-For (or, without it, Forwarded) that is not
// a trusted proxy's. Hops left of it are whatever the client sent, so they
// are never believed. When every hop is trusted the left-most one is the
// client.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		if !isTrusted(hops[i], trusted) {
			return hops[i]
		}
	}
	if len(hops) > 0 {
		return hops[0]
	}
	return peer
}

// isTrusted says whether addr (an IP address, perhaps with a port) is in one
// of the prefixes. An unknown or obfuscated hop ("unknown", "_hidden") is not.
func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hops the proxies reported, left (the first) to
// right (the nearest): X-Forwarded-For's, or Forwarded's for= parameters
// (RFC 7239). Ports and the brackets of IPv6 addresses are removed.
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for hop := range strings.SplitSeq(v, ",") {
				hops = append(hops, hostOnly(strings.TrimSpace(hop)))
			}
		}
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, hostOnly(strings.Trim(val, `"`)))
				}
			}
		}
	}
	return hops
}

// hostOnly is a hop's address: "[2001:db8::1]:4711" and "192.0.2.1:80" lose
// their ports, an address stays as it is (normalised when it parses).
func hostOnly(hop string) string {
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap().String()
	}
	if ip, err := netip.ParseAddr(strings.Trim(hop, "[]")); err == nil {
		return ip.Unmap().String()
	}
	return hop
}

func tooMany(w http.ResponseWriter, wait time.Duration, why string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("%s; retry after %d s", why, max(secs, 1)))
}
