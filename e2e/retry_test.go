package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userrow"
	"github.com/userimport/userimport/worker"
)

// queue keeps tasks for the test to run in order, as one worker would.
type queue struct{ tasks []*asynq.Task }

func (q *queue) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.tasks = append(q.tasks, t)
	return &asynq.TaskInfo{}, nil
}

func (q *queue) drain(t *testing.T, mux *asynq.ServeMux) {
	t.Helper()
	for len(q.tasks) > 0 {
		next := q.tasks[0]
		q.tasks = q.tasks[1:]
		if err := mux.ProcessTask(t.Context(), next); err != nil {
			t.Fatalf("%s: %v", next.Type(), err)
		}
	}
}

// Records rejected for a role missing from the catalog are imported by a
// retry once the role is added; the retry is a new import linked to the
// first, and re-imports only the rejected records.
func TestRetryAfterFixingTheCatalog(t *testing.T) {
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	if err := store.SetRoles(ctx, tenant, []string{"agent"}); err != nil {
		t.Fatal(err)
	}
	file := "User name,Login ID,Role API Names\nAnna,anna,agent\nBéla,bela,auditor\nCili,cili,\"agent\nauditor\"\nDani,dani_x,agent\nEmil,emil,\n"
	key := "test/" + tenant + "/retry.csv"
	if _, err := files.Put(ctx, key, []byte(file), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = files.List(context.WithoutCancel(ctx), "test/"+tenant+"/", func(o s3store.Object) error {
			return files.Delete(context.WithoutCancel(ctx), o.Key)
		})
	})
	cfg, err := mail.ConfigFromEnv(stacktest.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: q, Mail: sender, Log: zap.NewNop()})
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	q.tasks = append(q.tasks, plan)
	q.drain(t, mux)
	first, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if first.Created != 2 || first.Rejected != 3 {
		t.Fatalf("first import: %+v; want anna and emil created, three rejected", first)
	}

	if err := store.AddRoles(ctx, tenant, []string{"auditor"}); err != nil {
		t.Fatal(err)
	}
	child, err := (&intake.Intake{Store: store, Queue: q}).Retry(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	q.drain(t, mux)
	retried, err := store.Import(ctx, tenant, child.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.Kind != "retry" || retried.Records != 3 || retried.Created != 2 || retried.Rejected != 1 {
		t.Fatalf("retry: %+v; want bela and cili created, dani_x rejected again", retried)
	}
	logins := map[string]string{}
	if err := store.ExportUsers(ctx, tenant, func(u *userrow.User) error {
		logins[u.LoginID] = strings.Join(u.Roles, "+")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(logins) != 4 || logins["cili"] != "agent+auditor" || logins["bela"] != "auditor" {
		t.Errorf("users after the retry: %v", logins)
	}
	// An import that rejected nothing has nothing to retry.
	emil := "User name,Login ID\nEmil,emil\n"
	key2 := "test/" + tenant + "/clean.csv"
	if _, err := files.Put(ctx, key2, []byte(emil), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Delete(context.WithoutCancel(ctx), key2) })
	clean, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key2})
	if err != nil {
		t.Fatal(err)
	}
	plan, _ = task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: clean}, task.QueueDefault)
	q.tasks = append(q.tasks, plan)
	q.drain(t, mux)
	if _, err := (&intake.Intake{Store: store, Queue: q}).Retry(ctx, tenant, clean); !errors.Is(err, intake.ErrNothingToRetry) {
		t.Errorf("retry of a clean import: %v, want ErrNothingToRetry", err)
	}
}

// Tasks lost with Redis (or never enqueued after a crash) are put back by the
// sweep from what PostgreSQL says is unfinished, and the import completes.
func TestSweepPutsLostTasksBack(t *testing.T) {
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	key := "test/" + tenant + "/sweep.csv"
	var b strings.Builder
	b.WriteString("User name,Login ID\n")
	for i := range 50 {
		b.WriteString("User,u" + strconv.Itoa(i) + "\n")
	}
	if _, err := files.Put(ctx, key, []byte(b.String()), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Delete(context.WithoutCancel(ctx), key) })
	q := &queue{}
	h := worker.NewHandlers(worker.Deps{Store: store, Files: files, Queue: q, Mail: nil, Log: zap.NewNop(), ChunkSize: 10})
	mux := h.ServeMux()
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	// sweep runs the sweep and keeps on the queue the tasks of this test's
	// import only: the sweep sees every import of the shared test database.
	sweep := func(minAge time.Duration) []*asynq.Task {
		t.Helper()
		q.tasks = nil
		if _, err := h.Sweep(ctx, minAge); err != nil {
			t.Logf("sweep: %v", err) // another test's import; this one's tasks are checked below
		}
		var own []*asynq.Task
		for _, tk := range q.tasks {
			var p struct {
				Tenant string `json:"tenant"`
			}
			if json.Unmarshal(tk.Payload(), &p) == nil && p.Tenant == tenant {
				own = append(own, tk)
			}
		}
		q.tasks = own
		return own
	}
	// The plan task itself was lost: the sweep enqueues it.
	if own := sweep(0); len(own) != 1 || own[0].Type() != task.TypeImportPlan {
		t.Fatalf("sweep of an unplanned import: %d tasks, want its plan", len(own))
	}
	plan := q.tasks[0]
	q.tasks = nil
	if err := mux.ProcessTask(ctx, plan); err != nil {
		t.Fatal(err)
	}
	// The plan enqueued five chunks; Redis loses them, and the first two were
	// applied before.
	if len(q.tasks) != 5 {
		t.Fatalf("plan enqueued %d tasks, want 5 chunks", len(q.tasks))
	}
	for _, tk := range q.tasks[:2] {
		if err := mux.ProcessTask(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if own := sweep(0); len(own) != 3 {
		t.Fatalf("sweep: %d tasks, want the 3 chunks not applied", len(own))
	}
	q.drain(t, mux)
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "finished" || im.Created != 50 {
		t.Errorf("after the sweep: %+v", im)
	}
	if own := sweep(0); len(own) != 0 {
		t.Errorf("sweep of a finished import: %d tasks", len(own))
	}
	// The finalize was lost after the import was marked finished, before its
	// e-mail: the sweep puts it back, once the import has ended a while.
	if _, err := store.Pool().Exec(ctx, `UPDATE imports SET notified_at = NULL, finished_at = now() - interval '2 minutes'
		WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
		t.Fatal(err)
	}
	if own := sweep(5 * time.Minute); len(own) != 0 {
		t.Errorf("sweep before the ended import is old enough: %d tasks", len(own))
	}
	if own := sweep(time.Minute); len(own) != 1 || own[0].Type() != task.TypeImportFinalize {
		t.Fatalf("sweep of an import that ended without its e-mail: %d tasks; want its finalize", len(own))
	}
	q.drain(t, mux)
	if sent, err := store.Notified(ctx, tenant, id); err != nil || !sent {
		t.Errorf("after the swept finalize: notified %t, %v", sent, err)
	}
	if own := sweep(0); len(own) != 0 {
		t.Errorf("sweep after the e-mail: %d tasks", len(own))
	}
}

// A task that fails for good marks its import failed, with a reference for
// the tenant in place of the internal error (which names a bucket), and the
// uploader is told.
func TestPermanentFailureIsRecorded(t *testing.T) {
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	// A source in another bucket: no retry can mend that.
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://not-our-bucket/users.csv"})
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop()})
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	if err := mux.ProcessTask(ctx, plan); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("plan: %v, want a permanent failure", err)
	}
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "failed" || !strings.HasPrefix(im.Error, "internal error, reference E-") || strings.Contains(im.Error, "not-our-bucket") {
		t.Errorf("import %+v", im)
	}
	if len(q.tasks) != 1 || q.tasks[0].Type() != task.TypeImportFinalize {
		t.Fatalf("queued %d tasks, want finalize to tell the uploader", len(q.tasks))
	}
	q.drain(t, mux)
}
