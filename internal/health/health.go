// Package health serves the liveness and readiness endpoints of the producer
// and the workers: /healthz answers while the process runs, /readyz while its
// dependencies answer too.
package health

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Check is a dependency /readyz pings: PostgreSQL, Redis, S3.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Timeout bounds each ping: a load balancer's probe must not hang on a
// dependency that does not answer.
const Timeout = 2 * time.Second

// CacheFor is how long one round of pings answers /readyz: the probe needs
// no credentials, and a flood of it must not become a flood of pings to
// PostgreSQL, Redis and S3. Probes run every few seconds, so a second's
// delay in noticing a change costs nothing.
const CacheFor = time.Second

// readiness is the last round of pings. Its mutex is held while pinging, so
// that probes arriving together wait for one round instead of each starting
// its own.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	code   int
	status map[string]string
}

// Register adds GET /healthz and GET /readyz to mux. They need no credentials,
// so /readyz names the dependencies that did not answer and logs why.
func Register(mux *http.ServeMux, checks []Check, log *zap.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	var last readiness
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		code, status := last.get(r.Context(), checks, log)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": code == http.StatusOK, "checks": status})
	})
}

func (rd *readiness) get(ctx context.Context, checks []Check, log *zap.Logger) (int, map[string]string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.status != nil && time.Since(rd.at) < CacheFor {
		return rd.code, rd.status
	}
	// Other probes wait for this round: a caller that goes away must not
	// make it fail for them.
	ctx = context.WithoutCancel(ctx)
	status, code := map[string]string{}, http.StatusOK
	for _, c := range checks {
		pctx, cancel := context.WithTimeout(ctx, Timeout)
		err := c.Ping(pctx)
		cancel()
		if err != nil {
			log.Warn("not ready", zap.String("dependency", c.Name), zap.Error(err))
			status[c.Name], code = "unreachable", http.StatusServiceUnavailable
			continue
		}
		status[c.Name] = "ok"
	}
	rd.at, rd.code, rd.status = time.Now(), code, status
	return code, status
}
