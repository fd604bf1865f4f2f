package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/worker"
)

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// undo --wait queues the undo's finalize and returns once a worker has run
// it (the result e-mail sent, here to no one); --wait with --dry-run is a
// usage error.
func TestUndoWait(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	store := pgtest.Store(t)
	sum, err := importer.Local(ctx, store, strings.NewReader("User name,Login ID\nAnna,anna\n"), importer.Options{Tenant: tenant, Source: "w.csv"})
	if err != nil {
		t.Fatal(err)
	}
	url, ns := pgtest.URL(t), "test-"+stacktest.RandomHex(4)
	getenv := func(k string) string {
		switch k {
		case "DATABASE_URL":
			return url
		case "QUEUE_NAMESPACE":
			return ns
		}
		return stacktest.Getenv(k)
	}
	cfg, err := config.Load(config.Importctl, getenv)
	if err != nil {
		t.Fatal(err)
	}
	redis, err := cfg.Redis()
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	srv := asynq.NewServer(redis, asynq.Config{Concurrency: 1, Queues: cfg.Namespace.Queues(), Logger: quietLogger{}})
	if err := srv.Start(worker.NewServeMux(worker.Deps{Store: store, Files: stacktest.S3(t), Queue: client, Log: zap.NewNop(), Namespace: cfg.Namespace})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	var stdout, stderr strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: getenv}
	if code := run(ctx, e, []string{"undo", "--tenant", tenant, "--wait", "--dry-run", fmt.Sprint(sum.ImportID)}); code != exitUsage {
		t.Errorf("--wait --dry-run: exit %d, want 2", code)
	}
	stdout.Reset()
	code := run(ctx, e, []string{"undo", "--tenant", tenant, "--wait", "--format", "json", fmt.Sprint(sum.ImportID)})
	var res struct {
		ImportID int64 `json:"import_id"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil || code != exitOK || res.ImportID == 0 {
		t.Fatalf("undo --wait: exit %d, %q %q (%v)", code, stdout.String(), stderr.String(), err)
	}
	if sent, err := store.Notified(ctx, tenant, res.ImportID); err != nil || !sent {
		t.Errorf("undo --wait returned before the finalize ran: notified %v, %v", sent, err)
	}
}
