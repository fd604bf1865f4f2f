package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// feedFormValues is the new-feed form as an admin fills it in.
func feedFormValues(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "name": {"hr"}, "prefix": {""}, "schedule": {"0 2 * * *"}, "time_zone": {"Europe/Paris"},
		"mode": {"full"}, "max_deactivate_percent": {"5"}, "max_deactivate_count": {"40"}, "notify": {"hr@a.example, it@a.example"},
		"stale_after_days": {"3"}, "delimiter": {"semicolon"}, "header": {"auto"}, "enabled": {"on"}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// A feed is created from its form, checked as the API checks it (every
// problem named, nothing stored), edited, disabled and enabled, and removed
// once confirmed; every change needs the CSRF token.
func TestFeedFormPages(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))

	code, _, page := b.do(http.MethodGet, "/ui/new-feed", nil)
	for _, want := range []string{`action="/ui/feeds"`, `<label for="schedule">`, `value="upsert" checked`, `value="10"`, feed.PrefixRoot(tenant)} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("new feed page (%d) lacks %q", code, want)
		}
	}
	form := feedFormValues(csrf)
	if code, _, _ := b.do(http.MethodPost, "/ui/feeds", with(form, "csrf", "")); code != http.StatusForbidden {
		t.Errorf("create without the CSRF token: %d, want 403", code)
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		wants []string
	}{
		{"bad name and schedule", with(form, "name", "HR feed", "schedule", "every night"), []string{`Name &#34;HR feed&#34;: 1 to 63`, "schedule &#34;every night&#34;"}},
		{"full without notify", with(form, "notify", ""), []string{"a full feed needs someone to notify"}},
		{"bad numbers", with(form, "max_deactivate_percent", "five", "max_deactivate_count", "-3", "stale_after_days", "0"),
			[]string{"per cent &#34;five&#34;", "in users &#34;-3&#34;", "stale warning &#34;0&#34;"}},
		{"another tenant's folder", with(form, "prefix", "feeds/other/hr/"), []string{"Prefix &#34;feeds/other/hr/&#34;: name a folder under"}},
		{"bad address", with(form, "notify", "not-an-address"), []string{"not-an-address"}},
	} {
		code, _, page := b.do(http.MethodPost, "/ui/feeds", tc.form)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.name, code)
		}
		for _, want := range tc.wants {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %q\n%s", tc.name, want, page)
			}
		}
		if !strings.Contains(page, `value="`+tc.form.Get("max_deactivate_percent")+`"`) {
			t.Errorf("%s: the form lost what was typed", tc.name)
		}
	}
	// The tenant's allowed domains apply, as for the API.
	dom := []string{"a.example"}
	if _, err := store.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &dom}); err != nil {
		t.Fatal(err)
	}
	if code, _, page := b.do(http.MethodPost, "/ui/feeds", with(form, "notify", "hr@elsewhere.example")); code != http.StatusBadRequest ||
		!strings.Contains(page, "elsewhere.example") {
		t.Errorf("an address outside the allowed domains: %d\n%s", code, page)
	}
	if feeds, err := store.Feeds(ctx, tenant); err != nil || len(feeds) != 0 {
		t.Fatalf("refused forms stored %d feeds (%v)", len(feeds), err)
	}

	code, h, _ := b.do(http.MethodPost, "/ui/feeds", form)
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/feeds/hr?notice=feed-created" {
		t.Fatalf("create: %d to %q", code, h.Get("Location"))
	}
	f, err := store.FeedByName(ctx, tenant, "hr")
	if err != nil {
		t.Fatal(err)
	}
	if f.Prefix != feed.DefaultPrefix(tenant, "hr") || f.Schedule != "0 2 * * *" || f.TimeZone != "Europe/Paris" || f.Mode != feed.ModeFull ||
		f.MaxDeactivatePercent != 5 || f.MaxDeactivateCount == nil || *f.MaxDeactivateCount != 40 || f.StaleAfterDays == nil ||
		*f.StaleAfterDays != 3 || f.Delimiter != "semicolon" || !f.Enabled || strings.Join(f.Notify, ",") != "hr@a.example,it@a.example" {
		t.Errorf("created feed: %+v", f)
	}
	if code, _, page := b.do(http.MethodPost, "/ui/feeds", form); code != http.StatusConflict || !strings.Contains(page, "a feed named hr already") {
		t.Errorf("a second feed hr: %d", code)
	}
	_, _, page = b.do(http.MethodGet, "/ui/feeds/hr?notice=feed-created", nil)
	for _, want := range []string{"The feed was created", `href="/ui/feeds/hr/edit"`, `action="/ui/feeds/hr/dry-run"`, `action="/ui/feeds/hr/disable"`,
		`action="/ui/feeds/hr/remove"`} {
		if !strings.Contains(page, want) {
			t.Errorf("feed page lacks %q", want)
		}
	}

	// Edit: the form holds the values; a rename moves the page.
	code, _, page = b.do(http.MethodGet, "/ui/feeds/hr/edit", nil)
	for _, want := range []string{`action="/ui/feeds/hr/edit"`, `value="Europe/Paris"`, `value="40"`, `value="hr@a.example, it@a.example"`, `value="full" checked`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("edit page (%d) lacks %q", code, want)
		}
	}
	edit := with(form, "name", "payroll", "prefix", feed.DefaultPrefix(tenant, "hr"), "mode", "upsert", "max_deactivate_count", "", "stale_after_days", "")
	if code, h, _ := b.do(http.MethodPost, "/ui/feeds/hr/edit", edit); code != http.StatusSeeOther || h.Get("Location") != "/ui/feeds/payroll?notice=feed-saved" {
		t.Fatalf("edit: %d to %q", code, h.Get("Location"))
	}
	f, err = store.FeedByName(ctx, tenant, "payroll")
	if err != nil || f.Mode != feed.ModeUpsert || f.MaxDeactivateCount != nil || f.StaleAfterDays != nil || f.Prefix != feed.DefaultPrefix(tenant, "hr") {
		t.Errorf("edited feed: %+v (%v)", f, err)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/feeds/payroll/edit", with(edit, "schedule", "")); code != http.StatusBadRequest {
		t.Errorf("an edit without a schedule: %d, want 400", code)
	}

	// Disable, enable.
	if code, _, _ := b.do(http.MethodPost, "/ui/feeds/payroll/disable", url.Values{}); code != http.StatusForbidden {
		t.Errorf("disable without the CSRF token: %d, want 403", code)
	}
	for _, tc := range []struct {
		action string
		want   bool
	}{{"disable", false}, {"enable", true}} {
		code, h, _ := b.do(http.MethodPost, "/ui/feeds/payroll/"+tc.action, url.Values{"csrf": {csrf}})
		if code != http.StatusSeeOther || h.Get("Location") != "/ui/feeds/payroll?notice=feed-"+tc.action+"d" {
			t.Errorf("%s: %d to %q", tc.action, code, h.Get("Location"))
		}
		if f, err := store.FeedByName(ctx, tenant, "payroll"); err != nil || f.Enabled != tc.want {
			t.Errorf("after %s: enabled %v (%v)", tc.action, f.Enabled, err)
		}
	}

	// Remove: asked first.
	code, _, page = b.do(http.MethodPost, "/ui/feeds/payroll/remove", url.Values{"csrf": {csrf}})
	if code != http.StatusOK || !strings.Contains(page, `id="confirm-remove"`) || !strings.Contains(page, `name="confirm" value="yes"`) {
		t.Fatalf("remove without confirmation: %d\n%s", code, page)
	}
	if _, err := store.FeedByName(ctx, tenant, "payroll"); err != nil {
		t.Fatalf("the feed went before the confirmation: %v", err)
	}
	code, h, _ = b.do(http.MethodPost, "/ui/feeds/payroll/remove", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/feeds?notice=feed-removed" {
		t.Fatalf("remove: %d to %q", code, h.Get("Location"))
	}
	if _, err := store.FeedByName(ctx, tenant, "payroll"); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("after removal: %v, want not found", err)
	}
}

// Another tenant's feed is not found on any feed page, and none of its
// changes applies.
func TestAnotherTenantsFeedIsNotFound(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	theirs := pgtest.Tenant(t)
	heldRun(t, store, theirs, 10, 5)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, pgtest.Tenant(t)))
	for _, path := range []string{"/ui/feeds/hr", "/ui/feeds/hr/edit"} {
		if code, _, _ := b.do(http.MethodGet, path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s of another tenant: %d, want 404", path, code)
		}
	}
	for _, p := range []string{"edit", "enable", "disable", "remove", "dry-run", "run"} {
		path := "/ui/feeds/hr/" + p
		if code, _, _ := b.do(http.MethodPost, path, with(feedFormValues(csrf), "confirm", "yes", "name", "mine")); code != http.StatusNotFound {
			t.Errorf("POST %s of another tenant: %d, want 404", path, code)
		}
	}
	f, err := store.FeedByName(t.Context(), theirs, "hr")
	if err != nil || !f.Enabled || f.Schedule != "@daily" {
		t.Errorf("their feed after another tenant's attempts: %+v (%v)", f, err)
	}
}

// The dry run of the newest file says what a run would do (creates,
// updates, rejections, deactivations and the limit crossed) and writes no
// user; without a file it says so.
func TestFeedDryRunFromItsPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	var file strings.Builder
	file.WriteString("User name,Login ID,Language\n")
	for i := range 10 {
		file.WriteString("User 0" + strconv.Itoa(i) + ",u0" + strconv.Itoa(i) + ",en\n")
	}
	if _, err := importer.Local(ctx, store, strings.NewReader(file.String()), importer.Options{Tenant: tenant, Source: "first.csv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: feed.DefaultPrefix(tenant, "hr"), Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: feed.ModeFull, MaxDeactivatePercent: 10, Notify: []string{"hr@a.example"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if code, _, page := b.do(http.MethodPost, "/ui/feeds/hr/dry-run", url.Values{"csrf": {csrf}}); code != http.StatusConflict ||
		!strings.Contains(page, "There is no file under "+feed.DefaultPrefix(tenant, "hr")) {
		t.Errorf("dry run without a file: %d\n%s", code, page)
	}
	// The newest file keeps u00–u05 (u00 renamed), adds n1, and has a bad record.
	older := "User name,Login ID,Language\nOld,old,en\n"
	newest := "User name,Login ID,Language\nRenamed,u00,en\nUser 01,u01,en\nUser 02,u02,en\nUser 03,u03,en\nUser 04,u04,en\n" +
		"User 05,u05,en\nNew One,n1,en\nBad,bad,xx\n"
	files := stacktest.S3(t)
	for _, f := range []struct{ key, body string }{{"a-older.csv", older}, {"b-newest.csv", newest}} {
		if _, err := files.Upload(ctx, feed.DefaultPrefix(tenant, "hr")+f.key, strings.NewReader(f.body), "text/csv"); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/feeds/hr/dry-run", url.Values{}); code != http.StatusForbidden {
		t.Errorf("dry run without the CSRF token: %d, want 403", code)
	}
	code, _, page := b.do(http.MethodPost, "/ui/feeds/hr/dry-run", url.Values{"csrf": {csrf}})
	for _, want := range []string{"b-newest.csv", `<dd id="records">8</dd>`, `<dd id="to-create">1</dd>`, `<dd id="to-update">1</dd>`,
		`<dd id="unchanged">5</dd>`, `<dd id="rejected">1</dd>`, `<dd id="to-deactivate">4 of 10 active users</dd>`,
		`id="over-limit"`, "is more than the feed&#39;s limit of 10 %", "<td>u06</td><td>User 06</td>", "<td>u09</td>", "Nothing was written"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("dry run page (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "<td>u05</td>") {
		t.Error("the dry run would deactivate a user in the file")
	}
	// Nothing written: no new user, no rename, nobody deactivated, no run.
	if rec, err := store.User(ctx, tenant, "u00"); err != nil || rec.User.Name != "User 00" {
		t.Errorf("u00 after the dry run: %q (%v)", rec.User.Name, err)
	}
	if _, err := store.User(ctx, tenant, "n1"); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("n1 after the dry run: %v, want not found", err)
	}
	if n := inactive(t, store, tenant); n != 0 {
		t.Errorf("%d users deactivated by a dry run", n)
	}
	f, err := store.FeedByName(ctx, tenant, "hr")
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := store.FeedRuns(ctx, tenant, f.ID, 10); err != nil || len(runs) != 0 {
		t.Errorf("the dry run recorded %d runs (%v)", len(runs), err)
	}
}
