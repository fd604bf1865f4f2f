package main

import (
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The environment variables the binaries read (README.md, "Configuration").
// A name outside this list in a manifest is a typo or a setting nobody reads.
// secret says whether its value is a secret (the Secret, never the ConfigMap).
var knownEnv = map[string]struct{ secret bool }{
	"DATABASE_URL":              {secret: true}, // holds the password
	"REDIS_URL":                 {secret: true}, // may hold the password
	"QUEUE_NAMESPACE":           {},
	"S3_ENDPOINT":               {},
	"S3_BUCKET":                 {},
	"S3_FORCE_PATH_STYLE":       {},
	"AWS_REGION":                {},
	"AWS_ACCESS_KEY_ID":         {secret: true},
	"AWS_SECRET_ACCESS_KEY":     {secret: true},
	"SMTP_URL":                  {secret: true}, // may hold the password
	"MAIL_FROM":                 {},
	"PRODUCER_ADDR":             {},
	"S3_EVENTS_SECRET":          {secret: true},
	"S3_EVENTS_PREFIX":          {},
	"WORKER_CONCURRENCY":        {},
	"WORKER_HEALTH_ADDR":        {},
	"WORKER_SHUTDOWN_TIMEOUT":   {},
	"SWEEP_INTERVAL":            {},
	"RETRY_BASE_DELAY":          {},
	"S3_READ_TIMEOUT":           {},
	"CHUNK_SIZE":                {},
	"TENANT_CHUNK_LIMIT":        {},
	"LOG_LEVEL":                 {},
	"MONITORING_VIEWER":         {secret: true},
	"MONITORING_ADMIN":          {secret: true},
	"METRICS_TOKEN":             {secret: true},
	"WEB_SESSION_SECRET":        {secret: true},
	"API_RATE_LIMIT":            {},
	"API_RATE_BURST":            {},
	"FEED_SYNC_INTERVAL":        {},
	"MONITORING_PROMETHEUS_URL": {},
	"NOTIFY_MAX_RECIPIENTS":     {},
}

// Keys of the Secret that are for other consumers than the binaries.
//
//nolint:gosec // G101: names of Secret keys, not credentials
var extraSecretKeys = map[string]string{
	"REDIS_PASSWORD": "KEDA's redis scaler (keda.yaml)",
}

// What each binary cannot do without, wherever it runs.
var requiredEnv = map[string][]string{
	"producer": {"DATABASE_URL", "REDIS_URL", "S3_BUCKET", "PRODUCER_ADDR", "METRICS_TOKEN", "MONITORING_VIEWER", "MONITORING_ADMIN"},
	"worker":   {"DATABASE_URL", "REDIS_URL", "S3_BUCKET", "SMTP_URL", "MAIL_FROM", "WORKER_HEALTH_ADDR", "METRICS_TOKEN"},
}

// The binaries' own defaults that the manifests rely on.
const (
	defaultShutdownTimeout = 25 * time.Second // WORKER_SHUTDOWN_TIMEOUT
	producerShutdown       = 25 * time.Second // cmd/producer: requests in flight
)

// Queues of internal/task, prefixed by QUEUE_NAMESPACE.
var queues = []string{"critical", "default", "bulk"}

func queueName(namespace, q string) string {
	if namespace == "" {
		return q
	}
	return namespace + "-" + q
}

// checkEnvValue mirrors internal/config's checks, so that a manifest never
// ships a value the binaries refuse at start. Placeholders pass as long as
// they have the right shape.
func checkEnvValue(name, v string) error {
	switch name {
	case "DATABASE_URL":
		return urlScheme(v, "postgres", "postgresql")
	case "REDIS_URL":
		return urlScheme(v, "redis", "rediss", "redis-sentinel")
	case "SMTP_URL":
		return urlScheme(v, "smtp", "smtps")
	case "S3_ENDPOINT":
		if v == "" {
			return nil
		}
		return urlScheme(v, "http", "https")
	case "MAIL_FROM":
		if _, err := netmail.ParseAddress(v); err != nil {
			return fmt.Errorf("want an address such as userimport@example.com: %w", err)
		}
	case "QUEUE_NAMESPACE":
		for _, r := range v {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return fmt.Errorf("%q: use lower-case letters, digits and -", v)
			}
		}
	case "S3_FORCE_PATH_STYLE":
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q: want true or false", v)
		}
	case "WORKER_CONCURRENCY", "CHUNK_SIZE", "NOTIFY_MAX_RECIPIENTS":
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			return fmt.Errorf("%q: want a whole number above 0", v)
		}
	case "TENANT_CHUNK_LIMIT":
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Errorf("%q: want a whole number, 0 or more", v)
		}
	case "WORKER_SHUTDOWN_TIMEOUT", "SWEEP_INTERVAL", "RETRY_BASE_DELAY", "S3_READ_TIMEOUT", "FEED_SYNC_INTERVAL":
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return fmt.Errorf("%q: want a duration above 0 such as 30s", v)
		}
	case "LOG_LEVEL":
		switch v {
		case "debug", "info", "warn", "error":
		default:
			return fmt.Errorf("%q: use debug, info, warn or error", v)
		}
	case "PRODUCER_ADDR", "WORKER_HEALTH_ADDR":
		if _, err := addrPort(v); err != nil {
			return err
		}
	case "MONITORING_VIEWER", "MONITORING_ADMIN":
		user, password, ok := strings.Cut(v, ":")
		if !ok || user == "" || len(password) < 12 {
			return fmt.Errorf("want user:password with a password of 12 characters or more")
		}
	}
	return nil
}

func urlScheme(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("want a %s:// URL with a host", strings.Join(schemes, ":// or "))
}

// addrPort returns the port of a listen address such as 0.0.0.0:8080.
func addrPort(v string) (int, error) {
	_, p, err := net.SplitHostPort(v)
	if err != nil {
		return 0, fmt.Errorf("%q: want host:port: %w", v, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("%q: want a numeric port", v)
	}
	return n, nil
}

// shutdownTimeout is WORKER_SHUTDOWN_TIMEOUT as the worker reads it.
func shutdownTimeout(v string) time.Duration {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return defaultShutdownTimeout
}
