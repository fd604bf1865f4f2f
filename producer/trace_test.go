package producer_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/producer"
)

// An upload is traced from the caller's traceparent: the request's server
// span is its child, named by the route, and the plan task it queues carries
// the trace on to the workers.
func TestUploadIsTraced(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	store, files, q := pgtest.Store(t), stacktest.S3(t), &recorder{}
	srv := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop(),
		MaxUpload: 1 << 20, Tracer: tp}))
	t.Cleanup(srv.Close)
	tenant := pgtest.Tenant(t)
	tok := token(t, store, tenant)

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctype, body := multipartFile(t, "users.csv", []byte("User name,Login ID\nAnna,anna\n"), nil)
	req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/v1/imports", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d", resp.StatusCode)
	}

	var server sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			server = s
		}
	}
	if server == nil {
		t.Fatal("no server span")
	}
	if server.Name() != "POST /v1/imports" || server.SpanContext().TraceID().String() != traceID || server.Parent().SpanID().String() != callerSpan {
		t.Errorf("server span %q in trace %s under %s; want POST /v1/imports in %s under %s",
			server.Name(), server.SpanContext().TraceID(), server.Parent().SpanID(), traceID, callerSpan)
	}
	// The probes make no trace.
	before := len(rec.Ended())
	if code, _ := stacktest.Do(t, "GET", srv.URL+"/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if after := len(rec.Ended()); after != before {
		t.Errorf("/healthz made %d spans, want none", after-before)
	}
	if len(q.tasks) != 1 {
		t.Fatalf("%d tasks queued, want the plan", len(q.tasks))
	}
	p, err := task.Parse[task.ImportPlanPayload](q.tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := trace.SpanContextFromContext(p.Trace.Context(t.Context())); got.TraceID().String() != traceID {
		t.Errorf("the plan task carries trace %s (%v), want %s", got.TraceID(), p.Trace, traceID)
	}
}
