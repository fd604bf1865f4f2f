package task_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/userimport/userimport/internal/task"
)

// With tracing off a payload is what it was before tracing existed: no trace
// key, so the bytes in Redis do not grow.
func TestTraceOffLeavesPayload(t *testing.T) {
	t.Parallel()
	tk, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: "acme", ImportID: 7, Trace: task.TraceOf(t.Context())}, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tk.Payload()), `{"tenant":"acme","import_id":7}`; got != want {
		t.Errorf("payload %s, want %s", got, want)
	}
}

// A task's span continues the trace of the span that enqueued it.
func TestTraceCarried(t *testing.T) {
	t.Parallel()
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(t.Context(), "enqueue")
	defer span.End()
	tk, err := task.NewImportChunk(task.ImportChunkPayload{Tenant: "acme", ImportID: 7, Seq: 1, Trace: task.TraceOf(ctx)}, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tk.Payload()), span.SpanContext().TraceID().String()) {
		t.Errorf("payload %s lacks the trace id %s", tk.Payload(), span.SpanContext().TraceID())
	}
	p, err := task.Parse[task.ImportChunkPayload](tk)
	if err != nil {
		t.Fatal(err)
	}
	got := trace.SpanContextFromContext(p.Trace.Context(t.Context()))
	if !got.IsRemote() || got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("carried span context %+v, want the enqueuer's %+v", got, span.SpanContext())
	}
}
