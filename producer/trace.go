package producer

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// serveTraced serves r in a server span named by its route ("POST
// /v1/imports"), the child of the caller's span when the request carries a
// W3C traceparent. The import it starts, and every task of it, are in this
// trace (intake, task.Trace).
func (h *Handler) serveTraced(w http.ResponseWriter, r *http.Request) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
	defer span.End()
	r = r.WithContext(ctx)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(sw, r)
	if r.Pattern != "" { // the mux sets it on the request it was given
		span.SetName(r.Pattern)
		span.SetAttributes(attribute.String("http.route", r.Pattern))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
	if sw.status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(sw.status))
	}
}

// traced says whether requests to path are traced: not the probes, the
// scrapes and the dashboard's polling, which would bury the imports' traces.
func traced(path string) bool {
	switch {
	case path == "/healthz", path == "/readyz", path == "/metrics", strings.HasPrefix(path, "/monitoring/"):
		return false
	}
	return true
}

// statusWriter remembers the status written; Unwrap keeps
// http.ResponseController (the body deadlines, flushing) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
