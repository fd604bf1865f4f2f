package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaultsFitTheLocalStack(t *testing.T) {
	c, err := config.Load(config.All, env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if c.RedisURL != config.DefaultRedisURL || c.Producer.Addr != config.DefaultAddr ||
		c.Worker.Concurrency != config.DefaultConcurrency || c.Worker.ChunkSize != config.DefaultChunkSize || c.S3.Bucket != "userimport" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadListsEveryWrongSetting(t *testing.T) {
	_, err := config.Load(config.All, env(map[string]string{
		"WORKER_CONCURRENCY":        "0",
		"CHUNK_SIZE":                "many",
		"QUEUE_NAMESPACE":           "Prod_1",
		"DATABASE_URL":              "mysql://x",
		"LOG_LEVEL":                 "loud",
		"TENANT_CHUNK_LIMIT":        "-1",
		"SWEEP_INTERVAL":            "10",
		"MONITORING_VIEWER":         "ops-without-password",
		"MONITORING_ADMIN":          "root:short",
		"REDIS_URL":                 "http://cache:6379",
		"API_RATE_LIMIT":            "fast",
		"WEB_SESSION_SECRET":        "short",
		"MONITORING_PROMETHEUS_URL": "prometheus:9090",
	}))
	if err == nil {
		t.Fatal("Load accepted wrong settings")
	}
	for _, name := range []string{"WORKER_CONCURRENCY", "CHUNK_SIZE", "QUEUE_NAMESPACE", "DATABASE_URL", "LOG_LEVEL",
		"TENANT_CHUNK_LIMIT", "SWEEP_INTERVAL", "MONITORING_VIEWER", "MONITORING_ADMIN", "REDIS_URL", "API_RATE_LIMIT", "WEB_SESSION_SECRET", "MONITORING_PROMETHEUS_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c, err := config.Load(config.All, env(map[string]string{
		"DATABASE_URL":       "postgres://app:db-pass-123@db:5432/users",
		"REDIS_URL":          "redis://:redis-pass-456@cache:6379/0",
		"SMTP_URL":           "smtp://mailer:smtp-pass-789@mail:587",
		"S3_EVENTS_SECRET":   "events-secret-000-0123456789abcdef",
		"MONITORING_VIEWER":  "ops:viewer-pass-111",
		"MONITORING_ADMIN":   "root:admin-pass-222",
		"METRICS_TOKEN":      "metrics-token-333-0123456789abcdef",
		"WEB_SESSION_SECRET": "web-session-secret-444-0123456789abcdef",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"db-pass-123", "redis-pass-456", "smtp-pass-789", "events-secret-000",
		"viewer-pass-111", "admin-pass-222", "metrics-token-333", "web-session-secret-444"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("Print shows %q:\n%s", secret, out.String())
		}
	}
	for _, kept := range []string{"db:5432/users", "cache:6379", "S3_EVENTS_SECRET=xxxxx", "MONITORING_VIEWER=ops:xxxxx", "METRICS_TOKEN=xxxxx"} {
		if !strings.Contains(out.String(), kept) {
			t.Errorf("Print lost %q:\n%s", kept, out.String())
		}
	}
}

func TestLoggerWritesJSONAtLevel(t *testing.T) {
	c, err := config.Load(config.Worker, env(map[string]string{"LOG_LEVEL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log, err := c.Logger(&out)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if got := out.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown"`) {
		t.Errorf("log output = %q", got)
	}
}

// Redis standalone, with TLS, and behind Sentinel, from REDIS_URL alone.
func TestRedisModes(t *testing.T) {
	for _, tc := range []struct {
		url   string
		check func(asynq.RedisConnOpt) bool
	}{
		{"redis://:pw@cache:6379/2", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.Addr == "cache:6379" && c.DB == 2 && c.TLSConfig == nil
		}},
		{"rediss://cache:6380/0", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.TLSConfig != nil && c.TLSConfig.ServerName == "cache"
		}},
		{"redis-sentinel://:pw@s1:26379,s2:26379/3?master=mymaster", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && c.MasterName == "mymaster" && len(c.SentinelAddrs) == 2 && c.SentinelPassword == "pw" &&
				c.Password == "pw" && c.DB == 3 && c.TLSConfig == nil
		}},
		{"redis-sentinel://s1:26379?master=m&tls=true", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && c.TLSConfig != nil && c.DB == 0
		}},
	} {
		c, err := config.Load(config.Importctl, env(map[string]string{"REDIS_URL": tc.url}))
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		opt, err := c.Redis()
		if err != nil || !tc.check(opt) {
			t.Errorf("%s: got %#v, %v", tc.url, opt, err)
		}
	}
	for _, bad := range []string{"redis-sentinel://s1:26379", "redis-sentinel://s1:26379/x?master=m"} {
		if _, err := config.Load(config.Importctl, env(map[string]string{"REDIS_URL": bad})); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("%s: want an error naming REDIS_URL, got %v", bad, err)
		}
	}
}

func TestNotifyMaxRecipients(t *testing.T) {
	c, err := config.Load(config.Importctl, env(nil))
	if err != nil || c.NotifyMaxRecipients != 20 {
		t.Errorf("default NOTIFY_MAX_RECIPIENTS = %d (%v), want 20", c.NotifyMaxRecipients, err)
	}
	if c, err = config.Load(config.Worker, env(map[string]string{"NOTIFY_MAX_RECIPIENTS": "5"})); err != nil || c.NotifyMaxRecipients != 5 {
		t.Errorf("NOTIFY_MAX_RECIPIENTS=5: %d (%v)", c.NotifyMaxRecipients, err)
	}
	if _, err := config.Load(config.Producer, env(map[string]string{"NOTIFY_MAX_RECIPIENTS": "0"})); err == nil || !strings.Contains(err.Error(), "NOTIFY_MAX_RECIPIENTS") {
		t.Errorf("NOTIFY_MAX_RECIPIENTS=0: %v, want an error naming it", err)
	}
}
