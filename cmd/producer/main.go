// Command producer serves the HTTP API that turns files into import jobs:
// uploads are streamed to S3, recorded in PostgreSQL and queued for the
// workers in Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/metrics"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/service"
	"github.com/userimport/userimport/producer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	printConfig := fs.Bool("print-config", false, "print the configuration (secrets masked) and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: producer [--print-config]

Serves the HTTP API (PRODUCER_ADDR, default %s) until SIGTERM, with the
operators' routes beside it: the asynq dashboard at /monitoring/ (MONITORING_VIEWER
read-only, MONITORING_ADMIN with retry/delete/pause), Prometheus metrics at /metrics
(METRICS_TOKEN as a bearer token, or an operator's credentials), /healthz and /readyz.
%s
Examples:
  eval "$(deploy/local/stack.sh env)"; producer
  TOKEN=$(importctl tokens create --tenant acme --name curl)
  curl -H "Authorization: Bearer $TOKEN" -F file=@users.csv -F notify=hr@acme.example http://127.0.0.1:8080/v1/imports
  MONITORING_VIEWER=ops:a-long-password producer   # then open http://127.0.0.1:8080/monitoring/
`, config.DefaultAddr, config.Summary(config.Producer))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(config.Producer, getenv)
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
	log, store, redis, queue := svc.Log, svc.Store, svc.Redis, svc.Queue
	// Every producer runs the feeds' scheduler: a run starts once however
	// many of them fire it.
	stopFeeds, err := producer.FeedScheduler{Redis: redis, Store: store, Queue: queue, Namespace: cfg.Namespace, Log: log,
		SyncInterval: cfg.Producer.FeedSync}.Start(ctx)
	if err != nil {
		return err
	}
	defer stopFeeds()
	inspector := asynq.NewInspector(redis)
	defer inspector.Close()
	dashboard := operator.NewDashboard(cfg.Monitoring, redis, cfg.Producer.PrometheusURL)
	dashboard.PublicOrigin = cfg.PublicURL
	defer dashboard.Close()

	// The queues' series (asynq's exporter) and the imports' (PostgreSQL's)
	// are the same whichever producer is scraped; the workers export what
	// they did themselves.
	svc.Metrics.MustRegister(asynqmetrics.NewQueueMetricsCollector(inspector), metrics.NewImportsCollector(store.ImportStats))

	srv := &http.Server{
		Addr: cfg.Producer.Addr,
		Handler: producer.NewHandler(producer.Deps{Store: store, Files: svc.Files, Queue: queue, Log: log,
			Events: producer.Events{Secret: cfg.Producer.EventsSecret, Prefix: cfg.Producer.EventsPrefix}, Namespace: cfg.Namespace,
			Ready:     svc.Ready(),
			Dashboard: dashboard, Metrics: operator.Metrics(cfg.Monitoring, svc.Metrics),
			RateLimit:             producer.Rate{PerSecond: cfg.Producer.RateLimit, Burst: cfg.Producer.RateBurst},
			FailedAuthLimit:       producer.DefaultFailedAuthLimit,
			TrustedProxies:        cfg.Producer.TrustedProxies,
			PublicURL:             cfg.PublicURL,
			UploadMinRate:         int64(cfg.Producer.UploadMinRate),
			UploadsInFlight:       cfg.Producer.UploadsInFlight,
			TenantUploadsInFlight: cfg.Producer.TenantUploadsInFlight,
			WebSessionSecret:      cfg.Producer.WebSessionSecret,
			NotifyMax:             cfg.NotifyMaxRecipients,
			Tracer:                svc.Tracer()}),
		// No ReadTimeout or WriteTimeout: an upload of 512 MiB, and its
		// answer after it, or the download of a large error report may
		// rightly take longer than any fixed bound. The handler puts each
		// request's body under its own deadline instead (a minimum rate for
		// uploads, 30 s for the rest).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("producer listening", zap.String("addr", cfg.Producer.Addr), zap.Bool("tracing", cfg.Tracing.On()))
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", cfg.Producer.Addr, err)
	case <-ctx.Done():
	}
	log.Info("producer stopping: finishing requests in flight")
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 25*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
