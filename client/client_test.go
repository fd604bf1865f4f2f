package client_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/client"
	"github.com/userimport/userimport/internal/apitest"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/producer"
)

func TestMain(m *testing.M) {
	stacktest.SetDefaults()
	os.Exit(pgtest.Main(m))
}

// redisDB is this package's Redis database (stacktest.Redis).
const redisDB = 6

// users returns a file of n users; every tenth has the role auditor, the
// others agent.
func users(n int) []byte {
	var b bytes.Buffer
	b.WriteString("User name,Login ID,Role API Names\n")
	for i := range n {
		role := "agent"
		if i%10 == 9 {
			role = "auditor"
		}
		fmt.Fprintf(&b, "User %d,user%04d,%s\n", i, i, role)
	}
	return b.Bytes()
}

// tenantClient starts the service and returns a client of a new tenant
// whose catalog holds the role agent only.
func tenantClient(t *testing.T) (*client.Client, *apitest.Stack, string) {
	t.Helper()
	s := apitest.Start(t, redisDB, 50)
	tenant := pgtest.Tenant(t)
	s.Roles(t, tenant, "agent")
	c, err := client.New(s.URL, client.WithToken(s.Token(t, tenant)))
	if err != nil {
		t.Fatal(err)
	}
	return c, s, tenant
}

// An upload streamed from an io.Reader, waited for with progress; its
// status, its error report, a retry once the missing role exists, and a
// second retry with nothing left to retry.
func TestUploadWaitErrorsRetry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, s, tenant := tenantClient(t)

	im, err := c.Upload(ctx, "users.csv", bytes.NewReader(users(400)), client.ImportOptions{Delimiter: "comma"})
	if err != nil {
		t.Fatal(err)
	}
	if im.ID == 0 || im.Kind != "upload" || im.State.Ended() || !strings.HasSuffix(im.Source, "/users.csv") {
		t.Fatalf("created: %+v", im)
	}
	var seen []client.Import
	done, err := c.Wait(ctx, im.ID, client.WaitOptions{Progress: func(im client.Import) { seen = append(seen, im) }})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != client.ImportFinished || done.Records != 400 || done.Created != 360 || done.Rejected != 40 || done.Progress != 100 || !done.HasReport() {
		t.Fatalf("waited: %+v", done)
	}
	if len(seen) == 0 {
		t.Fatal("Wait never called Progress")
	}
	if diff := cmp.Diff(*done, seen[len(seen)-1]); diff != "" {
		t.Fatalf("the last progress call is not the import Wait returned (-returned +called):\n%s", diff)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Progress < seen[i-1].Progress {
			t.Errorf("progress went back: %d then %d", seen[i-1].Progress, seen[i].Progress)
		}
	}

	got, err := c.Import(ctx, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(done, got); diff != "" {
		t.Fatalf("status (-waited +got):\n%s", diff)
	}
	list, err := c.Imports(ctx, client.ListOptions{State: client.ImportFinished, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != im.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}

	report, err := c.Errors(ctx, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(report).ReadAll()
	report.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 41 || rows[0][len(rows[0])-1] != "Errors" || !strings.Contains(rows[1][len(rows[1])-1], `unknown role "auditor"`) {
		t.Fatalf("report: %d rows, first %q %q", len(rows), rows[0], rows[1])
	}

	s.Roles(t, tenant, "agent", "auditor")
	retry, err := c.Retry(ctx, im.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Kind != "retry" || retry.ID == im.ID {
		t.Fatalf("retry: %+v", retry)
	}
	if retry, err = c.Wait(ctx, retry.ID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	if retry.State != client.ImportFinished || retry.Created != 40 || retry.Rejected != 0 || retry.HasReport() {
		t.Fatalf("retry waited: %+v", retry)
	}
	_, err = c.Retry(ctx, retry.ID)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || apiErr.Code != client.CodeNothingToRetry || apiErr.Message == "" {
		t.Fatalf("retry of a clean import: %v; want 409 %s", err, client.CodeNothingToRetry)
	}
	_, err = c.Errors(ctx, retry.ID)
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeNoReport || !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("report of a clean import: %v; want 404 %s", err, client.CodeNoReport)
	}
}

// An import of an object already in the bucket under the tenant's uploads;
// one under another tenant's prefix is refused with the API's message.
func TestImportObject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, s, tenant := tenantClient(t)
	key := "uploads/" + tenant + "/" + stacktest.RandomHex(4) + "/hr.csv"
	if _, err := s.Files.Upload(ctx, key, bytes.NewReader(users(9)), "text/csv"); err != nil {
		t.Fatal(err)
	}
	im, err := c.ImportObject(ctx, "s3://"+s.Files.Bucket()+"/"+key, client.ImportOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if im, err = c.Wait(ctx, im.ID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	if im.State != client.ImportFinished || !im.DryRun || im.Created != 9 || im.WouldCreate == nil {
		t.Fatalf("dry run: %+v", im)
	}

	_, err = c.ImportObject(ctx, "s3://"+s.Files.Bucket()+"/uploads/someone-else/hr.csv", client.ImportOptions{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != client.CodeBadRequest || !strings.Contains(apiErr.Message, "the tenant's own prefixes") {
		t.Fatalf("another tenant's object: %v", err)
	}
}

// The export holds the imported users, in the delimiter asked for; a bad
// delimiter is the API's 400.
func TestExport(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _, _ := tenantClient(t)
	im, err := c.Upload(ctx, "users.csv", bytes.NewReader(users(20)), client.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, im.ID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	body, err := c.Export(ctx, client.ExportOptions{Delimiter: "semicolon"})
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(body)
	r.Comma = ';'
	rows, err := r.ReadAll()
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+18 || rows[0][0] != "User name" || rows[1][1] != "user0000" {
		t.Fatalf("export: %d rows, %q", len(rows), rows[:min(2, len(rows))])
	}
	_, err = c.Export(ctx, client.ExportOptions{Delimiter: "tab"})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("tab delimiter: %v", err)
	}
}

// A feed created, listed, read, changed and removed, its runs listed; a
// run that does not exist is a 404.
func TestFeeds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _, _ := tenantClient(t)
	name, schedule := "hr", "0 2 * * *"
	f, err := c.CreateFeed(ctx, client.FeedChange{Name: &name, Schedule: &schedule})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "hr" || f.Schedule != schedule || !f.Enabled {
		t.Fatalf("created: %+v", f)
	}
	_, err = c.CreateFeed(ctx, client.FeedChange{Name: &name, Schedule: &schedule})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != client.CodeFeedExists {
		t.Fatalf("second feed hr: %v", err)
	}
	feeds, err := c.Feeds(ctx)
	if err != nil || len(feeds) != 1 || feeds[0].Name != "hr" {
		t.Fatalf("feeds: %+v, %v", feeds, err)
	}
	off := false
	if f, err = c.UpdateFeed(ctx, "hr", client.FeedChange{Enabled: &off}); err != nil || f.Enabled {
		t.Fatalf("disabled: %+v, %v", f, err)
	}
	if f, err = c.Feed(ctx, "hr"); err != nil || f.Enabled {
		t.Fatalf("read back: %+v, %v", f, err)
	}
	if _, err := c.RunFeed(ctx, "hr"); !errors.As(err, &apiErr) || apiErr.Code != client.CodeFeedDisabled {
		t.Fatalf("run a disabled feed: %v", err)
	}
	runs, err := c.FeedRuns(ctx, "hr", 10)
	if err != nil || len(runs) != 0 {
		t.Fatalf("runs: %+v, %v", runs, err)
	}
	if _, err := c.ApproveFeedRun(ctx, 1<<40); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("approve a missing run: %v", err)
	}
	if err := c.DeleteFeed(ctx, "hr"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FeedRuns(ctx, "hr", 0); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("runs of a removed feed: %v", err)
	}
}

// A bad token is a typed 401 whose text never holds the token.
func TestAuthFailure(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, redisDB, 0)
	const secret = "uit_not-a-real-token-0123456789"
	c, err := client.New(s.URL, client.WithToken(secret))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Imports(t.Context(), client.ListOptions{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != client.CodeUnauthorized || !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("bad token: %v; want a 401 *client.Error", err)
	}
	if errors.Is(err, client.ErrNotFound) {
		t.Errorf("a 401 matches ErrNotFound")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprint(c), secret) {
		t.Errorf("the token shows: %v / %v", err, c)
	}
}

// Another tenant's import and a missing one are both 404 not_found.
func TestNotFound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, s, _ := tenantClient(t)
	other := pgtest.Tenant(t)
	id, _, err := s.Store.CreateImport(ctx, postgres.NewImport{Tenant: other, Source: "s3://" + s.Files.Bucket() + "/uploads/" + other + "/x.csv"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{id, 1 << 50} {
		_, err := c.Import(ctx, id)
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != client.CodeNotFound || !errors.Is(err, client.ErrNotFound) {
			t.Errorf("import %d: %v; want 404 not_found", id, err)
		}
	}
}

// Wait stops when its context ends, with the import as last seen.
func TestWaitCancelled(t *testing.T) {
	t.Parallel()
	c, s, tenant := tenantClient(t)
	// Recorded but never queued: it stays planning.
	id, _, err := s.Store.CreateImport(t.Context(), postgres.NewImport{Tenant: tenant, Source: "s3://" + s.Files.Bucket() + "/uploads/" + tenant + "/x.csv"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	last, err := c.Wait(ctx, id, client.WaitOptions{Progress: func(client.Import) { cancel() }})
	if !errors.Is(err, context.Canceled) || last == nil || last.State != client.ImportPlanning {
		t.Fatalf("cancelled wait: %+v, %v", last, err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "localhost:8080", "ftp://example.com", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}

// Wait waits out the token's rate limit (429 with Retry-After) instead of
// failing.
func TestWaitThroughTheRateLimit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// One request, then one every 4 s: the upload takes the only one.
	s := apitest.StartWith(t, apitest.Options{RedisDB: redisDB, RateLimit: producer.Rate{PerSecond: 0.25, Burst: 1}})
	tenant := pgtest.Tenant(t)
	s.Roles(t, tenant, "agent")
	c, err := client.New(s.URL, client.WithToken(s.Token(t, tenant)))
	if err != nil {
		t.Fatal(err)
	}
	im, err := c.Upload(ctx, "users.csv", bytes.NewReader(users(9)), client.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Import(ctx, im.ID)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrRateLimited) || apiErr.Code != client.CodeRateLimited || apiErr.RetryAfter <= 0 {
		t.Fatalf("second request: %v; want 429 rate_limited with Retry-After", err)
	}
	done, err := c.Wait(ctx, im.ID, client.WaitOptions{})
	if err != nil || done.State != client.ImportFinished || done.Created != 9 {
		t.Fatalf("wait: %+v, %v", done, err)
	}
}
