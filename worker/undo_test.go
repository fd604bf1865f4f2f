package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/worker"
)

// An undo sends the result e-mail like any import, to whom the import
// undone notified: intake queues its finalize.
func TestUndoSendsTheResultMail(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	source := putSource(t, files, tenant, "undo.csv", "User name,Login ID\nAnna,anna\n")
	to := stacktest.Address("undo")
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: source,
		Options: lifecycle.Options{Notify: []string{to}}})
	if err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	queue := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop()})
	run := func() {
		t.Helper()
		for len(queue.tasks) > 0 {
			tk := queue.tasks[0]
			queue.tasks = queue.tasks[1:]
			if err := mux.ProcessTask(ctx, tk); err != nil {
				t.Fatalf("%s: %v", tk.Type(), err)
			}
		}
	}
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	queue.tasks = append(queue.tasks, plan)
	run()
	if msgs := stacktest.Mail(t, to); len(msgs) != 1 {
		t.Fatalf("%d messages for the import, want 1", len(msgs))
	}

	in := intake.Intake{Store: store, Queue: queue}
	res, err := in.Undo(ctx, tenant, id, postgres.UndoOptions{RequestedBy: "test"})
	if err != nil || res.ImportID == 0 || res.Deactivated != 1 {
		t.Fatalf("undo: %+v, %v", res, err)
	}
	if types := queue.types(); len(types) != 1 || types[0] != task.TypeImportFinalize {
		t.Fatalf("queued after the undo: %v, want its finalize", types)
	}
	run()
	var msgs []stacktest.Message
	for i := 0; i < 100 && len(msgs) < 2; i++ { // bounded wait for the delivery, not a timing assertion
		time.Sleep(100 * time.Millisecond)
		msgs = stacktest.MailNow(t, to)
	}
	if len(msgs) != 2 || !strings.Contains(msgs[0].Subject+msgs[1].Subject, fmt.Sprintf("import %d", id)) {
		t.Fatalf("messages after the undo: %+v, want the import's and the undo's (of import %d)", msgs, id)
	}
	if sent, err := store.Notified(ctx, tenant, res.ImportID); err != nil || !sent {
		t.Errorf("the undo is not marked notified: %v, %v", sent, err)
	}
}
