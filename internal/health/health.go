// Package health serves the liveness and readiness endpoints of the producer
// and the workers: /healthz answers while the process runs, /readyz while its
// dependencies answer too.
package health

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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

// Register adds GET /healthz and GET /readyz to mux. They need no credentials,
// so /readyz names the dependencies that did not answer and logs why.
func Register(mux *http.ServeMux, checks []Check, log *zap.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, code := map[string]string{}, http.StatusOK
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), Timeout)
			err := c.Ping(ctx)
			cancel()
			if err != nil {
				log.Warn("not ready", zap.String("dependency", c.Name), zap.Error(err))
				status[c.Name], code = "unreachable", http.StatusServiceUnavailable
				continue
			}
			status[c.Name] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": code == http.StatusOK, "checks": status})
	})
}
