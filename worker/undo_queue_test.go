package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userrow"
	"github.com/userimport/userimport/worker"
)

// exportOf is the tenant's export by Login ID, and the active flags.
func exportOf(t *testing.T, store *postgres.Store, tenant string) (map[string][userrow.NumColumns]string, map[string]bool) {
	t.Helper()
	users := map[string][userrow.NumColumns]string{}
	if err := store.ExportUsers(t.Context(), tenant, func(u *userrow.User) error {
		users[u.LoginID] = u.Values()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	active := map[string]bool{}
	rows, err := store.Pool().Query(t.Context(), `SELECT login_id, active FROM users WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			login string
			on    bool
		)
		if err := rows.Scan(&login, &on); err != nil {
			t.Fatal(err)
		}
		active[login] = on
	}
	return users, active
}

// The acceptance through the queue, with two workers: import A, import B
// (creates, updates, memberships, new groups), undo B gives A's store back
// (B's new user kept, inactive); the undo of the undo gives B's; after a
// later import C changed a user of B, undoing B again reports it as a
// conflict and keeps it.
func TestUndoThroughTheQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	t.Cleanup(func() { cleanPrefix(context.WithoutCancel(ctx), files, "test/"+tenant+"/") })
	redis := redisOpt(t)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	ns := task.Namespace("test-" + stacktest.RandomHex(4))
	deps := worker.Deps{Store: store, Files: files, Queue: client, Log: zap.NewNop(), ChunkSize: 2, Namespace: ns}
	for range 2 {
		srv := asynq.NewServer(redis, asynq.Config{Concurrency: 2, Queues: ns.Queues(), Logger: quietLogger{},
			DelayedTaskCheckInterval: 200 * time.Millisecond,
			RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond }})
		if err := srv.Start(worker.NewServeMux(deps)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	in := intake.Intake{Store: store, Queue: client, Namespace: ns}
	run := func(name, body string) int64 {
		t.Helper()
		key := "test/" + tenant + "/" + name
		if _, err := files.Put(t.Context(), key, []byte(body), "text/csv"); err != nil {
			t.Fatal(err)
		}
		im, _, err := in.Start(t.Context(), postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
		if err != nil {
			t.Fatal(err)
		}
		if done := waitFinished(t, store, tenant, im.ID); done.State != "finished" || done.Rejected != 0 {
			t.Fatalf("%s: %+v", name, done)
		}
		return im.ID
	}
	run("a.csv", "User name,Login ID,Groups\nAnn,ann,Sales\nBob,bob,Sales;Support\nCy,cy,Support\n")
	afterA, activeA := exportOf(t, store, tenant)
	b := run("b.csv", "User name,Login ID,Groups\nAnn Other,ann,Sales;Night\nBob,bob,Sales;Support\nCy,cy,New team\nDee,dee,Night\n")
	afterB, activeB := exportOf(t, store, tenant)
	if cmp.Equal(afterA, afterB) {
		t.Fatal("import B changed nothing: the test is hollow")
	}

	undo, err := in.Undo(ctx, tenant, b, postgres.UndoOptions{})
	if err != nil || undo.Restored != 2 || undo.Deactivated != 1 || len(undo.Conflicts) != 0 {
		t.Fatalf("undo B: %+v, %v", undo, err)
	}
	got, active := exportOf(t, store, tenant)
	if active["dee"] {
		t.Error("B's new user is still active after the undo")
	}
	delete(got, "dee")
	delete(active, "dee")
	if diff := cmp.Diff(afterA, got); diff != "" {
		t.Errorf("after undo B, not A's export (-A +got):\n%s", diff)
	}
	if diff := cmp.Diff(activeA, active); diff != "" {
		t.Errorf("after undo B, not A's active flags (-A +got):\n%s", diff)
	}

	if _, err := in.Undo(ctx, tenant, undo.ImportID, postgres.UndoOptions{}); err != nil {
		t.Fatalf("undo the undo: %v", err)
	}
	got, active = exportOf(t, store, tenant)
	if diff := cmp.Diff(afterB, got); diff != "" {
		t.Errorf("after the undo of the undo, not B's export (-B +got):\n%s", diff)
	}
	if diff := cmp.Diff(activeB, active); diff != "" {
		t.Errorf("after the undo of the undo, not B's active flags (-B +got):\n%s", diff)
	}

	c := run("c.csv", "User name,Login ID\nCy Later,cy\n")
	// B's undo has been undone: undo B's redo, the undo of the undo, which
	// restored cy among others.
	imports, err := store.Imports(ctx, tenant, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	redo := imports[1].ID // the newest before C
	res, err := in.Undo(ctx, tenant, redo, postgres.UndoOptions{})
	if err != nil || len(res.Conflicts) != 1 || res.Conflicts[0].LoginID != "cy" || res.Conflicts[0].ChangedBy != c {
		t.Fatalf("undo after C: %+v, %v; want cy as a conflict changed by %d", res, err, c)
	}
	got, _ = exportOf(t, store, tenant)
	if got["cy"][userrow.UserName] != "Cy Later" || got["ann"][userrow.UserName] != "Ann" {
		t.Errorf("after the undo with a conflict: cy %q (want C's, kept), ann %q (want A's)", got["cy"][userrow.UserName], got["ann"][userrow.UserName])
	}
}
