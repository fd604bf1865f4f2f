package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/operator"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
)

// Binary is a set of the service's programs; a variable lists those that
// read it.
type Binary uint8

// The binaries of cmd/.
const (
	Producer Binary = 1 << iota
	Worker
	Importctl // import through the queue, retry, feeds dry-run: PostgreSQL, Redis and S3 only

	All = Producer | Worker | Importctl
)

var binaryNames = []struct {
	b    Binary
	name string
}{{Producer, "producer"}, {Worker, "worker"}, {Importctl, "importctl"}}

// Names returns the binaries in b, in the order producer, worker, importctl.
func (b Binary) Names() []string {
	var names []string
	for _, n := range binaryNames {
		if b&n.b != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

func (b Binary) String() string { return strings.Join(b.Names(), "|") }

// Config is the settings of the binaries it was loaded for; the sections of
// the others are zero.
type Config struct {
	Common
	Producer ProducerSettings
	Worker   WorkerSettings
	// API is importctl's API mode (USERIMPORT_API, USERIMPORT_TOKEN): its
	// commands read the two variables themselves, before any other, since
	// that mode needs none of the services' settings.
	API APISettings

	loaded Binary // what Load read, for Print
}

// Common are the settings every binary that talks to the services reads.
type Common struct {
	DatabaseURL string
	RedisURL    string
	Namespace   task.Namespace // QUEUE_NAMESPACE: prefixes the queue names
	S3          s3store.Config
	LogLevel    string // producer and worker
	// Operator access (producer and worker): the dashboard at /monitoring/
	// and /metrics.
	Monitoring operator.Credentials
	// NotifyMaxRecipients is how many addresses one import or feed may
	// notify (every binary that accepts addresses, and the worker that mails).
	NotifyMaxRecipients int
	// PublicURL is where browsers reach the producer, scheme://host[:port]:
	// the producer's cookies are Secure and it sends HSTS with https://, and
	// the worker's e-mail links the import's page under it. Empty: unknown.
	PublicURL string
	Tracing   Tracing // producer and worker
}

// Tracing is where traces are exported to; both empty: tracing off. The
// SDK reads the variables again itself, with the other OTEL_* ones.
type Tracing struct {
	Endpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT
	TracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
}

// Binary is the binary the configuration was loaded for.
func (c Config) Binary() Binary { return c.loaded }

// On says whether traces are exported.
func (t Tracing) On() bool { return t.Endpoint != "" || t.TracesEndpoint != "" }

// ProducerSettings are the producer's own settings.
type ProducerSettings struct {
	Addr         string        // where the HTTP API listens
	EventsSecret string        // authenticates S3 event notifications; empty: endpoint off
	EventsPrefix string        // where tenants drop files: <prefix><tenant>/<name>
	RateLimit    float64       // requests a second one API token may make; 0: no limit
	RateBurst    int           // requests one API token may make at once
	FeedSync     time.Duration // how often the producer reads the feeds' schedules again
	// WebSessionSecret signs the web pages' session cookies; empty: a random
	// key per process, so sessions end when it restarts.
	WebSessionSecret string
	// PrometheusURL, when set, lets the dashboard chart the queues over time.
	PrometheusURL string
	// TrustedProxies are the proxies whose X-Forwarded-For or Forwarded
	// header names the client; empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// UploadMinRate is the slowest an upload may arrive on average, in
	// bytes a second; 0: no minimum (a pause of 30 s still ends it).
	UploadMinRate int
	// UploadsInFlight and TenantUploadsInFlight cap the uploads a producer
	// receives at once, in all and per tenant; 0: no cap.
	UploadsInFlight, TenantUploadsInFlight int
}

// APISettings are where importctl's API mode sends its requests.
type APISettings struct {
	URL   string // the producer's base URL; empty: the direct mode
	Token string // the tenant's API token
}

// WorkerSettings are the worker's own settings.
type WorkerSettings struct {
	Mail        mail.Config
	Concurrency int    // tasks a worker runs at once
	HealthAddr  string // where a worker serves /healthz, /readyz and /metrics; empty: nowhere
	ChunkSize   int    // records per chunk task
	// TenantChunkLimit caps one tenant's chunks in flight across all workers,
	// so that a large import leaves room for the others; 0: no cap.
	TenantChunkLimit int
	ShutdownTimeout  time.Duration // how long a stopping worker lets its tasks finish
	SweepInterval    time.Duration // how often a worker re-enqueues what PostgreSQL says is unfinished
	JournalRetention time.Duration // how long the change journal keeps an import's changes
	RetryBaseDelay   time.Duration // a failed task's first wait; doubled at each retry
	// ChunkHeartbeat is how often a running chunk renews its lease;
	// ChunkDeadAfter how old a lease's heartbeat may be before the chunk is
	// handed to another worker.
	ChunkHeartbeat time.Duration
	ChunkDeadAfter time.Duration
}

// Load reads the variables the binaries in b read with getenv, each one's
// default when it is unset or blank, and checks them; the error lists every
// setting that is wrong. Variables of other binaries are not read.
func Load(b Binary, getenv func(string) string) (Config, error) {
	c := Config{loaded: b}
	var errs []error
	for _, v := range vars {
		if v.Binaries&b == 0 || v.parse == nil {
			continue
		}
		s := getenv(v.Name)
		if strings.TrimSpace(s) == "" {
			s = v.Default
		}
		if err := v.parse(&c, v.Name, s); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// Print writes the settings Load read, one a line in the table's order,
// secrets masked. Variables read by a library (the AWS SDK's) are not shown.
func (c Config) Print(w io.Writer) error {
	for _, v := range vars {
		if v.Binaries&c.loaded == 0 || v.show == nil {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s=%s\n", v.Name, v.show(&c)); err != nil {
			return err
		}
	}
	return nil
}

// Redis returns asynq's connection options for REDIS_URL: redis:// (rediss://
// for TLS) for one server, redis-sentinel:// for a master found through
// Sentinel.
func (c Common) Redis() (asynq.RedisConnOpt, error) {
	return redisOpt(c.RedisURL)
}

func redisOpt(raw string) (asynq.RedisConnOpt, error) {
	if strings.HasPrefix(raw, "redis-sentinel://") {
		return sentinel(raw)
	}
	opt, err := asynq.ParseRedisURI(raw)
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

// Logger returns the JSON logger both services write to w, at LOG_LEVEL.
// Operators' log pipelines parse one shape, whichever process wrote it.
func (c Common) Logger(w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: %w", c.LogLevel, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)), nil
}
