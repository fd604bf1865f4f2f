// Package service starts what the producer and the worker share: the logger,
// PostgreSQL (migrated), S3, the Redis queue client, the readiness checks and
// the metrics registry.
package service

import (
	"context"
	"io"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
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
}

// Start connects to PostgreSQL and migrates it (every process does, taking
// turns through an advisory lock), to S3 and to Redis; the logger writes
// JSON lines to logs.
func Start(ctx context.Context, cfg config.Config, logs io.Writer) (s *Service, err error) {
	s = &Service{Config: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Log, err = cfg.Logger(logs); err != nil {
		return nil, err
	}
	if s.Store, err = postgres.Open(ctx, cfg.DatabaseURL); err != nil {
		return s, err
	}
	if err := s.Store.Migrate(ctx); err != nil {
		return s, err
	}
	if s.Files, err = s3store.New(ctx, cfg.S3); err != nil {
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

// Close closes what Start opened and flushes the log.
func (s *Service) Close() {
	if s.Queue != nil {
		_ = s.Queue.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.Log != nil {
		_ = s.Log.Sync()
	}
}
