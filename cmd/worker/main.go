// Command worker carries out imports: an asynq server running the import:plan,
// import:chunk and import:finalize handlers. Run as many as you like, on as
// many machines: they share the work through Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// shutdownTimeout is how long in-flight tasks get to finish on SIGTERM; the
// unfinished ones go back to the queue (a chunk's transaction rolls back and
// the chunk is applied again later, effectively once).
const shutdownTimeout = 25 * time.Second

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	printConfig := fs.Bool("print-config", false, "print the configuration (secrets masked) and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: worker [--print-config]

Runs import tasks from Redis until SIGTERM. Configuration comes from the environment
(see README.md): DATABASE_URL, REDIS_URL, S3_ENDPOINT, S3_BUCKET, S3_FORCE_PATH_STYLE,
AWS_* (the SDK's default chain), SMTP_URL, MAIL_FROM, WORKER_CONCURRENCY, WORKER_HEALTH_ADDR, CHUNK_SIZE, LOG_LEVEL.

Examples:
  eval "$(deploy/local/stack.sh env)"; worker        # on the local stack
  WORKER_CONCURRENCY=8 worker
  worker --print-config
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *printConfig {
		return cfg.Print(stdout)
	}
	log, err := cfg.Logger(stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	store, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	// Every worker migrates at start; the advisory lock makes them take turns.
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	files, err := s3store.New(ctx, cfg.S3)
	if err != nil {
		return err
	}
	sender, err := mail.NewSender(cfg.Mail)
	if err != nil {
		return err
	}
	redis, err := cfg.Redis()
	if err != nil {
		return err
	}
	client := asynq.NewClient(redis)
	defer client.Close()

	srv := asynq.NewServer(redis, asynq.Config{
		Concurrency: cfg.Concurrency,
		Queues:      cfg.Namespace.Queues(),
		// asynq waits up to 1 s (default) before looking at empty queues again:
		// each import has three such hand-offs (plan, the first chunk, finalize),
		// which a user waiting for a small import notices. A tenth of that is
		// still light on Redis.
		TaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:   shutdownTimeout,
		Logger:            log.Sugar().Named("asynq"),
		// One place logs task failures (STYLE.md §4).
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, t *asynq.Task, err error) {
			log.Warn("task failed", zap.String("type", t.Type()), zap.Error(err))
		}),
	})
	handlers := worker.NewHandlers(worker.Deps{Store: store, Files: files, Queue: client, Mail: sender, Log: log,
		ChunkSize: cfg.ChunkSize, Namespace: cfg.Namespace})
	mux := handlers.ServeMux()
	log.Info("worker starting", zap.Int("concurrency", cfg.Concurrency), zap.String("bucket", cfg.S3.Bucket))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if cfg.HealthAddr != "" {
		stop, err := serveHealth(cfg.HealthAddr, []health.Check{
			{Name: "postgres", Ping: store.Ping},
			{Name: "redis", Ping: func(context.Context) error { return client.Ping() }},
			{Name: "s3", Ping: files.Ping},
		}, log)
		if err != nil {
			srv.Shutdown()
			return err
		}
		defer stop()
	}
	// Joined before the deferred closes, so that a sweep in flight never
	// enqueues on a closed client.
	swept := make(chan struct{})
	go func() { defer close(swept); sweep(ctx, handlers, log) }()
	<-ctx.Done()
	log.Info("worker stopping: in-flight tasks finish or go back to the queue")
	srv.Shutdown()
	<-swept
	return nil
}

// Every sweepInterval, each worker puts back on the queue the tasks of
// imports older than sweepMinAge that PostgreSQL says are unfinished (lost
// with Redis, or never enqueued after a crash). Task IDs keep the workers'
// sweeps from duplicating anything.
const (
	sweepInterval = time.Minute
	sweepMinAge   = time.Minute
)

func sweep(ctx context.Context, h *worker.Handlers, log *zap.Logger) {
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := h.Sweep(ctx, sweepMinAge); err != nil && ctx.Err() == nil {
				log.Warn("sweep failed", zap.Error(err))
			}
		}
	}
}

// serveHealth serves /healthz and /readyz on addr until stop is called.
func serveHealth(addr string, checks []health.Check, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("WORKER_HEALTH_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	health.Register(mux, checks, log)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("health endpoint stopped", zap.Error(err))
		}
	}()
	log.Info("health endpoints listening", zap.String("addr", ln.Addr().String()))
	return func() { _ = srv.Close() }, nil
}
