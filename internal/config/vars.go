package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userfile"
)

// Var is one environment variable: a row of the table.
type Var struct {
	Name string
	// Default is the value when the variable is unset or blank, as it would
	// be written in the environment; "" when empty is the default.
	Default string
	// Unset says what an empty value means, for the reference ("AWS",
	// "endpoint off"); "" when Default is set.
	Unset    string
	Secret   bool   // never printed; a Secret, never a ConfigMap, in deploy/
	Binaries Binary // the programs that read it
	Doc      string // one line of Markdown for docs/configuration.md
	value           // parse: nil when a library reads the variable itself (the AWS SDK)
}

// Defaults are the local stack's values, so that nothing needs setting there
// but S3's endpoint and credentials. The table refers to them; so do the tests
// and the benchmarks.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultBucket      = "userimport"
	DefaultSMTPURL     = "smtp://127.0.0.1:1025"
	DefaultMailFrom    = "userimport@localhost"
	DefaultAddr        = "127.0.0.1:8080"
	DefaultConcurrency = 4
	DefaultChunkSize   = userfile.DefaultChunkSize
	// DefaultTenantChunkLimit leaves half of the default two workers' slots
	// to other tenants while one tenant's large import runs.
	DefaultTenantChunkLimit = 4
	DefaultShutdownTimeout  = 25 * time.Second
	DefaultSweepInterval    = time.Minute
	// DefaultJournalRetention keeps what each import changed for 90 days.
	DefaultJournalRetention = 90 * 24 * time.Hour
	DefaultRetryBaseDelay   = 15 * time.Second
	// A chunk whose worker was killed is handed on within DefaultChunkDeadAfter
	// and a heartbeat of the kill: four missed heartbeats, so that a pause of
	// PostgreSQL or the worker does not hand on a live chunk.
	DefaultChunkHeartbeat = 2 * time.Second
	DefaultChunkDeadAfter = 8 * time.Second
	DefaultRateLimit      = 20
	DefaultRateBurst      = 40
	DefaultFeedSync       = time.Minute
	DefaultEventsPrefix   = "incoming/"
	// The upload limits: each upload in flight holds about 24 MiB of S3 part
	// buffers.
	DefaultUploadMinRate         = 32 << 10 // bytes a second
	DefaultUploadsInFlight       = 16
	DefaultTenantUploadsInFlight = 4
	DefaultLogLevel              = "info"
)

// vars is the table. Its order is the order of --print-config and of
// docs/configuration.md. See the package doc to add a row.
var vars = []Var{
	// Every binary that talks to the services.
	{Name: "DATABASE_URL", Default: postgres.DefaultURL, Secret: true, Binaries: All,
		Doc:   "PostgreSQL connection URL (`postgres://` or `postgresql://`); holds the password",
		value: link(func(c *Config) *string { return &c.DatabaseURL }, checkDatabaseURL)},
	{Name: "REDIS_URL", Default: DefaultRedisURL, Secret: true, Binaries: All,
		Doc:   "Redis for the asynq queues: `redis://[:password@]host:port/db`, `rediss://` for TLS, `redis-sentinel://[:password@]host:port,host:port/db?master=NAME[&tls=true]` for Sentinel",
		value: link(func(c *Config) *string { return &c.RedisURL }, checkRedisURL)},
	{Name: "QUEUE_NAMESPACE", Unset: "no prefix", Binaries: All,
		Doc:   "prefix of the queue names (`NS-critical`, …; lower-case letters, digits, `-`), so that deployments or test runs sharing one Redis never take each other's tasks; producer, workers and importctl must agree",
		value: namespace(func(c *Config) *task.Namespace { return &c.Namespace })},
	{Name: "S3_ENDPOINT", Unset: "AWS", Binaries: All,
		Doc:   "S3 API endpoint of an S3-compatible server (versitygw locally: `http://127.0.0.1:9002`)",
		value: text(func(c *Config) *string { return &c.S3.Endpoint })},
	{Name: "S3_BUCKET", Default: DefaultBucket, Binaries: All,
		Doc:   "the bucket holding uploaded files and error reports; imports read only this bucket",
		value: text(func(c *Config) *string { return &c.S3.Bucket })},
	{Name: "S3_FORCE_PATH_STYLE", Default: "false", Binaries: All,
		Doc: "path-style S3 URLs (`endpoint/bucket/key`), as versitygw and MinIO need (`true` on the local stack)",
		value: boolean(func(c *Config) *bool { return &c.S3.ForcePathStyle },
			"set it to true (S3-compatible servers such as versitygw or MinIO) or false (AWS)")},
	{Name: "S3_READ_TIMEOUT", Default: s3store.DefaultReadTimeout.String(), Binaries: All,
		Doc:   "a connection to S3 silent for this long fails (and the request is retried)",
		value: duration(func(c *Config) *time.Duration { return &c.S3.ReadTimeout })},
	{Name: "AWS_REGION", Unset: "the SDK's chain, else `us-east-1`", Binaries: All,
		Doc: "S3 region; read by the AWS SDK itself"},
	{Name: "AWS_ACCESS_KEY_ID", Unset: "the SDK's chain", Secret: true, Binaries: All,
		Doc: "S3 credentials, read by the AWS SDK's default chain (the environment, shared profiles, IAM roles)"},
	{Name: "AWS_SECRET_ACCESS_KEY", Unset: "the SDK's chain", Secret: true, Binaries: All,
		Doc: "the secret of `AWS_ACCESS_KEY_ID`"},

	// importctl's API mode (docs/cli.md#api-mode), read by importctl itself.
	{Name: "USERIMPORT_API", Unset: "the direct mode", Binaries: Importctl,
		Doc:   "importctl only: the producer's base URL (`https://import.example.com`); when set, `import`, `status`, `retry`, `export` and `feeds` go through the HTTP API instead of the database and the queue (as `--api URL`)",
		value: text(func(c *Config) *string { return &c.API.URL })},
	{Name: "USERIMPORT_TOKEN", Unset: "none (required in API mode)", Secret: true, Binaries: Importctl,
		Doc:   "importctl only: the tenant's API token the API mode sends (as `--token`; `importctl tokens create`)",
		value: secret(func(c *Config) *string { return &c.API.Token }, nil)},

	// The result e-mails.
	{Name: "NOTIFY_MAX_RECIPIENTS", Default: strconv.Itoa(mail.DefaultMaxRecipients), Binaries: All,
		Doc:   "addresses one import or feed may notify; each gets a message of its own (a tenant may also restrict the domains: `importctl tenants set --notify-domains`)",
		value: positive(func(c *Config) *int { return &c.NotifyMaxRecipients })},
	{Name: "SMTP_URL", Default: DefaultSMTPURL, Secret: true, Binaries: Worker,
		Doc:   "SMTP server for result e-mails: `smtp://[user:pass@]host[:port]` (port 25, STARTTLS when offered; `?tls=required` to insist, `?tls=none` never) or `smtps://[user:pass@]host[:port]` (implicit TLS, port 465). A password is never sent unencrypted to a host other than the loopback. Escape `@ : / ? # %` in the password",
		value: smtpURL(func(c *Config) *mail.Config { return &c.Worker.Mail })},
	{Name: "MAIL_FROM", Default: DefaultMailFrom, Binaries: Worker,
		Doc:   "sender of result e-mails (`addr` or `Name <addr>`)",
		value: mailFrom(func(c *Config) *mail.Config { return &c.Worker.Mail })},

	// The producer.
	{Name: "PRODUCER_ADDR", Default: DefaultAddr, Binaries: Producer,
		Doc:   "where the HTTP API, the web pages and the operators' routes listen (`make demo` reads it too)",
		value: text(func(c *Config) *string { return &c.Producer.Addr })},
	{Name: "S3_EVENTS_SECRET", Unset: "events refused", Secret: true, Binaries: Producer,
		Doc:   "the secret S3 event notifications must send to `POST /v1/events/s3`",
		value: secret(func(c *Config) *string { return &c.Producer.EventsSecret }, minLength(32, "openssl rand -hex 32"))},
	{Name: "S3_EVENTS_PREFIX", Default: DefaultEventsPrefix, Binaries: Producer,
		Doc:   "where tenants drop files: `<prefix><tenant>/<name>`; ends with `/`, and never overlaps `uploads/`",
		value: field(func(c *Config) *string { return &c.Producer.EventsPrefix }, checkEventsPrefix, asIs)},
	{Name: "PUBLIC_URL", Unset: "unknown; the e-mail links no page", Binaries: Producer | Worker,
		Doc:   "where browsers reach the producer, `https://host[:port]` (no path); with `https://` cookies are `Secure` and HSTS is sent, the dashboard takes changes from that origin, and the result e-mail links the import's page under it",
		value: field(func(c *Config) *string { return &c.PublicURL }, publicURL, asIs)},
	{Name: "TRUSTED_PROXIES", Unset: "none: the peer is the client", Binaries: Producer,
		Doc:   "comma-separated CIDRs or addresses of the proxies in front of the producer, whose `X-Forwarded-For` (or `Forwarded`) names the client for the failed-token limits",
		value: field(func(c *Config) *[]netip.Prefix { return &c.Producer.TrustedProxies }, prefixes, joinPrefixes)},
	{Name: "UPLOAD_MIN_RATE", Default: strconv.Itoa(DefaultUploadMinRate), Binaries: Producer,
		Doc:   "bytes a second an upload must average after its first 30 s (a pause of 30 s ends it in any case); `0`: no minimum",
		value: atLeastZero(func(c *Config) *int { return &c.Producer.UploadMinRate })},
	{Name: "UPLOADS_IN_FLIGHT", Default: strconv.Itoa(DefaultUploadsInFlight), Binaries: Producer,
		Doc:   "uploads one producer receives at once; over it the API answers 503 with `Retry-After`; `0`: no cap",
		value: atLeastZero(func(c *Config) *int { return &c.Producer.UploadsInFlight })},
	{Name: "TENANT_UPLOADS_IN_FLIGHT", Default: strconv.Itoa(DefaultTenantUploadsInFlight), Binaries: Producer,
		Doc:   "uploads of one tenant one producer receives at once; over it 429 with `Retry-After`; `0`: no cap",
		value: atLeastZero(func(c *Config) *int { return &c.Producer.TenantUploadsInFlight })},
	{Name: "API_RATE_LIMIT", Default: strconv.Itoa(DefaultRateLimit), Binaries: Producer,
		Doc:   "requests a second one API token may make, on average (`0`: no limit); over it the API answers 429 with `Retry-After`. Counted per producer process",
		value: rate(func(c *Config) *float64 { return &c.Producer.RateLimit })},
	{Name: "API_RATE_BURST", Default: strconv.Itoa(DefaultRateBurst), Binaries: Producer,
		Doc:   "requests one API token may make at once",
		value: positive(func(c *Config) *int { return &c.Producer.RateBurst })},
	{Name: "WEB_SESSION_SECRET", Unset: "a random key per process", Secret: true, Binaries: Producer,
		Doc: "signs the web pages' session cookies; 32 characters or more; the same on every producer",
		value: secret(func(c *Config) *string { return &c.Producer.WebSessionSecret },
			minLength(32, "openssl rand -hex 32"))},
	{Name: "FEED_SYNC_INTERVAL", Default: DefaultFeedSync.String(), Binaries: Producer,
		Doc:   "how often each producer reads the feeds' schedules again: a new or changed feed applies within it",
		value: duration(func(c *Config) *time.Duration { return &c.Producer.FeedSync })},

	// Operators.
	{Name: "MONITORING_VIEWER", Unset: "nobody", Secret: true, Binaries: Producer | Worker,
		Doc:   "`user:password` (12+ characters) for the dashboard, read-only, and `/metrics`",
		value: credential(func(c *Config) *operator.Credential { return &c.Monitoring.Viewer })},
	{Name: "MONITORING_ADMIN", Unset: "nobody", Secret: true, Binaries: Producer | Worker,
		Doc:   "`user:password` for the dashboard with retry, delete, pause, and `/metrics`",
		value: credential(func(c *Config) *operator.Credential { return &c.Monitoring.Admin })},
	{Name: "METRICS_TOKEN", Unset: "none", Secret: true, Binaries: Producer | Worker,
		Doc:   "bearer token a Prometheus scraper sends for `/metrics`",
		value: secret(func(c *Config) *string { return &c.Monitoring.MetricsToken }, minLength(32, "openssl rand -hex 32"))},
	{Name: "MONITORING_PROMETHEUS_URL", Unset: "no charts", Binaries: Producer,
		Doc:   "a Prometheus server that scrapes the producer: the dashboard then charts the queues over time (it queries Prometheus itself, behind the dashboard's credentials)",
		value: link(func(c *Config) *string { return &c.Producer.PrometheusURL }, checkPrometheusURL)},

	// The worker.
	{Name: "WORKER_CONCURRENCY", Default: strconv.Itoa(DefaultConcurrency), Binaries: Worker,
		Doc:   "tasks a worker process runs at once",
		value: positive(func(c *Config) *int { return &c.Worker.Concurrency })},
	{Name: "WORKER_HEALTH_ADDR", Unset: "not served", Binaries: Worker,
		Doc:   "where a worker serves `GET /healthz`, `GET /readyz` and `GET /metrics` (e.g. `:9090` in a container; empty by default so that several workers can run on one machine)",
		value: text(func(c *Config) *string { return &c.Worker.HealthAddr })},
	{Name: "WORKER_SHUTDOWN_TIMEOUT", Default: DefaultShutdownTimeout.String(), Binaries: Worker,
		Doc:   "on SIGTERM, how long tasks in flight may finish before they go back to the queue",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.ShutdownTimeout })},
	{Name: "TENANT_CHUNK_LIMIT", Default: strconv.Itoa(DefaultTenantChunkLimit), Binaries: Worker,
		Doc:   "a tenant's chunks in flight across all workers; `0`: no limit (see [Fairness](operations.md#fairness-between-tenants))",
		value: atLeastZero(func(c *Config) *int { return &c.Worker.TenantChunkLimit })},
	{Name: "SWEEP_INTERVAL", Default: DefaultSweepInterval.String(), Binaries: Worker,
		Doc:   "how often each worker re-enqueues what PostgreSQL says is unfinished (and older than this)",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.SweepInterval })},
	{Name: "JOURNAL_RETENTION", Default: DefaultJournalRetention.String(), Binaries: Worker,
		Doc:   "how long the change journal keeps what an import changed (its user history, and what an undo needs); the workers' sweep drops older entries",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.JournalRetention })},
	{Name: "CHUNK_HEARTBEAT_INTERVAL", Default: DefaultChunkHeartbeat.String(), Binaries: Worker,
		Doc:   "how often a running chunk renews its lease in PostgreSQL (and its tenant slot), and how often each worker looks for chunks whose lease ran out (see [Recovery](reliability.md#a-worker-killed-mid-chunk))",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.ChunkHeartbeat })},
	{Name: "CHUNK_DEAD_AFTER", Default: DefaultChunkDeadAfter.String(), Binaries: Worker,
		Doc:   "how old a running chunk's heartbeat may be before the chunk is handed to another worker under a new task ID; more than `CHUNK_HEARTBEAT_INTERVAL`",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.ChunkDeadAfter })},
	{Name: "RETRY_BASE_DELAY", Default: DefaultRetryBaseDelay.String(), Binaries: Worker,
		Doc:   "a failed task's first wait before its retry; doubled at each of the 10 retries, up to an hour, ±25 % jitter",
		value: duration(func(c *Config) *time.Duration { return &c.Worker.RetryBaseDelay })},
	{Name: "CHUNK_SIZE", Default: strconv.Itoa(DefaultChunkSize), Binaries: Worker,
		Doc:   "records per chunk task (the worker that plans an import decides)",
		value: positive(func(c *Config) *int { return &c.Worker.ChunkSize })},

	{Name: "LOG_LEVEL", Default: DefaultLogLevel, Binaries: Producer | Worker,
		Doc:   "`debug`, `info`, `warn` or `error`",
		value: oneOf(func(c *Config) *string { return &c.LogLevel }, "debug", "info", "warn", "error")},

	// Tracing (docs/operations.md#tracing): off unless an endpoint is set.
	// The OpenTelemetry SDK reads every OTEL_* variable itself; the table
	// lists those an operator is likely to set.
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Unset: "tracing off", Binaries: Producer | Worker,
		Doc:   "OTLP/HTTP collector to export traces to (`http://collector:4318`; `/v1/traces` is appended); set, the producer and the workers trace every import, from the request to the e-mail, as one trace",
		value: text(func(c *Config) *string { return &c.Tracing.Endpoint })},
	{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Unset: "`OTEL_EXPORTER_OTLP_ENDPOINT`", Binaries: Producer | Worker,
		Doc:   "the full URL traces go to (`http://collector:4318/v1/traces`), instead of `OTEL_EXPORTER_OTLP_ENDPOINT`; either one turns tracing on",
		value: text(func(c *Config) *string { return &c.Tracing.TracesEndpoint })},
	{Name: "OTEL_EXPORTER_OTLP_HEADERS", Unset: "none", Secret: true, Binaries: Producer | Worker,
		Doc: "headers sent with every export, `key=value,key=value` (a collector's API key); read by the SDK itself"},
	{Name: "OTEL_SERVICE_NAME", Unset: "`userimport-producer`, `userimport-worker`", Binaries: Producer | Worker,
		Doc: "the traces' `service.name`; read by the SDK itself"},
	{Name: "OTEL_RESOURCE_ATTRIBUTES", Unset: "none", Binaries: Producer | Worker,
		Doc: "more resource attributes, `key=value,...` (`deployment.environment.name=prod`); read by the SDK itself"},
	{Name: "OTEL_TRACES_SAMPLER", Unset: "`parentbased_always_on`", Binaries: Producer | Worker,
		Doc: "the sampler (`parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.1` keeps a tenth of the imports); read by the SDK itself"},
	{Name: "OTEL_TRACES_SAMPLER_ARG", Unset: "none", Binaries: Producer | Worker,
		Doc: "the sampler's argument (the ratio); read by the SDK itself"},
}

// Library says that a library reads the variable itself (the AWS SDK, the
// OpenTelemetry SDK): Load and Print never look at it.
func (v Var) Library() bool { return v.parse == nil }

// Vars returns the table, in its order.
func Vars() []Var { return append([]Var(nil), vars...) }

// Lookup returns the row of the variable name.
func Lookup(name string) (Var, bool) {
	for _, v := range vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

// Names returns the variables the binaries in b read, in the table's order.
func Names(b Binary) []string {
	var names []string
	for _, v := range vars {
		if v.Binaries&b != 0 {
			names = append(names, v.Name)
		}
	}
	return names
}

// Summary is the paragraph of a binary's --help that lists its variables,
// wrapped at 80 columns.
func Summary(b Binary) string {
	var s strings.Builder
	line := "Configuration comes from the environment (docs/configuration.md):"
	for _, n := range Names(b) {
		if len(line)+1+len(n)+1 > 80 {
			s.WriteString(line + "\n")
			line = ""
		} else {
			line += " "
		}
		line += n + ","
	}
	s.WriteString(strings.TrimSuffix(line, ",") + ".\n")
	return s.String()
}
