package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
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
	source := putSource(t, files, tenant, "ok.csv", "User name,Login ID\nAnna,anna\n")
	a, b, c := stacktest.Address("a"), stacktest.Address("b"), stacktest.Address("c")
	outside := "x-" + stacktest.RandomHex(6) + "@evil.example"
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: source,
		Options: lifecycle.Options{Notify: []string{a, outside, b, "Bob <" + c + ">", c}}})
	if err != nil {
		t.Fatal(err)
	}
	domains := []string{"example.com"} // stacktest.Address's domain
	if _, err := store.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	queue := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop(), NotifyMax: 2})
	runPlan(ctx, t, mux, queue, tenant, id)
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

// The result e-mail names the file by its name, not its S3 key, groups the
// rejected records by reason with their counts, says what to do about the
// largest group and links the import's page.
func TestResultMailGroupsRejections(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t) // a fresh tenant: its role catalog is empty
	prefix := "uploads/" + tenant + "/20260101T000000Z-0a1b2c3d/"
	var file strings.Builder
	file.WriteString("User name,Login ID,Language,Roles\n")
	const withRoles, badLanguage, valid = 23, 4, 3
	for i := range withRoles {
		fmt.Fprintf(&file, "User %d,role%d,en,Role%d\n", i, i, i%5)
	}
	for i := range badLanguage {
		fmt.Fprintf(&file, "User %d,lang%d,x%d,\n", i, i, i)
	}
	for i := range valid {
		fmt.Fprintf(&file, "User %d,ok%d,en,\n", i, i)
	}
	if _, err := files.Put(ctx, prefix+"staff.csv", []byte(file.String()), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(context.WithoutCancel(ctx), files, prefix) })
	to := stacktest.Address("reasons")
	id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + prefix + "staff.csv",
		Options: lifecycle.Options{Notify: []string{to}}})
	if err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	queue := &recorder{}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop(),
		PublicURL: "https://imports.example.com"})
	runPlan(ctx, t, mux, queue, tenant, id)

	im, err := store.Import(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Reasons) != 2 || im.Reasons[0].Column != "Role API Names" || im.Reasons[0].Records != withRoles ||
		im.Reasons[1].Column != "Language" || im.Reasons[1].Records != badLanguage {
		t.Fatalf("stored reasons = %+v, want Roles ×%d then Language ×%d", im.Reasons, withRoles, badLanguage)
	}
	msgs := stacktest.Mail(t, to)
	if len(msgs) != 1 {
		t.Fatalf("%d messages to %s, want 1", len(msgs), to)
	}
	if want := "Import of staff.csv: 3 created, 0 updated, 0 unchanged, 27 rejected"; msgs[0].Subject != want {
		t.Errorf("subject = %q, want %q", msgs[0].Subject, want)
	}
	text := stacktest.Text(t, msgs[0].ID)
	for _, want := range []string{
		"23 records: Role API Names: unknown role",
		"4 records: Language:",
		"role catalog is empty",
		"importctl roles add --tenant " + tenant,
		fmt.Sprintf("https://imports.example.com/ui/imports/%d", id),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the message does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "uploads/") || strings.Contains(text, "line 2:") {
		t.Errorf("the message shows the S3 key or single lines rather than reasons:\n%s", text)
	}
}
