package operator

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics serves the gatherer's metrics in the Prometheus format to the
// bearer of the metrics token or an operator's basic credentials: the series
// name tenants, which are not for everyone to read.
func Metrics(c Credentials, g prometheus.Gatherer) http.Handler {
	// A collector that fails (PostgreSQL down) drops its own series, not
	// everyone's: the queues' are what an operator needs most then.
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.bearer(r) && c.Role(r) == Nobody {
			unauthorized(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}
