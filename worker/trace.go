package worker

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/tracing"
)

// traceTask is the ServeMux middleware that runs each task in a consumer
// span, the child of the span that enqueued it (the payload's task.Trace):
// the plan under the request that started the import, the chunks under the
// plan, finalize under the chunk that finished last. Installed only when
// Deps.Tracer is set: with tracing off a task pays nothing for it.
func (h *Handlers) traceTask(next asynq.Handler) asynq.Handler {
	tracer := h.d.Tracer.Tracer("github.com/userimport/userimport/worker")
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var p struct {
			Tenant   string     `json:"tenant"`
			ImportID int64      `json:"import_id"`
			FeedID   int64      `json:"feed_id"`
			Seq      *int       `json:"seq"`
			Trace    task.Trace `json:"trace"`
		}
		_ = json.Unmarshal(t.Payload(), &p) // a bad payload is the handler's to report
		attrs := []attribute.KeyValue{attribute.String("messaging.system", "asynq"),
			attribute.String("messaging.operation.type", "process")}
		if id, ok := asynq.GetTaskID(ctx); ok {
			attrs = append(attrs, attribute.String("messaging.message.id", id))
		}
		if q, ok := asynq.GetQueueName(ctx); ok {
			attrs = append(attrs, attribute.String("messaging.destination.name", q))
		}
		if n, ok := asynq.GetRetryCount(ctx); ok {
			attrs = append(attrs, attribute.Int("userimport.task.retry", n))
		}
		if p.Tenant != "" {
			attrs = append(attrs, tracing.KeyTenant.String(p.Tenant))
		}
		if p.ImportID != 0 {
			attrs = append(attrs, tracing.KeyImportID.Int64(p.ImportID))
		}
		if p.FeedID != 0 {
			attrs = append(attrs, attribute.Int64("userimport.feed_id", p.FeedID))
		}
		if p.Seq != nil {
			attrs = append(attrs, attribute.Int("userimport.chunk", *p.Seq))
		}
		ctx, span := tracer.Start(p.Trace.Context(ctx), t.Type(), trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attrs...))
		err := next.ProcessTask(ctx, t)
		spanErr := err
		if err != nil && (!IsFailure(err) || errors.Is(err, errNotYet)) {
			// Throttled, waiting: routine, not an error of the span.
			span.SetAttributes(attribute.String("userimport.task.deferred", err.Error()))
			spanErr = nil
		}
		tracing.End(span, spanErr)
		return err
	})
}
