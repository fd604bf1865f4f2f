// Package config loads the service's settings from the environment, the same
// names for every binary, validates them and prints them with secrets masked.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/userimport/userimport/internal/mail"
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
	Addr         string // where the HTTP API listens
	EventsSecret string // authenticates S3 event notifications; empty: endpoint off
	EventsPrefix string // where tenants drop files: <prefix><tenant>/<name>
	// Worker settings.
	Concurrency int    // tasks a worker runs at once
	HealthAddr  string // where a worker serves /healthz and /readyz; empty: nowhere
	ChunkSize   int    // records per chunk task
	LogLevel    string
}

// Defaults are the local stack's values, so that nothing needs setting there.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultAddr        = "127.0.0.1:8080"
	DefaultConcurrency = 4
	DefaultChunkSize   = 2000
)

// Load reads the settings with getenv and checks them; the error lists every
// setting that is wrong.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:  or(getenv("DATABASE_URL"), postgres.DefaultURL),
		RedisURL:     or(getenv("REDIS_URL"), DefaultRedisURL),
		Namespace:    task.Namespace(getenv("QUEUE_NAMESPACE")),
		LogLevel:     or(getenv("LOG_LEVEL"), "info"),
		Addr:         or(getenv("PRODUCER_ADDR"), DefaultAddr),
		EventsSecret: getenv("S3_EVENTS_SECRET"),
		EventsPrefix: or(getenv("S3_EVENTS_PREFIX"), "incoming/"),
		HealthAddr:   getenv("WORKER_HEALTH_ADDR"),
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

// Redis returns asynq's connection options for REDIS_URL (redis://, rediss://
// for TLS, redis-sentinel:// for Sentinel).
func (c Config) Redis() (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w (want redis://[:password@]host:port/db)", err)
	}
	return opt, nil
}

// Print writes the settings, one a line, secrets masked.
func (c Config) Print(w io.Writer) error {
	_, err := fmt.Fprintf(w, "DATABASE_URL=%s\nREDIS_URL=%s\nQUEUE_NAMESPACE=%s\nS3_ENDPOINT=%s\nS3_BUCKET=%s\nS3_FORCE_PATH_STYLE=%t\nSMTP_URL=%s\nMAIL_FROM=%s\nPRODUCER_ADDR=%s\nS3_EVENTS_SECRET=%s\nS3_EVENTS_PREFIX=%s\nWORKER_CONCURRENCY=%d\nWORKER_HEALTH_ADDR=%s\nCHUNK_SIZE=%d\nLOG_LEVEL=%s\n",
		maskURL(c.DatabaseURL), maskURL(c.RedisURL), c.Namespace, c.S3.Endpoint, c.S3.Bucket, c.S3.ForcePathStyle,
		c.Mail.Redacted(), c.Mail.From, c.Addr, masked(c.EventsSecret), c.EventsPrefix, c.Concurrency, c.HealthAddr, c.ChunkSize, c.LogLevel)
	return err
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
