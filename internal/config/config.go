// Package config loads the service's settings from the environment, the same
// names for every binary, validates them and prints them with secrets masked.
package config

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
)

// Config is every setting of the service.
type Config struct {
	DatabaseURL string
	RedisURL    string
	Namespace   task.Namespace // QUEUE_NAMESPACE: prefixes the queue names
	S3          s3store.Config
	Mail        mail.Config
	// Producer settings.
	Addr         string        // where the HTTP API listens
	EventsSecret string        // authenticates S3 event notifications; empty: endpoint off
	EventsPrefix string        // where tenants drop files: <prefix><tenant>/<name>
	RateLimit    float64       // requests a second one API token may make; 0: no limit
	RateBurst    int           // requests one API token may make at once
	FeedSync     time.Duration // how often the producer reads the feeds' schedules again
	// WebSessionSecret signs the web pages' session cookies; empty: a random
	// key per process, so sessions end when it restarts.
	WebSessionSecret string
	// NotifyMaxRecipients is how many addresses one import or feed may
	// notify (producer, worker and importctl all check it).
	NotifyMaxRecipients int
	// Worker settings.
	Concurrency int    // tasks a worker runs at once
	HealthAddr  string // where a worker serves /healthz, /readyz and /metrics; empty: nowhere
	ChunkSize   int    // records per chunk task
	// TenantChunkLimit caps one tenant's chunks in flight across all workers,
	// so that a large import leaves room for the others; 0: no cap.
	TenantChunkLimit int
	ShutdownTimeout  time.Duration // how long a stopping worker lets its tasks finish
	SweepInterval    time.Duration // how often a worker re-enqueues what PostgreSQL says is unfinished
	RetryBaseDelay   time.Duration // a failed task's first wait; doubled at each retry
	LogLevel         string
	// Operator access: the dashboard at /monitoring/ and /metrics.
	Monitoring operator.Credentials
	// PrometheusURL, when set, lets the dashboard chart the queues over time.
	PrometheusURL string
}

// Defaults are the local stack's values, so that nothing needs setting there.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultAddr        = "127.0.0.1:8080"
	DefaultConcurrency = 4
	DefaultChunkSize   = 2000
	// DefaultTenantChunkLimit leaves half of the default two workers' slots
	// to other tenants while one tenant's large import runs.
	DefaultTenantChunkLimit = 4
	DefaultShutdownTimeout  = 25 * time.Second
	DefaultSweepInterval    = time.Minute
	DefaultRetryBaseDelay   = 15 * time.Second
	DefaultRateLimit        = 20
	DefaultFeedSync         = time.Minute
	DefaultRateBurst        = 40
)

// Load reads the settings with getenv and checks them; the error lists every
// setting that is wrong.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:      or(getenv("DATABASE_URL"), postgres.DefaultURL),
		RedisURL:         or(getenv("REDIS_URL"), DefaultRedisURL),
		Namespace:        task.Namespace(getenv("QUEUE_NAMESPACE")),
		LogLevel:         or(getenv("LOG_LEVEL"), "info"),
		Addr:             or(getenv("PRODUCER_ADDR"), DefaultAddr),
		EventsSecret:     getenv("S3_EVENTS_SECRET"),
		WebSessionSecret: getenv("WEB_SESSION_SECRET"),
		PrometheusURL:    getenv("MONITORING_PROMETHEUS_URL"),
		EventsPrefix:     or(getenv("S3_EVENTS_PREFIX"), "incoming/"),
		HealthAddr:       getenv("WORKER_HEALTH_ADDR"),
		Monitoring:       operator.Credentials{MetricsToken: getenv("METRICS_TOKEN")},
	}
	var errs []error
	var err error
	if c.S3, err = s3store.ConfigFromEnv(envOr(getenv, "S3_BUCKET", "userimport")); err != nil {
		errs = append(errs, err)
	}
	if c.Mail, err = mail.ConfigFromEnv(envOr(envOr(getenv, "SMTP_URL", "smtp://127.0.0.1:1025"), "MAIL_FROM", "userimport@localhost")); err != nil {
		errs = append(errs, err)
	}
	if c.Concurrency, err = positive(getenv, "WORKER_CONCURRENCY", DefaultConcurrency); err != nil {
		errs = append(errs, err)
	}
	if c.ChunkSize, err = positive(getenv, "CHUNK_SIZE", DefaultChunkSize); err != nil {
		errs = append(errs, err)
	}
	if c.TenantChunkLimit, err = atLeastZero(getenv, "TENANT_CHUNK_LIMIT", DefaultTenantChunkLimit); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout, err = duration(getenv, "WORKER_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	if c.SweepInterval, err = duration(getenv, "SWEEP_INTERVAL", DefaultSweepInterval); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.PrometheusURL); c.PrometheusURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, errors.New("MONITORING_PROMETHEUS_URL: want http(s)://host:port of a Prometheus server"))
	}
	if c.WebSessionSecret != "" && len(c.WebSessionSecret) < 32 {
		errs = append(errs, errors.New("WEB_SESSION_SECRET: want 32 characters or more (e.g. openssl rand -hex 32)"))
	}
	if c.FeedSync, err = duration(getenv, "FEED_SYNC_INTERVAL", DefaultFeedSync); err != nil {
		errs = append(errs, err)
	}
	if c.RateLimit, err = rate(getenv, "API_RATE_LIMIT", DefaultRateLimit); err != nil {
		errs = append(errs, err)
	}
	if c.RateBurst, err = positive(getenv, "API_RATE_BURST", DefaultRateBurst); err != nil {
		errs = append(errs, err)
	}
	if c.NotifyMaxRecipients, err = positive(getenv, "NOTIFY_MAX_RECIPIENTS", mail.DefaultMaxRecipients); err != nil {
		errs = append(errs, err)
	}
	if c.RetryBaseDelay, err = duration(getenv, "RETRY_BASE_DELAY", DefaultRetryBaseDelay); err != nil {
		errs = append(errs, err)
	}
	if c.Monitoring.Viewer, err = credential(getenv, "MONITORING_VIEWER"); err != nil {
		errs = append(errs, err)
	}
	if c.Monitoring.Admin, err = credential(getenv, "MONITORING_ADMIN"); err != nil {
		errs = append(errs, err)
	}
	for _, r := range c.Namespace {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			errs = append(errs, fmt.Errorf("QUEUE_NAMESPACE %q: use lower-case letters, digits and -", c.Namespace))
			break
		}
	}
	if _, err := c.Redis(); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL: want postgres://user:password@host:port/database"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL %q: use debug, info, warn or error", c.LogLevel))
	}
	return c, errors.Join(errs...)
}

// Redis returns asynq's connection options for REDIS_URL: redis:// (rediss://
// for TLS) for one server, redis-sentinel:// for a master found through
// Sentinel.
func (c Config) Redis() (asynq.RedisConnOpt, error) {
	if strings.HasPrefix(c.RedisURL, "redis-sentinel://") {
		return sentinel(c.RedisURL)
	}
	opt, err := asynq.ParseRedisURI(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w (want redis://[:password@]host:port/db)", err)
	}
	return opt, nil
}

// sentinel reads redis-sentinel://[:password@]host:port[,host:port...][/db]?master=NAME[&tls=true].
// asynq's own parser takes the password for the sentinels' only, and no
// database or TLS; here the password is the master's (and the sentinels',
// which usually share it), as a Redis behind Sentinel normally has one.
func sentinel(raw string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("REDIS_URL: not a URL (want redis-sentinel://[:password@]host:port,host:port/db?master=NAME)")
	}
	q := u.Query()
	opt := asynq.RedisFailoverClientOpt{MasterName: q.Get("master"), SentinelAddrs: strings.Split(u.Host, ",")}
	if opt.MasterName == "" || u.Host == "" {
		return nil, errors.New("REDIS_URL: a Sentinel URL needs its hosts and ?master=NAME")
	}
	if p, ok := u.User.Password(); ok {
		opt.Password, opt.SentinelPassword = p, p
	}
	opt.Username = u.User.Username()
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if opt.DB, err = strconv.Atoi(db); err != nil || opt.DB < 0 {
			return nil, fmt.Errorf("REDIS_URL: database %q: want a number", db)
		}
	}
	if q.Get("tls") == "true" {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opt, nil
}

// Print writes the settings, one a line, secrets masked.
func (c Config) Print(w io.Writer) error {
	settings := []struct{ name, value string }{
		{"DATABASE_URL", maskURL(c.DatabaseURL)},
		{"REDIS_URL", maskURL(c.RedisURL)},
		{"QUEUE_NAMESPACE", string(c.Namespace)},
		{"S3_ENDPOINT", c.S3.Endpoint},
		{"S3_BUCKET", c.S3.Bucket},
		{"S3_FORCE_PATH_STYLE", strconv.FormatBool(c.S3.ForcePathStyle)},
		{"S3_READ_TIMEOUT", cmp.Or(c.S3.ReadTimeout, s3store.DefaultReadTimeout).String()},
		{"SMTP_URL", c.Mail.Redacted()},
		{"MAIL_FROM", c.Mail.From},
		{"PRODUCER_ADDR", c.Addr},
		{"S3_EVENTS_SECRET", masked(c.EventsSecret)},
		{"S3_EVENTS_PREFIX", c.EventsPrefix},
		{"API_RATE_LIMIT", strconv.FormatFloat(c.RateLimit, 'g', -1, 64)},
		{"API_RATE_BURST", strconv.Itoa(c.RateBurst)},
		{"WEB_SESSION_SECRET", masked(c.WebSessionSecret)},
		{"NOTIFY_MAX_RECIPIENTS", strconv.Itoa(c.NotifyMaxRecipients)},
		{"FEED_SYNC_INTERVAL", c.FeedSync.String()},
		{"MONITORING_VIEWER", maskedCredential(c.Monitoring.Viewer)},
		{"MONITORING_ADMIN", maskedCredential(c.Monitoring.Admin)},
		{"METRICS_TOKEN", masked(c.Monitoring.MetricsToken)},
		{"MONITORING_PROMETHEUS_URL", maskURL(c.PrometheusURL)},
		{"WORKER_CONCURRENCY", strconv.Itoa(c.Concurrency)},
		{"WORKER_HEALTH_ADDR", c.HealthAddr},
		{"WORKER_SHUTDOWN_TIMEOUT", c.ShutdownTimeout.String()},
		{"TENANT_CHUNK_LIMIT", strconv.Itoa(c.TenantChunkLimit)},
		{"SWEEP_INTERVAL", c.SweepInterval.String()},
		{"RETRY_BASE_DELAY", c.RetryBaseDelay.String()},
		{"CHUNK_SIZE", strconv.Itoa(c.ChunkSize)},
		{"LOG_LEVEL", c.LogLevel},
	}
	for _, s := range settings {
		if _, err := fmt.Fprintf(w, "%s=%s\n", s.name, s.value); err != nil {
			return err
		}
	}
	return nil
}

func maskedCredential(c operator.Credential) string {
	if !c.Set() {
		return "(unset)"
	}
	return c.User + ":xxxxx"
}

// masked says whether a secret is set, never what it is.
func masked(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "xxxxx"
}

// maskURL hides a URL's password.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// envOr is getenv with a default for one variable.
func envOr(getenv func(string) string, name, def string) func(string) string {
	return func(k string) string {
		if v := getenv(k); v != "" || k != name {
			return v
		}
		return def
	}
}

func positive(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a whole number above 0", name, v)
	}
	return n, nil
}

func atLeastZero(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a whole number, 0 or more", name, v)
	}
	return n, nil
}

func rate(getenv func(string) string, name string, def float64) (float64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%s %q: want requests a second, such as 20 or 0.5 (0: no limit)", name, v)
	}
	return f, nil
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a duration above 0 such as 30s or 2m", name, v)
	}
	return d, nil
}

// credential reads "user:password"; the error never repeats the value.
func credential(getenv func(string) string, name string) (operator.Credential, error) {
	v := getenv(name)
	if v == "" {
		return operator.Credential{}, nil
	}
	user, password, ok := strings.Cut(v, ":")
	if !ok || user == "" || len(password) < 12 {
		return operator.Credential{}, fmt.Errorf("%s: want user:password with a password of 12 characters or more", name)
	}
	return operator.Credential{User: user, Password: password}, nil
}

// Logger returns the JSON logger both services write to w, at LOG_LEVEL.
// Operators' log pipelines parse one shape, whichever process wrote it.
func (c Config) Logger(w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: %w", c.LogLevel, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)), nil
}
