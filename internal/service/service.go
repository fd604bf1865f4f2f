// Package service starts what the producer and the worker share: the logger,
// PostgreSQL (migrated), S3, the Redis queue client, the readiness checks and
// the metrics registry.
package service

import (
	"context"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/tracing"
)

// Service is a running process's connections. Close it when done.
type Service struct {
	Config  config.Config
	Log     *zap.Logger
	Store   *postgres.Store
	Files   *s3store.Store
	Redis   asynq.RedisConnOpt
	Queue   *asynq.Client
	Metrics *prometheus.Registry // the Go runtime's and the process's series, to add to
	// Tracing exports the spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nil:
	// tracing off. The store and the files trace their calls through it.
	Tracing *tracing.Provider
}

// Start connects to PostgreSQL and migrates it (every process does, taking
// turns through an advisory lock), to S3 and to Redis; the logger writes
// JSON lines to logs.
func Start(ctx context.Context, cfg config.Config, logs io.Writer) (s *Service, err error) {
	s = &Service{Config: cfg}
	defer func() {
		if err != nil {
			s.Close(ctx)
		}
	}()
	if s.Log, err = cfg.Logger(logs); err != nil {
		return nil, err
	}
	if s.Tracing, err = tracing.Setup(ctx, cfg.Tracing.On(), "userimport-"+cfg.Binary().String()); err != nil {
		return s, err
	}
	tp := s.Tracing.TracerProvider()
	if s.Store, err = postgres.Open(ctx, cfg.DatabaseURL, postgres.WithTracing(tp)); err != nil {
		return s, err
	}
	if err := s.Store.Migrate(ctx); err != nil {
		return s, err
	}
	if s.Files, err = s3store.New(ctx, cfg.S3, s3store.WithTracing(tp)); err != nil {
		return s, err
	}
	if s.Redis, err = cfg.Redis(); err != nil {
		return s, err
	}
	s.Queue = asynq.NewClient(s.Redis)
	s.Metrics = prometheus.NewRegistry()
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, nil
}

// Ready are the checks of /readyz: PostgreSQL, Redis and S3 answer.
func (s *Service) Ready() []health.Check {
	return []health.Check{
		{Name: "postgres", Ping: s.Store.Ping},
		{Name: "redis", Ping: func(context.Context) error { return s.Queue.Ping() }},
		{Name: "s3", Ping: s.Files.Ping},
	}
}

// Tracer is the process's tracer provider; nil when tracing is off.
func (s *Service) Tracer() trace.TracerProvider { return s.Tracing.TracerProvider() }

// Close closes what Start opened, exports the spans not yet sent (for at
// most five seconds, even when ctx is done) and flushes the log.
func (s *Service) Close(ctx context.Context) {
	if s.Queue != nil {
		_ = s.Queue.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.Tracing != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := s.Tracing.Shutdown(ctx); err != nil && s.Log != nil {
			s.Log.Warn("traces not exported", zap.Error(err))
		}
		cancel()
	}
	if s.Log != nil {
		_ = s.Log.Sync()
	}
}
