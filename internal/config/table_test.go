package config_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/config"
)

var binaries = []config.Binary{config.Producer, config.Worker, config.Importctl}

// A wrong setting of one binary stops that binary only.
func TestLoadChecksOnlyItsBinarysSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		env    map[string]string
		failed config.Binary
	}{
		{"worker only", map[string]string{"CHUNK_SIZE": "many", "WORKER_CONCURRENCY": "0", "SMTP_URL": "http://mail", "SWEEP_INTERVAL": "10"}, config.Worker},
		{"producer only", map[string]string{"API_RATE_LIMIT": "fast", "WEB_SESSION_SECRET": "short", "MONITORING_PROMETHEUS_URL": "prometheus:9090"}, config.Producer},
		{"producer and worker", map[string]string{"LOG_LEVEL": "loud", "MONITORING_ADMIN": "root:short"}, config.Producer | config.Worker},
		{"every binary", map[string]string{"QUEUE_NAMESPACE": "Prod_1"}, config.All},
	} {
		for _, b := range binaries {
			_, err := config.Load(b, env(tc.env))
			if b&tc.failed == 0 {
				if err != nil {
					t.Errorf("%s: %s refused another binary's setting: %v", tc.name, b, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: %s accepted %v", tc.name, b, tc.env)
				continue
			}
			for name := range tc.env {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("%s: %s: the error does not name %s: %v", tc.name, b, name, err)
				}
			}
		}
	}
}

// Load reads exactly the variables of its binary, and Print shows them (but
// those the AWS SDK reads itself), in the table's order.
func TestLoadAndPrintFollowTheTable(t *testing.T) {
	t.Parallel()
	for _, b := range binaries {
		var read []string
		c, err := config.Load(b, func(k string) string { read = append(read, k); return "" })
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var want []string
		for _, name := range config.Names(b) {
			if v, _ := config.Lookup(name); !v.Library() {
				want = append(want, name)
			}
		}
		if diff := cmp.Diff(want, read); diff != "" {
			t.Errorf("%s read (-want +got):\n%s", b, diff)
		}
		var out bytes.Buffer
		if err := c.Print(&out); err != nil {
			t.Fatal(err)
		}
		var printed []string
		for line := range strings.Lines(out.String()) {
			name, _, _ := strings.Cut(line, "=")
			printed = append(printed, name)
		}
		if diff := cmp.Diff(want, printed); diff != "" {
			t.Errorf("%s printed (-want +got):\n%s", b, diff)
		}
	}
	if got := config.Names(config.Importctl); slices.Contains(got, "CHUNK_SIZE") || slices.Contains(got, "LOG_LEVEL") || !slices.Contains(got, "S3_BUCKET") {
		t.Errorf("importctl reads %v", got)
	}
}

// Every secret of the table is masked, whichever binary prints it. A new
// secret needs a sample here.
func TestPrintMasksEverySecret(t *testing.T) {
	t.Parallel()
	// The value of each secret, and the part of it that must not show.
	samples := map[string][2]string{
		"DATABASE_URL":       {"postgres://app:db-pass-123@db:5432/users", "db-pass-123"},
		"REDIS_URL":          {"redis://:redis-pass-456@cache:6379/0", "redis-pass-456"},
		"SMTP_URL":           {"smtp://mailer:smtp-pass-789@mail:587", "smtp-pass-789"},
		"S3_EVENTS_SECRET":   {"events-secret-000-events-secret-000", "events-secret-000"},
		"MONITORING_VIEWER":  {"ops:viewer-pass-111", "viewer-pass-111"},
		"MONITORING_ADMIN":   {"root:admin-pass-222", "admin-pass-222"},
		"METRICS_TOKEN":      {"metrics-token-333-metrics-token-333", "metrics-token-333"},
		"WEB_SESSION_SECRET": {"web-session-secret-444-0123456789abcdef", "web-session-secret-444"},
		"USERIMPORT_TOKEN":   {"uit_api-token-777-0123456789", "api-token-777"},
		// Read by the AWS and OpenTelemetry SDKs, never by Load nor Print.
		"AWS_ACCESS_KEY_ID":          {"access-key-555", "access-key-555"},
		"AWS_SECRET_ACCESS_KEY":      {"secret-key-666", "secret-key-666"},
		"OTEL_EXPORTER_OTLP_HEADERS": {"api-key=otel-key-777", "otel-key-777"},
	}
	environ := map[string]string{}
	for name, s := range samples {
		environ[name] = s[0]
	}
	for _, v := range config.Vars() {
		if _, ok := samples[v.Name]; v.Secret && !ok {
			t.Errorf("secret %s has no sample in this test", v.Name)
		}
	}
	for _, b := range binaries {
		c, err := config.Load(b, env(environ))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := c.Print(&out); err != nil {
			t.Fatal(err)
		}
		for name, s := range samples {
			if strings.Contains(out.String(), s[1]) {
				t.Errorf("%s prints %s's %q:\n%s", b, name, s[1], out.String())
			}
		}
	}
}

func TestTableIsWellFormed(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	for _, v := range config.Vars() {
		if !name.MatchString(v.Name) || seen[v.Name] {
			t.Errorf("%q: a name must be upper-case and appear once", v.Name)
		}
		seen[v.Name] = true
		if v.Binaries == 0 || v.Binaries&^config.All != 0 {
			t.Errorf("%s: read by %v", v.Name, v.Binaries)
		}
		if v.Doc == "" || strings.Contains(v.Doc, "\n") || strings.HasSuffix(v.Doc, ".") {
			t.Errorf("%s: want one line of doc, no final full stop: %q", v.Name, v.Doc)
		}
		if (v.Default == "") == (v.Unset == "") && v.Default != "" {
			t.Errorf("%s: Unset is for variables without a default", v.Name)
		}
		if got, ok := config.Lookup(v.Name); !ok || got.Name != v.Name {
			t.Errorf("Lookup(%s) = %v, %v", v.Name, got.Name, ok)
		}
	}
	if _, ok := config.Lookup("NO_SUCH_VARIABLE"); ok {
		t.Error("Lookup found NO_SUCH_VARIABLE")
	}
}

// docs/configuration.md and deploy/check/variables.json are generated from
// the table: `make docs` after a change.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	for _, f := range []struct {
		path string
		want []byte
	}{{config.ReferenceFile, config.Reference()}, {config.VarListFile, config.VarList()}} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is not current: run make docs (go generate ./internal/config)\n%s", f.path, cmp.Diff(string(f.want), string(got)))
		}
	}
}

func TestSummaryListsTheVariables(t *testing.T) {
	t.Parallel()
	s := config.Summary(config.Worker)
	for line := range strings.Lines(s) {
		if len(strings.TrimSuffix(line, "\n")) > 80 {
			t.Errorf("line over 80 columns: %q", line)
		}
	}
	for _, n := range config.Names(config.Worker) {
		if !strings.Contains(s, n) {
			t.Errorf("Summary lacks %s:\n%s", n, s)
		}
	}
	if strings.Contains(s, "PRODUCER_ADDR") {
		t.Errorf("the worker's summary lists PRODUCER_ADDR:\n%s", s)
	}
}
