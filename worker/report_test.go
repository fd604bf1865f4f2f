package worker_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"path"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/userrow"
	"github.com/userimport/userimport/worker"
)

// The e-mailed error report leaves out password hashes (it goes to any
// address the tenant chose, and its link works for a week), in the same
// format: the column stays, empty. Corrected and imported again, it keeps
// the stored hash of an existing user and gives a new user the default
// password, as the format says of an empty password. The stored report,
// which Retry imports, keeps the file's hashes.
func TestMailedReportHasNoPasswordHashes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	tenant := pgtest.Tenant(t)
	t.Cleanup(func() { cleanPrefix(context.WithoutCancel(ctx), files, "test/"+tenant+"/") })
	sender := newSender(t)
	const (
		erikOld = "0123456789abcdef0123456789abcdef" // erik's stored hash
		erikNew = "11111111111111111111111111111111"
		nina    = "22222222222222222222222222222222"
		olga    = "33333333333333333333333333333333"
	)
	run := func(name, content, to string) postgres.Import {
		t.Helper()
		key := "test/" + tenant + "/" + name
		if _, err := files.Put(ctx, key, []byte(content), "text/csv"); err != nil {
			t.Fatal(err)
		}
		var notify []string
		if to != "" {
			notify = []string{to}
		}
		id, _, err := store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key,
			Options: lifecycle.Options{Notify: notify}})
		if err != nil {
			t.Fatal(err)
		}
		queue := &recorder{}
		mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: queue, Mail: sender, Log: zap.NewNop()})
		runPlan(ctx, t, mux, queue, tenant, id)
		im, err := store.Import(ctx, tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	if im := run("first.csv", "User name,Login ID,Password (MD5 Hash)\nErik,erik,"+erikOld+"\n", ""); im.Created != 1 {
		t.Fatalf("first import: %+v", im)
	}

	// Erik (existing) and Nina (new) are rejected for their e-mail; Olga is imported.
	to := stacktest.Address("report")
	im := run("second.csv", "User name,Login ID,E-mail,Password (MD5 Hash)\n"+
		"Erik,erik,erik-at-example,"+erikNew+"\n"+
		"Nina,nina,nina-at-example,"+nina+"\n"+
		"Olga,olga,olga@example.com,"+olga+"\n", to)
	if im.State != "finished" || im.Rejected != 2 || im.Created != 1 {
		t.Fatalf("second import: %+v", im)
	}
	msgs := stacktest.Mail(t, to)
	if len(msgs) != 1 || msgs[0].Attachments != 1 {
		t.Fatalf("e-mails: %+v", msgs)
	}
	if text := stacktest.Text(t, msgs[0].ID); !strings.Contains(text, "password hashes") {
		t.Errorf("the e-mail does not say that the report leaves out password hashes:\n%s", text)
	}
	var mailed []byte
	for _, b := range stacktest.Attachments(t, msgs[0].ID) {
		mailed = b
	}
	for _, h := range []string{erikNew, nina, olga, erikOld} {
		if bytes.Contains(mailed, []byte(h)) {
			t.Errorf("the mailed report holds the hash %s:\n%s", h, mailed)
		}
	}
	stored := readObject(t, files, im.Report)
	if !bytes.Contains(stored, []byte(erikNew)) || !bytes.Contains(stored, []byte(nina)) {
		t.Errorf("the stored report (Retry's source) lost the file's hashes:\n%s", stored)
	}
	rows, err := csv.NewReader(bytes.NewReader(mailed)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	storedRows, err := csv.NewReader(bytes.NewReader(stored)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], storedRows[0]) || len(rows) != 3 || rows[0][userrow.Password] != "Password (MD5 Hash)" {
		t.Fatalf("mailed report's header %q, %d rows; want the stored report's %q and 3 rows", rows[0], len(rows), storedRows[0])
	}

	// The tenant corrects the e-mail addresses in the mailed report and uploads it.
	var fixed bytes.Buffer
	w := csv.NewWriter(&fixed)
	for i, r := range rows {
		if r[userrow.Password] != "" && i > 0 {
			t.Errorf("row %d has a password %q", i, r[userrow.Password])
		}
		if i > 0 {
			r[userrow.Email] = strings.Replace(r[userrow.Email], "-at-", "@", 1) + ".com"
		}
		_ = w.Write(r)
	}
	w.Flush()
	if im := run("corrected.csv", fixed.String(), ""); im.State != "finished" || im.Rejected != 0 || im.Created != 1 || im.Updated != 1 {
		t.Fatalf("import of the corrected report: %+v", im)
	}
	users := map[string]userrow.User{}
	if err := store.ExportUsers(ctx, tenant, func(u *userrow.User) error { users[u.LoginID] = *u; return nil }); err != nil {
		t.Fatal(err)
	}
	if u := users["erik"]; u.PasswordMD5 != erikOld || u.Email != "erik@example.com" {
		t.Errorf("erik: hash %s, e-mail %q; want the stored hash kept and the e-mail corrected", u.PasswordMD5, u.Email)
	}
	if u := users["nina"]; u.PasswordMD5 != userrow.DefaultPassword("nina") || !u.ChangePassword {
		t.Errorf("nina: hash %s, change password %t; want the default password, to be changed", u.PasswordMD5, u.ChangePassword)
	}
}

func readObject(t *testing.T, files *s3store.Store, url string) []byte {
	t.Helper()
	_, key, err := s3store.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := files.OpenRange(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatalf("%s: %v", path.Base(key), err)
	}
	defer body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
