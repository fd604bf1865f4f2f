package mail

import (
	"context"

	gomail "github.com/wneessen/go-mail"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/userimport/userimport/internal/tracing"
)

// Option configures NewSender.
type Option func(*Sender)

// WithTracing makes a client span of every SMTP session under the caller's
// span; a nil provider traces nothing.
func WithTracing(tp trace.TracerProvider) Option {
	return func(s *Sender) { s.tracer = tracing.Tracer(tp, "github.com/userimport/userimport/internal/mail") }
}

// deliverTraced is deliver in a span. The span names the server and counts
// the messages; it never holds an address (the errors are scrubbed of them).
func (s *Sender) deliverTraced(ctx context.Context, rcpts []string, msgs []*gomail.Msg) error {
	ctx, span := s.tracer.Start(ctx, "SMTP send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("server.address", s.srv.host),
			attribute.Int("server.port", s.srv.port),
			attribute.Int("userimport.mail.messages", len(msgs)),
		))
	err := s.deliver(ctx, rcpts, msgs)
	tracing.End(span, err)
	return err
}
