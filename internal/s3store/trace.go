package s3store

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Option configures New.
type Option func(*options)

type options struct{ tp trace.TracerProvider }

// WithTracing makes a client span of every S3 operation (its retries
// included) under the caller's span; a nil provider traces nothing and adds
// no middleware.
func WithTracing(tp trace.TracerProvider) Option { return func(o *options) { o.tp = tp } }

// traceMiddleware returns the SDK middleware that starts the operation's
// span. It runs after the SDK has named the operation (Initialize, after
// the service metadata). The go.opentelemetry.io contrib module for the SDK
// is deprecated and pulls in DynamoDB, SNS and SQS: these few lines do what
// the store needs.
func traceMiddleware(tp trace.TracerProvider, bucket string) func(*middleware.Stack) error {
	tracer := tp.Tracer("github.com/userimport/userimport/internal/s3store")
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("userimport.trace",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetOperationName(ctx)
				ctx, span := tracer.Start(ctx, "S3."+op, trace.WithSpanKind(trace.SpanKindClient),
					trace.WithAttributes(
						attribute.String("rpc.system", "aws-api"),
						attribute.String("rpc.service", "S3"),
						attribute.String("rpc.method", op),
						attribute.String("aws.s3.bucket", bucket),
					))
				defer span.End()
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil {
					span.RecordError(err)
					span.SetStatus(codes.Error, err.Error())
				}
				return out, md, err
			}), middleware.After)
	}
}
