package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaultsFitTheLocalStack(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if c.RedisURL != config.DefaultRedisURL || c.Addr != config.DefaultAddr ||
		c.Concurrency != config.DefaultConcurrency || c.ChunkSize != config.DefaultChunkSize || c.S3.Bucket != "userimport" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadListsEveryWrongSetting(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"WORKER_CONCURRENCY": "0",
		"CHUNK_SIZE":         "many",
		"QUEUE_NAMESPACE":    "Prod_1",
		"DATABASE_URL":       "mysql://x",
		"LOG_LEVEL":          "loud",
	}))
	if err == nil {
		t.Fatal("Load accepted wrong settings")
	}
	for _, name := range []string{"WORKER_CONCURRENCY", "CHUNK_SIZE", "QUEUE_NAMESPACE", "DATABASE_URL", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"DATABASE_URL":     "postgres://app:db-pass-123@db:5432/users",
		"REDIS_URL":        "redis://:redis-pass-456@cache:6379/0",
		"SMTP_URL":         "smtp://mailer:smtp-pass-789@mail:587",
		"S3_EVENTS_SECRET": "events-secret-000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"db-pass-123", "redis-pass-456", "smtp-pass-789", "events-secret-000"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("Print shows %q:\n%s", secret, out.String())
		}
	}
	for _, kept := range []string{"db:5432/users", "cache:6379", "S3_EVENTS_SECRET=xxxxx"} {
		if !strings.Contains(out.String(), kept) {
			t.Errorf("Print lost %q:\n%s", kept, out.String())
		}
	}
}

func TestLoggerWritesJSONAtLevel(t *testing.T) {
	c, err := config.Load(env(map[string]string{"LOG_LEVEL": "warn"}))
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
