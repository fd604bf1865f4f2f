package worker_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/worker"
)

// unreachable is S3 failing as the SDK does when its endpoint is down: the
// error names the internal host.
type unreachable struct{ *s3store.Store }

const internalDetail = "operation error S3: HeadObject, https response error StatusCode: 0, " +
	"api error: dial tcp 10.20.30.40:9000: connect: connection refused"

func (unreachable) Head(context.Context, string) (s3store.Object, error) {
	return s3store.Object{}, errors.New(internalDetail)
}

// An import that fails for an internal reason shows the tenant (API, web
// page, e-mail) a message to act on and a reference, never the raw error,
// which goes to the log under that reference.
func TestInternalErrorsGetAReference(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	to := stacktest.Address("failed")
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/test/" + tenant + "/u.csv",
		Options: lifecycle.Options{Notify: []string{to}}})
	if err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	core, logs := observer.New(zap.InfoLevel)
	redis := redisOpt(t)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	ns := task.Namespace("test-" + stacktest.RandomHex(4))
	srv := asynq.NewServer(redis, asynq.Config{Concurrency: 1, Queues: ns.Queues(), Logger: quietLogger{},
		DelayedTaskCheckInterval: 200 * time.Millisecond})
	if err := srv.Start(worker.NewServeMux(worker.Deps{Store: store, Files: unreachable{files}, Queue: client, Mail: sender,
		Log: zap.New(core), Namespace: ns})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	plan, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, ns.Queue(task.QueueDefault))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnqueueContext(ctx, plan, asynq.MaxRetry(0)); err != nil { // its first failure is final
		t.Fatal(err)
	}
	im := waitFinished(t, store, tenant, id)

	want := regexp.MustCompile(`^internal error, reference (E-[0-9a-f]{8}): the import could not be completed; ` +
		`upload the file again later, or quote the reference to your operator$`)
	m := want.FindStringSubmatch(im.Error)
	if im.State != "failed" || m == nil {
		t.Fatalf("import %s with error %q; want failed with %s", im.State, im.Error, want)
	}
	ref := m[1]
	var logged bool
	for _, e := range logs.FilterField(zap.String("ref", ref)).All() {
		if strings.Contains(e.ContextMap()["error"].(string), "10.20.30.40:9000") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log entry with ref %s and the error; logged: %v", ref, logs.All())
	}
	msgs := stacktest.Mail(t, to)
	if len(msgs) != 1 {
		t.Fatalf("%d e-mails, want 1", len(msgs))
	}
	if text := stacktest.Text(t, msgs[0].ID); !strings.Contains(text, ref) || strings.Contains(text, "10.20.30.40") {
		t.Errorf("the e-mail does not quote %s, or shows the internal error:\n%s", ref, text)
	}
}

// An error that is the tenant's own (here an option the tenant gave) is shown
// as it is: it says what to correct.
func TestTenantErrorsStayAsTheyAre(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	source := putSource(t, files, tenant, "u.csv", "User name,Login ID\nAnna,anna\n")
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: source,
		Options: lifecycle.Options{Delimiter: "tab"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: &recorder{}, Log: zap.NewNop()})
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	if err := mux.ProcessTask(ctx, plan); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("plan: %v, want SkipRetry", err)
	}
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "failed" || !strings.Contains(im.Error, `"tab"`) || strings.Contains(im.Error, "reference") {
		t.Errorf("import %s with error %q; want the option's error", im.State, im.Error)
	}
}
