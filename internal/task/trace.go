package task

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace is the W3C trace context (traceparent, tracestate) of the span that
// enqueued a task, so that the task's span continues the same trace: one
// import is one trace, from the request that started it to its e-mail. It is
// empty, and left out of the payload, when nothing is traced.
type Trace map[string]string

var traceContext propagation.TraceContext

// TraceOf returns the trace context of ctx's span; nil when ctx has no
// sampled span (tracing off).
func TraceOf(ctx context.Context) Trace {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	t := Trace{}
	traceContext.Inject(ctx, propagation.MapCarrier(t))
	return t
}

// Context returns ctx with t's span as the remote parent; ctx as it is when
// t is empty.
func (t Trace) Context(ctx context.Context) context.Context {
	if len(t) == 0 {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier(t))
}
