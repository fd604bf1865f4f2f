package health_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/health"
)

// /readyz needs no credentials, so a flood of probes must not become a flood
// of pings to PostgreSQL, Redis and S3: one result serves for CacheFor, and
// probes arriving together share one round of pings.
func TestReadyzCachesItsResult(t *testing.T) {
	t.Parallel()
	var pings atomic.Int32
	mux := http.NewServeMux()
	health.Register(mux, []health.Check{{Name: "db", Ping: func(context.Context) error {
		pings.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	}}}, zap.NewNop())
	get := func() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/readyz", nil))
		if w.Code != http.StatusOK || w.Body.String() != `{"checks":{"db":"ok"},"ready":true}`+"\n" {
			t.Errorf("/readyz: %d %s", w.Code, w.Body)
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(get)
	}
	wg.Wait()
	if n := pings.Load(); n != 1 {
		t.Errorf("20 probes at once pinged %d times, want 1", n)
	}
	time.Sleep(health.CacheFor + 100*time.Millisecond)
	get()
	if n := pings.Load(); n != 2 {
		t.Errorf("a probe after CacheFor: %d pings in all, want 2", n)
	}
}
