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
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/gcpace"
	"github.com/userimport/userimport/internal/health"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/metrics"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/service"
	"github.com/userimport/userimport/internal/tenantlimit"
	"github.com/userimport/userimport/worker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	gcpace.Relax(os.Getenv, workerHeapLimit)
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

// workerHeapLimit is the soft limit of a worker's heap: with the binary and
// the runtime's own, a worker stays under 128 MiB (issue 15's budget) on a
// million-record file.
const workerHeapLimit = 96 << 20

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	printConfig := fs.Bool("print-config", false, "print the configuration (secrets masked) and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: worker [--print-config]

Runs import tasks from Redis until SIGTERM.
%s
On SIGTERM the worker stops taking tasks and gives those in flight
WORKER_SHUTDOWN_TIMEOUT (default %s) to finish; the unfinished ones go back to
the queue (a chunk's transaction rolls back, and the chunk is applied later,
once).

Examples:
  eval "$(deploy/local/stack.sh env)"; worker        # on the local stack
  WORKER_CONCURRENCY=8 worker
  WORKER_HEALTH_ADDR=:9090 METRICS_TOKEN=$(openssl rand -hex 32) worker   # /healthz, /readyz, /metrics on :9090
  worker --print-config
`, config.Summary(config.Worker), config.DefaultShutdownTimeout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Worker, getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *printConfig {
		return cfg.Print(stdout)
	}
	svc, err := service.Start(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer svc.Close(ctx)
	log, redis := svc.Log, svc.Redis
	sender, err := mail.NewSender(cfg.Worker.Mail, mail.WithTracing(svc.Tracer()))
	if err != nil {
		return err
	}
	deps := worker.Deps{Store: svc.Store, Files: svc.Files, Queue: svc.Queue, Mail: sender, Log: log,
		ChunkSize: cfg.Worker.ChunkSize, Namespace: cfg.Namespace, Metrics: metrics.NewImporter(svc.Metrics),
		JournalRetention: cfg.Worker.JournalRetention,
		NotifyMax:        cfg.NotifyMaxRecipients, PublicURL: cfg.PublicURL, Tracer: svc.Tracer(),
		Heartbeat: cfg.Worker.ChunkHeartbeat, DeadAfter: cfg.Worker.ChunkDeadAfter}
	if cfg.Worker.ChunkDeadAfter <= cfg.Worker.ChunkHeartbeat {
		return fmt.Errorf("CHUNK_DEAD_AFTER %s must be more than CHUNK_HEARTBEAT_INTERVAL %s", cfg.Worker.ChunkDeadAfter, cfg.Worker.ChunkHeartbeat)
	}
	if cfg.Worker.TenantChunkLimit > 0 {
		rdb, ok := redis.MakeRedisClient().(goredis.UniversalClient)
		if !ok {
			return fmt.Errorf("REDIS_URL: no client for %T", redis)
		}
		defer rdb.Close()
		deps.Limiter = tenantlimit.New(rdb, string(cfg.Namespace), cfg.Worker.TenantChunkLimit, cfg.Worker.ChunkDeadAfter)
		inspector := asynq.NewInspector(redis)
		defer inspector.Close()
		deps.Runner = inspector
	}

	srv := asynq.NewServer(redis, asynq.Config{
		Concurrency: cfg.Worker.Concurrency,
		Queues:      cfg.Namespace.Queues(),
		// asynq waits up to 1 s (default) before looking at empty queues again:
		// each import has three such hand-offs (plan, the first chunk, finalize),
		// which a user waiting for a small import notices. A tenth of that is
		// still light on Redis.
		TaskCheckInterval: 100 * time.Millisecond,
		// Throttled chunks not called in by a freed slot wait in the retry
		// set; it is looked at every second rather than every five.
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.Worker.ShutdownTimeout,
		IsFailure:                worker.IsFailure,
		RetryDelayFunc:           worker.RetryDelay(cfg.Worker.RetryBaseDelay),
		Logger:                   log.Sugar().Named("asynq"),
		// One place logs task failures (STYLE.md §4).
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, t *asynq.Task, err error) {
			if errors.Is(err, worker.ErrThrottled) || errors.Is(err, worker.ErrWaiting) {
				return // routine: throttled ones are counted in userimport_tenant_throttled_total
			}
			log.Warn("task failed", zap.String("type", t.Type()), zap.Error(err))
		}),
	})
	handlers := worker.NewHandlers(deps)
	mux := handlers.ServeMux()
	log.Info("worker starting", zap.Int("concurrency", cfg.Worker.Concurrency), zap.String("bucket", cfg.S3.Bucket), zap.Bool("tracing", cfg.Tracing.On()))
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if cfg.Worker.HealthAddr != "" {
		stop, err := serveHealth(cfg.Worker.HealthAddr, svc.Ready(), operator.Metrics(cfg.Monitoring, svc.Metrics), log)
		if err != nil {
			srv.Shutdown()
			return err
		}
		defer stop()
	}
	// Joined before the deferred closes, so that a sweep in flight never
	// enqueues on a closed client.
	swept := make(chan struct{})
	go func() { defer close(swept); sweep(ctx, handlers, cfg.Worker.SweepInterval, log) }()
	orphans := make(chan struct{})
	go func() { defer close(orphans); sweepOrphans(ctx, handlers, cfg.Worker.ChunkHeartbeat, log) }()
	<-ctx.Done()
	log.Info("worker stopping: in-flight tasks finish or go back to the queue")
	srv.Shutdown()
	<-swept
	<-orphans
	return nil
}

// Every interval, each worker puts back on the queue the tasks of imports
// older than the interval that PostgreSQL says are unfinished (lost with
// Redis, or never enqueued after a crash). Task IDs keep the workers' sweeps
// from duplicating anything.
func sweep(ctx context.Context, h *worker.Handlers, interval time.Duration, log *zap.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := h.Sweep(ctx, interval); err != nil && ctx.Err() == nil {
				log.Warn("sweep failed", zap.Error(err))
			}
		}
	}
}

// Every heartbeat interval, each worker hands on the chunks whose worker
// stopped renewing their lease (see worker.Handlers.SweepOrphans): a killed
// worker's chunks run again within CHUNK_DEAD_AFTER and a heartbeat, rather
// than when asynq's own lease on the task expires.
func sweepOrphans(ctx context.Context, h *worker.Handlers, interval time.Duration, log *zap.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := h.SweepOrphans(ctx); err != nil && ctx.Err() == nil {
				log.Warn("orphaned chunks not handed on", zap.Error(err))
			}
		}
	}
}

// serveHealth serves /healthz, /readyz and /metrics on addr until stop is
// called.
func serveHealth(addr string, checks []health.Check, metrics http.Handler, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("WORKER_HEALTH_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	health.Register(mux, checks, log)
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("health endpoint stopped", zap.Error(err))
		}
	}()
	log.Info("health endpoints listening", zap.String("addr", ln.Addr().String()))
	return func() { _ = srv.Close() }, nil
}
