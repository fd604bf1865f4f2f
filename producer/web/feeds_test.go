package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/task"
)

// heldRun makes users u00–u(n-1) of the tenant and a full feed "hr" (limit
// 10 %) whose run found only the first keep of them in its file: the others
// wait for approval.
func heldRun(t *testing.T, store *postgres.Store, tenant string, n, keep int) postgres.FeedRun {
	t.Helper()
	ctx := t.Context()
	var file strings.Builder
	file.WriteString("User name,Login ID,Language\n")
	for i := range n {
		fmt.Fprintf(&file, "User %02d,u%02d,en\n", i, i)
	}
	if _, err := importer.Local(ctx, store, bytes.NewReader([]byte(file.String())), importer.Options{Tenant: tenant, Source: "hr.csv"}); err != nil {
		t.Fatal(err)
	}
	f, err := store.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: feed.DefaultPrefix(tenant, "hr"), Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: feed.ModeFull, MaxDeactivatePercent: 10, Notify: []string{"hr@a.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	nr := postgres.NewFeedRun{Feed: f, ScheduledFor: time.Now().UTC().Truncate(24 * time.Hour), Source: "s3://b/" + f.Prefix + "x.csv",
		ObjectKey: f.Prefix + "x.csv", ObjectETag: "e"}
	run, _, err := store.StartFeedRun(ctx, nr, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: nr.Source, SourceETag: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := store.FinishImport(ctx, tenant, run.ImportID, 0); err != nil || !ok {
		t.Fatalf("finish the run's import: %v %v", ok, err)
	}
	var present []string
	for i := range keep {
		present = append(present, fmt.Sprintf("u%02d", i))
	}
	held, err := store.ApplyFeedRun(ctx, &f, run.ID, postgres.SyncInput{Present: present, Imported: present},
		func(s postgres.FeedStep) postgres.FeedOutcome { return feed.Decide(&f, s) })
	if err != nil || held.State != lifecycle.RunNeedsApproval || held.Pending != n-keep {
		t.Fatalf("run: %+v (%v); want %d held for approval", held, err, n-keep)
	}
	return held
}

func inactive(t *testing.T, store *postgres.Store, tenant string) int {
	t.Helper()
	var n int
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM users WHERE tenant_id = $1 AND NOT active`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A held run's page shows its numbers, the limit crossed and its list
// (paged, searchable by Login ID); approving from it deactivates the list,
// recorded with the session's token, and only with the CSRF token; another
// tenant's run is not found.
func TestApproveHeldRunFromItsPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	run := heldRun(t, store, tenant, 80, 20) // 60 of 80 absent: 75 %
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	path := "/ui/feed-runs/" + strconv.FormatInt(run.ID, 10)

	code, _, page := b.do(http.MethodGet, path, nil)
	for _, want := range []string{`<dd id="active-before">80</dd>`, `<dd id="absent">60 (75.0 %)</dd>`, `60 users to deactivate`,
		"60 of 80 active users (75.0 %) is more than the feed&#39;s limit of 10 %", `action="` + path + `/approve"`,
		"60 users, by name", "<td>u20</td>", "Page 1 of 2", `href="` + path + `?page=2"`} {
		if !strings.Contains(page, want) {
			t.Errorf("run page (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "<td>u70</td>") || strings.Contains(page, "<td>u05</td>") {
		t.Error("the first page shows a user of the second page, or one not on the list")
	}
	if _, _, page := b.do(http.MethodGet, path+"?page=2", nil); !strings.Contains(page, "<td>u79</td>") || strings.Contains(page, "<td>u20</td>") {
		t.Errorf("second page:\n%s", page)
	}
	if _, _, page := b.do(http.MethodGet, path+"?q=U7", nil); !strings.Contains(page, "10 users whose Login ID contains") ||
		!strings.Contains(page, "<td>u75</td>") || strings.Contains(page, "<td>u20</td>") {
		t.Errorf("search u7:\n%s", page)
	}
	if _, _, page := b.do(http.MethodGet, path+"?q=u05", nil); !strings.Contains(page, `id="no-users"`) {
		t.Errorf("search for a user not on the list:\n%s", page)
	}

	// Another tenant sees no such run, and cannot decide it.
	other := newBrowser(t, srv.URL)
	otherCSRF := other.login(token(t, store, pgtest.Tenant(t)))
	if code, _, _ := other.do(http.MethodGet, path, nil); code != http.StatusNotFound {
		t.Errorf("another tenant's run page: %d, want 404", code)
	}
	if code, _, _ := other.do(http.MethodPost, path+"/approve", url.Values{"csrf": {otherCSRF}}); code != http.StatusNotFound {
		t.Errorf("approving another tenant's run: %d, want 404", code)
	}
	// Without the CSRF token: refused.
	if code, _, _ := b.do(http.MethodPost, path+"/approve", url.Values{}); code != http.StatusForbidden {
		t.Errorf("approving without the CSRF token: %d, want 403", code)
	}
	if n := inactive(t, store, tenant); n != 0 {
		t.Fatalf("%d users deactivated before the approval", n)
	}

	code, h, _ := b.do(http.MethodPost, path+"/approve", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != path+"?notice=run-approved" {
		t.Fatalf("approve: %d to %q", code, h.Get("Location"))
	}
	if n := inactive(t, store, tenant); n != 60 {
		t.Errorf("%d users deactivated, want 60", n)
	}
	got, err := store.FeedRun(t.Context(), tenant, run.ID)
	if err != nil || got.State != lifecycle.RunApplied || !strings.HasPrefix(got.DecidedBy, "token web test (#") {
		t.Errorf("run after approval: %+v (%v)", got, err)
	}
	_, _, page = b.do(http.MethodGet, path+"?notice=run-approved", nil)
	if !strings.Contains(page, "The run was approved") || strings.Contains(page, `/approve"`) || !strings.Contains(page, "Users deactivated") {
		t.Errorf("the page after approval:\n%s", page)
	}
	if code, _, _ := b.do(http.MethodPost, path+"/reject", url.Values{"csrf": {csrf}}); code != http.StatusConflict {
		t.Errorf("rejecting a decided run: %d, want 409", code)
	}
}

// Rejecting from the page deactivates nobody.
func TestRejectHeldRunFromItsPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	run := heldRun(t, store, tenant, 10, 5)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	path := "/ui/feed-runs/" + strconv.FormatInt(run.ID, 10)
	if code, h, _ := b.do(http.MethodPost, path+"/reject", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther ||
		h.Get("Location") != path+"?notice=run-rejected" {
		t.Fatalf("reject: %d to %q", code, h.Get("Location"))
	}
	if n := inactive(t, store, tenant); n != 0 {
		t.Errorf("%d users deactivated by a rejection", n)
	}
	got, err := store.FeedRun(t.Context(), tenant, run.ID)
	if err != nil || got.State != lifecycle.RunRejected || !strings.HasPrefix(got.DecidedBy, "token web test (#") {
		t.Errorf("run after rejection: %+v (%v)", got, err)
	}
}

// The feeds' list and a feed's page show its settings and runs, linked to
// the runs' pages; another tenant's feed is not found.
func TestFeedPages(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	if _, _, page := b.do(http.MethodGet, "/ui/feeds", nil); !strings.Contains(page, `id="no-feeds"`) {
		t.Errorf("no feeds yet:\n%s", page)
	}
	run := heldRun(t, store, tenant, 10, 5)
	runLink := fmt.Sprintf(`href="/ui/feed-runs/%d"`, run.ID)
	code, _, page := b.do(http.MethodGet, "/ui/feeds", nil)
	for _, want := range []string{`href="/ui/feeds/hr"`, "@daily (UTC)", "<td>full</td>", "<td>10 %</td>", runLink, "needs_approval"} {
		if !strings.Contains(page, want) {
			t.Errorf("feeds page (%d) lacks %q", code, want)
		}
	}
	code, _, page = b.do(http.MethodGet, "/ui/feeds/hr", nil)
	for _, want := range []string{"Feed hr", feed.DefaultPrefix(tenant, "hr"), "hr@a.example", runLink, `<td class="num">5</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("feed page (%d) lacks %q", code, want)
		}
	}
	other := newBrowser(t, srv.URL)
	other.login(token(t, store, pgtest.Tenant(t)))
	if code, _, _ := other.do(http.MethodGet, "/ui/feeds/hr", nil); code != http.StatusNotFound {
		t.Errorf("another tenant's feed: %d, want 404", code)
	}
}

type recorder struct {
	mu    sync.Mutex
	tasks []*asynq.Task
}

func (r *recorder) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	return &asynq.TaskInfo{}, nil
}

func (r *recorder) of(typ string) []*asynq.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*asynq.Task
	for _, t := range r.tasks {
		if t.Type() == typ {
			out = append(out, t)
		}
	}
	return out
}

// "Run now" on a feed's page queues the scheduler's feed:run task for the
// feed, scheduled for now, only with the CSRF token; deciding a run queues
// its e-mail.
func TestRunFeedNowFromItsPage(t *testing.T) {
	t.Parallel()
	q := &recorder{}
	srv, store := serverQueue(t, q)
	tenant := pgtest.Tenant(t)
	run := heldRun(t, store, tenant, 10, 5)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	if _, _, page := b.do(http.MethodGet, "/ui/feeds/hr", nil); !strings.Contains(page, `action="/ui/feeds/hr/run"`) {
		t.Fatalf("no Run now button:\n%s", page)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/feeds/hr/run", url.Values{}); code != http.StatusForbidden {
		t.Errorf("run now without the CSRF token: %d, want 403", code)
	}
	if n := len(q.of(task.TypeFeedRun)); n != 0 {
		t.Fatalf("%d feed:run tasks queued without the CSRF token", n)
	}
	before := time.Now().UTC().Truncate(time.Second)
	code, h, _ := b.do(http.MethodPost, "/ui/feeds/hr/run", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/feeds/hr?notice=feed-run-queued" {
		t.Fatalf("run now: %d to %q", code, h.Get("Location"))
	}
	runs := q.of(task.TypeFeedRun)
	if len(runs) != 1 {
		t.Fatalf("%d feed:run tasks, want 1", len(runs))
	}
	p, err := task.ParseFeedRun(runs[0])
	if err != nil || p.Tenant != tenant || p.FeedID != run.FeedID || p.ScheduledFor == nil || p.ScheduledFor.Before(before) {
		t.Errorf("feed:run payload %+v (%v)", p, err)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/feed-runs/"+strconv.FormatInt(run.ID, 10)+"/reject", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Fatalf("reject: %d", code)
	}
	decided := q.of(task.TypeFeedDecided)
	if len(decided) != 1 {
		t.Fatalf("%d feed:decided tasks, want 1", len(decided))
	}
	if dp, err := task.ParseFeedDecided(decided[0]); err != nil || dp.Tenant != tenant || dp.RunID != run.ID {
		t.Errorf("feed:decided payload %+v (%v)", dp, err)
	}
}
