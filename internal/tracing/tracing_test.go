package tracing_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/userimport/userimport/internal/tracing"
)

// Off is a nil provider: nothing to install, nothing to flush.
func TestOff(t *testing.T) {
	t.Parallel()
	p, err := tracing.Setup(t.Context(), false, "userimport-test")
	if err != nil || p != nil || p.TracerProvider() != nil {
		t.Fatalf("Setup(off) = %v, %v; want nil and a nil TracerProvider", p, err)
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

// On, spans go by OTLP/HTTP to the endpoint of the standard variable, with
// OTEL_SERVICE_NAME as their service.
func TestExportsByOTLP(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
		body  []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths, body = append(paths, r.URL.Path), append(body, b...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "svc-from-env")
	p, err := tracing.Setup(t.Context(), true, "userimport-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(t.Context(), "a-span")
	span.End()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/v1/traces" {
		t.Fatalf("requests to %v, want one to /v1/traces", paths)
	}
	for _, want := range []string{"a-span", "svc-from-env"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the export lacks %q", want)
		}
	}
}
