// Package apitest runs the whole service in a test's process, for tests of
// the API's clients (the client package, importctl's API mode): the
// producer's HTTP handler on an httptest server and a worker (an asynq
// server with the import handlers), on the real PostgreSQL, Redis and S3,
// with a queue namespace of the test's own.
package apitest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/producer"
	"github.com/userimport/userimport/worker"
)

// Stack is a running producer and worker.
type Stack struct {
	URL   string // the producer's base URL
	Store *postgres.Store
	Files *s3store.Store
}

// Start starts the producer and one worker for the test; they stop when it
// ends. redisDB is the Redis database the calling package keeps to itself
// (stacktest.Redis). chunk is the workers' records per chunk (0: the
// default): small ones give an import several progress steps.
func Start(t *testing.T, redisDB, chunk int) *Stack {
	t.Helper()
	return StartWith(t, Options{RedisDB: redisDB, Chunk: chunk})
}

// Options are the settings of StartWith.
type Options struct {
	RedisDB   int           // the calling package's own Redis database
	Chunk     int           // records per chunk; 0: the default
	RateLimit producer.Rate // the requests one token may make; zero: no limit
}

// StartWith is Start with more settings.
func StartWith(t *testing.T, o Options) *Stack {
	t.Helper()
	redisDB, chunk := o.RedisDB, o.Chunk
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	redis := stacktest.Redis(t, redisDB)
	queue := asynq.NewClient(redis)
	t.Cleanup(func() { _ = queue.Close() })
	ns := task.Namespace("test-" + stacktest.RandomHex(4))
	srv := asynq.NewServer(redis, asynq.Config{Concurrency: 2, Queues: ns.Queues(), Logger: quiet{},
		DelayedTaskCheckInterval: 200 * time.Millisecond,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond }})
	if err := srv.Start(worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: noMail{},
		Log: zap.NewNop(), ChunkSize: chunk, Namespace: ns})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	api := httptest.NewServer(producer.NewHandler(producer.Deps{Store: store, Files: files, Queue: queue,
		Log: zap.NewNop(), Namespace: ns, RateLimit: o.RateLimit}))
	t.Cleanup(api.Close)
	return &Stack{URL: api.URL, Store: store, Files: files}
}

// Token returns a new API token of tenant.
func (s *Stack) Token(t *testing.T, tenant string) string {
	t.Helper()
	secret, _, err := s.Store.CreateToken(t.Context(), tenant, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// Roles sets tenant's role catalog.
func (s *Stack) Roles(t *testing.T, tenant string, roles ...string) {
	t.Helper()
	if err := s.Store.SetRoles(t.Context(), tenant, roles); err != nil {
		t.Fatal(err)
	}
}

// noMail sends no e-mail: the tests of clients start imports that notify
// nobody.
type noMail struct{}

func (noMail) Send(_ context.Context, _ []string, _ mail.Result) error { return nil }

// quiet keeps asynq's own log out of the test output.
type quiet struct{}

func (quiet) Debug(...any) {}
func (quiet) Info(...any)  {}
func (quiet) Warn(...any)  {}
func (quiet) Error(...any) {}
func (quiet) Fatal(...any) {}
