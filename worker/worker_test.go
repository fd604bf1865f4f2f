package worker_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
	"github.com/userimport/userimport/worker"
)

func TestMain(m *testing.M) {
	stacktest.SetDefaults()
	os.Exit(pgtest.Main(m))
}

var demoRoles = []string{"agent", "supervisor", "admin", "auditor"}

// The pipeline end to end on the real services: a file with 1 % invalid
// records is uploaded to S3, its plan task enqueued, and two workers (asynq
// servers) carry it out. Afterwards the users table holds exactly the valid
// records, the error report in S3 lists exactly the invalid ones with their
// lines, and one e-mail went out with the counts and the report.
func TestImportThroughTheQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant, key, gen := uploadGenerated(t, store, files, "users.csv", usergen.Options{Rows: 5000, Seed: 31, Invalid: 0.01})
	to := "t-" + stacktest.RandomHex(6) + "@example.com"
	id, _, err := store.CreateImport(ctx, postgres.NewImport{
		Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key,
		Options: lifecycle.Options{Notify: []string{to}},
	})
	if err != nil {
		t.Fatal(err)
	}

	redis := redisOpt(t)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	sender := newSender(t)
	// A namespace of the test's own: another test run sharing this Redis
	// must not take its tasks (it would not find the imports).
	ns := task.Namespace("test-" + stacktest.RandomHex(4))
	deps := worker.Deps{Store: store, Files: files, Queue: client, Mail: sender, Log: zap.NewNop(), ChunkSize: 700, Namespace: ns}
	for range 2 { // two workers
		srv := asynq.NewServer(redis, asynq.Config{
			Concurrency: 2, Queues: ns.Queues(), Logger: quietLogger{},
			// The test's queue is shared with nothing: no need to wait long.
			DelayedTaskCheckInterval: 200 * time.Millisecond,
			RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond },
		})
		if err := srv.Start(worker.NewServeMux(deps)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	plan, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, ns.Queue(task.QueueDefault))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnqueueContext(ctx, plan); err != nil {
		t.Fatal(err)
	}

	im := waitFinished(t, store, tenant, id)
	valid := gen.Records - gen.Invalid
	if im.Created != valid || im.Rejected != gen.Invalid || im.Records != gen.Records || im.Chunks != 8 {
		t.Fatalf("import: %+v; want %d created, %d rejected of %d in 8 chunks", im, valid, gen.Invalid, gen.Records)
	}
	users := 0
	if err := store.ExportUsers(ctx, tenant, func(*userrow.User) error { users++; return nil }); err != nil {
		t.Fatal(err)
	}
	if users != valid {
		t.Errorf("%d users stored, want %d", users, valid)
	}

	// The error report: the invalid records, at their lines, in the format.
	body, err := files.OpenRange(ctx, worker.ReportKey(key, id), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	report, err := csv.NewReader(body).ReadAll()
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var lines, want []int
	for _, row := range report[1:] {
		n, err := strconv.Atoi(row[userrow.NumColumns])
		if err != nil {
			t.Fatalf("report row %q: %v", row, err)
		}
		lines = append(lines, n)
	}
	for _, d := range gen.Defects {
		want = append(want, d.Line)
	}
	if !slices.Equal(lines, want) || !slices.Equal(report[0][userrow.NumColumns:], []string{"Line", "Errors"}) {
		t.Errorf("report lines %v\nwant %v (header %q)", lines, want, report[0])
	}

	// Exactly one e-mail, with the counts and the report.
	msgs := stacktest.Mail(t, to)
	if len(msgs) != 1 || msgs[0].Attachments != 1 {
		t.Fatalf("e-mails to %s: %+v; want one with the report attached", to, msgs)
	}
	if wantSubject := fmt.Sprintf("%d rejected", gen.Invalid); !bytes.Contains([]byte(msgs[0].Subject), []byte(wantSubject)) {
		t.Errorf("subject %q lacks %q", msgs[0].Subject, wantSubject)
	}
	// Finalize delivered again sends nothing more.
	fin, err := task.NewImportFinalize(task.ImportFinalizePayload{Tenant: tenant, ImportID: id}, ns.Queue(task.QueueCritical))
	if err != nil {
		t.Fatal(err)
	}
	mux := worker.NewServeMux(deps)
	if err := mux.ProcessTask(ctx, fin); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if msgs := stacktest.Mail(t, to); len(msgs) != 1 {
		t.Errorf("%d e-mails after finalize ran again, want 1", len(msgs))
	}
}

// A file rejected as a whole ends the import with the reason, and its
// uploader is told.
func TestRejectedFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	key := "test/" + tenant + "/bad.csv"
	if _, err := files.Put(ctx, key, []byte("User name,Login ID,Emial\nA,a,x\n"), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Delete(context.WithoutCancel(ctx), key) })
	to := "t-" + stacktest.RandomHex(6) + "@example.com"
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key, Options: lifecycle.Options{Notify: []string{to}}})
	if err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	queued := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queued, Mail: sender, Log: zap.NewNop()})
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	if err := mux.ProcessTask(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if len(queued.tasks) != 1 || queued.tasks[0].Type() != task.TypeImportFinalize {
		t.Fatalf("plan of a rejected file enqueued %v, want finalize", queued.types())
	}
	// A redelivered plan (the first stopped before its enqueue went through)
	// enqueues the finalize again; finalize tells the uploader once.
	if err := mux.ProcessTask(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if len(queued.tasks) != 2 || queued.tasks[1].Type() != task.TypeImportFinalize {
		t.Fatalf("redelivered plan of a rejected file enqueued %v, want finalize", queued.types())
	}
	for _, fin := range queued.tasks {
		if err := mux.ProcessTask(ctx, fin); err != nil {
			t.Fatal(err)
		}
	}
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "rejected" || !bytes.Contains([]byte(im.Error), []byte(`"Emial"`)) {
		t.Errorf("import %+v", im)
	}
	if msgs := stacktest.Mail(t, to); len(msgs) != 1 || !bytes.Contains([]byte(msgs[0].Subject), []byte("rejected")) {
		t.Errorf("e-mails: %+v", msgs)
	}
}

// recorder is an Enqueuer that keeps the tasks.
type recorder struct{ tasks []*asynq.Task }

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{}, nil
}

func (r *recorder) types() []string {
	var out []string
	for _, t := range r.tasks {
		out = append(out, t.Type())
	}
	return out
}

func waitFinished(t *testing.T, store *postgres.Store, tenant string, id int64) postgres.Import {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		im, err := store.Import(t.Context(), tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if im.State == "finished" || im.State == "rejected" || im.State == "failed" {
			return im
		}
		if time.Now().After(deadline) {
			t.Fatalf("import still %s after 90 s: %+v", im.State, im)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newSender is a mail sender to the stack's SMTP server (mailpit).
func newSender(t *testing.T) *mail.Sender {
	t.Helper()
	sender, err := mail.NewSender(mustMailConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

// putSource puts an import's file as test/TENANT/name and returns its
// s3:// URL; the tenant's objects (the file and its reports) are removed
// when the test ends.
func putSource(t *testing.T, files *s3store.Store, tenant, name, body string) string {
	t.Helper()
	ctx := t.Context()
	key := "test/" + tenant + "/" + name
	if _, err := files.Put(ctx, key, []byte(body), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(context.WithoutCancel(ctx), files, "test/"+tenant+"/") })
	return "s3://" + files.Bucket() + "/" + key
}

func mustMailConfig(t *testing.T) mail.Config {
	t.Helper()
	c, err := mail.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func redisOpt(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	return stacktest.Redis(t, 13)
}

// quietLogger keeps asynq's own log out of the test output.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// A dry run goes through plan, chunks and finalize like an import, counts
// what would happen, tells the uploader, and writes no user.
func TestDryRunWritesNoUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant, key, gen := uploadGenerated(t, store, files, "dry.csv", usergen.Options{Rows: 1500, Seed: 33, Invalid: 0.02})
	to := "t-" + stacktest.RandomHex(6) + "@example.com"
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key,
		Options: lifecycle.Options{Notify: []string{to}, DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	queue := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop(), ChunkSize: 400})
	runPlan(ctx, t, mux, queue, tenant, id)
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "finished" || !im.DryRun || im.Created != gen.Records-gen.Invalid || im.Rejected != gen.Invalid {
		t.Errorf("dry run: %+v", im)
	}
	users := 0
	if err := store.ExportUsers(ctx, tenant, func(*userrow.User) error { users++; return nil }); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("a dry run wrote %d users", users)
	}
	if groups, _, err := store.WouldCreate(ctx, tenant, id); err != nil || groups == 0 {
		t.Errorf("would create %d groups (%v)", groups, err)
	}
	if msgs := stacktest.Mail(t, to); len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Dry run") {
		t.Errorf("e-mails: %+v", msgs)
	}
}

// cleanPrefix deletes the test's objects: the file and its reports.
func cleanPrefix(ctx context.Context, files *s3store.Store, prefix string) {
	ctx = context.WithoutCancel(ctx)
	_ = files.List(ctx, prefix, func(o s3store.Object) error { return files.Delete(ctx, o.Key) })
}

// uploadGenerated uploads a generated file as name for a new tenant with the
// demo roles, and removes the tenant's objects when the test ends.
func uploadGenerated(t *testing.T, store *postgres.Store, files *s3store.Store, name string, opt usergen.Options) (tenant, key string, gen usergen.Summary) {
	t.Helper()
	ctx := t.Context()
	tenant = pgtest.Tenant(t)
	if err := store.SetRoles(ctx, tenant, demoRoles); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	gen, err := usergen.Write(&file, opt)
	if err != nil {
		t.Fatal(err)
	}
	key = "test/" + tenant + "/" + name
	if _, err := files.Upload(ctx, key, &file, "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(ctx, files, "test/"+tenant+"/") })
	return tenant, key, gen
}

// A file with classic Mac (CR-only) line ends is rejected as a whole by the
// plan, with the reason importctl validate gives: how to save it.
func TestCRLineEndsRejectFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	key := "test/" + tenant + "/mac.csv"
	body := strings.Join(userrow.Names(), ",") + "\rAnna,anna" + strings.Repeat(",", 25) + "\r"
	if _, err := files.Put(ctx, key, []byte(body), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Delete(context.WithoutCancel(ctx), key) })
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: &recorder{}, Log: zap.NewNop()})
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	if err := mux.ProcessTask(ctx, plan); err != nil {
		t.Fatal(err)
	}
	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "rejected" || im.Error != csvfile.ErrCRLineEnds.Error() {
		t.Errorf("import %s: %q, want rejected: %q", im.State, im.Error, csvfile.ErrCRLineEnds)
	}
}

// runPlan queues the import's plan and runs the queue in order, as one
// worker would, until it is empty: the plan, its chunks, the finalize.
func runPlan(ctx context.Context, t *testing.T, mux *asynq.ServeMux, queue *recorder, tenant string, id int64) {
	t.Helper()
	plan, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	queue.tasks = append(queue.tasks, plan)
	for i := 0; i < len(queue.tasks); i++ {
		if err := mux.ProcessTask(ctx, queue.tasks[i]); err != nil {
			t.Fatalf("%s: %v", queue.tasks[i].Type(), err)
		}
	}
}
