package worker_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/worker"
)

// The result e-mail goes to each recipient in a message of its own, and only
// to the addresses the rules allow when it is sent: an import stored before
// the tenant restricted its domains (or before the limit existed) mails
// nobody outside them, and at most NotifyMax addresses.
func TestResultMailHonoursTheRules(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	key := "test/" + tenant + "/ok.csv"
	if _, err := files.Put(ctx, key, []byte("User name,Login ID\nAnna,anna\n"), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(context.WithoutCancel(ctx), files, "test/"+tenant+"/") })
	a, b, c := stacktest.Address("a"), stacktest.Address("b"), stacktest.Address("c")
	outside := "x-" + stacktest.RandomHex(6) + "@evil.example"
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key,
		Options: lifecycle.Options{Notify: []string{a, outside, b, "Bob <" + c + ">", c}}})
	if err != nil {
		t.Fatal(err)
	}
	domains := []string{"example.com"} // stacktest.Address's domain
	if _, err := store.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSender(mustMailConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	queue := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop(), NotifyMax: 2})
	plan, _ := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id}, task.QueueDefault)
	queue.tasks = append(queue.tasks, plan)
	for i := 0; i < len(queue.tasks); i++ {
		if err := mux.ProcessTask(ctx, queue.tasks[i]); err != nil {
			t.Fatalf("%s: %v", queue.tasks[i].Type(), err)
		}
	}
	for _, to := range []string{a, b} {
		msgs := stacktest.Mail(t, to)
		if len(msgs) != 1 {
			t.Fatalf("%d messages to %s, want 1", len(msgs), to)
		}
		if m := msgs[0]; len(m.To) != 1 || m.To[0].Address != to || len(m.Cc)+len(m.Bcc) != 0 {
			t.Errorf("message to %s is addressed to %+v, cc %+v, bcc %+v; want only %s", to, m.To, m.Cc, m.Bcc, to)
		}
	}
	time.Sleep(300 * time.Millisecond) // the messages went out in one session: the others would be there by now
	for _, to := range []string{outside, c} {
		if msgs := stacktest.MailNow(t, to); len(msgs) != 0 {
			t.Errorf("%d messages to %s, want none (outside the domains, or over the limit)", len(msgs), to)
		}
	}
}
