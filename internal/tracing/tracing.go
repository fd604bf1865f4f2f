// Package tracing sets up OpenTelemetry tracing: an OTLP/HTTP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, nothing otherwise. The SDK reads the
// standard OTEL_* variables itself (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER,
// OTEL_BSP_*, …).
//
// Tracing off is a nil trace.TracerProvider: the packages that trace
// (postgres, s3store, mail, intake, producer, worker) then install no
// instrumentation at all, so the pipeline pays nothing for it. One import is
// one trace: its context travels in the task payloads (task.Trace).
package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The attributes every import span carries.
const (
	KeyTenant   = attribute.Key("userimport.tenant")
	KeyImportID = attribute.Key("userimport.import_id")
)

// Import returns the attributes naming an import.
func Import(tenant string, id int64) []attribute.KeyValue {
	return []attribute.KeyValue{KeyTenant.String(tenant), KeyImportID.Int64(id)}
}

// Provider is a running tracer provider; Shutdown flushes the spans not yet
// exported.
type Provider struct{ sdk *sdktrace.TracerProvider }

// Setup returns a provider exporting by OTLP/HTTP where the OTEL_EXPORTER_OTLP_*
// variables say, or nil when on is false: tracing off. service is the
// service.name unless OTEL_SERVICE_NAME says otherwise.
func Setup(ctx context.Context, on bool, service string) (*Provider, error) {
	if !on {
		return nil, nil //nolint:nilnil // a nil provider is tracing off, which every method handles
	}
	exp, err := otlptracehttp.New(ctx) // reads OTEL_EXPORTER_OTLP_* itself
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default.
	env, err := resource.New(ctx, resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	if res, err = resource.Merge(res, env); err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	return &Provider{sdk: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// TracerProvider returns p as a trace.TracerProvider: nil when p is nil, so
// that tracing stays off (a nil *Provider in the interface would not be nil).
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.sdk
}

// Shutdown exports what is buffered and stops; a nil provider does nothing.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// Tracer returns tp's tracer for the named package, or a no-op one when tp
// is nil.
func Tracer(tp trace.TracerProvider, name string) trace.Tracer {
	if tp == nil {
		return noop.NewTracerProvider().Tracer(name)
	}
	return tp.Tracer(name)
}

// End ends span, marked failed when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
