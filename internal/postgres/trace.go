package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Option configures Open.
type Option func(*options)

type options struct{ tp trace.TracerProvider }

// WithTracing makes a span of every statement, batch and COPY the store
// sends, under the caller's span; a nil provider traces nothing (and
// installs no pgx tracer, which costs nothing).
func WithTracing(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }

// maxQueryText bounds the statement text recorded on a span. Every statement
// is parameterised: the text holds no value, only placeholders.
const maxQueryText = 2048

// queryTracer is pgx's QueryTracer, BatchTracer and CopyFromTracer: one
// client span per round trip, never per row.
type queryTracer struct {
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

var (
	_ pgx.QueryTracer    = (*queryTracer)(nil)
	_ pgx.BatchTracer    = (*queryTracer)(nil)
	_ pgx.CopyFromTracer = (*queryTracer)(nil)
)

func newQueryTracer(tp trace.TracerProvider, c *pgx.ConnConfig) *queryTracer {
	return &queryTracer{
		tracer: tp.Tracer("github.com/userimport/userimport/internal/postgres"),
		attrs: []attribute.KeyValue{
			attribute.String("db.system.name", "postgresql"),
			attribute.String("db.namespace", c.Database),
			attribute.String("server.address", c.Host),
			attribute.Int("server.port", int(c.Port)),
		},
	}
}

func (q *queryTracer) start(ctx context.Context, name string, attrs ...attribute.KeyValue) context.Context {
	ctx, _ = q.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(q.attrs...), trace.WithAttributes(attrs...))
	return ctx
}

func end(ctx context.Context, err error, attrs ...attribute.KeyValue) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// operation is the statement's first word (SELECT, INSERT, WITH, …): the
// span's name, low in cardinality as names should be.
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexAny(sql, " \t\n("); i > 0 {
		sql = sql[:i]
	}
	return strings.ToUpper(sql)
}

func queryText(sql string) attribute.KeyValue {
	if len(sql) > maxQueryText {
		sql = sql[:maxQueryText]
	}
	return attribute.String("db.query.text", sql)
}

func (q *queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	op := operation(d.SQL)
	return q.start(ctx, op, attribute.String("db.operation.name", op), queryText(d.SQL))
}

func (q *queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	end(ctx, d.Err, attribute.Int64("db.response.returned_rows", d.CommandTag.RowsAffected()))
}

func (q *queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	return q.start(ctx, "BATCH", attribute.String("db.operation.name", "BATCH"),
		attribute.Int("db.operation.batch.size", d.Batch.Len()))
}

// TraceBatchQuery records nothing: the batch's span stands for its statements.
func (q *queryTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (q *queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	end(ctx, d.Err)
}

func (q *queryTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	table := d.TableName.Sanitize()
	return q.start(ctx, "COPY "+table, attribute.String("db.operation.name", "COPY"),
		attribute.String("db.collection.name", table))
}

func (q *queryTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	end(ctx, d.Err, attribute.Int64("db.response.returned_rows", d.CommandTag.RowsAffected()))
}
