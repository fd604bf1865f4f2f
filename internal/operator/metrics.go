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
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.bearer(r) && c.Role(r) == Nobody {
			unauthorized(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}
