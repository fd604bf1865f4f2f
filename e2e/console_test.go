package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// consoleStack is the producer and a worker the console's browser test
// drives, with the browser's tab, logged in to one tenant.
type consoleStack struct {
	bin     string
	environ []string
	base    string // the producer, also its PUBLIC_URL: the e-mails link its pages
	tenant  string
	secret  string // S3_EVENTS_SECRET
	ctx     context.Context
	pages   *pageCheck
	db      *pgx.Conn
}

// The tenant admin's console in headless Chromium, against the built
// producer and a worker: each flow of the console's acceptance as a subtest
// (they share the stack and the browser, and run in order). Every page they
// visit is screenshotted (desktop and phone width), checked with axe-core
// (no serious or critical violation) and checked to fit a phone's width.
func TestConsoleInTheBrowser(t *testing.T) {
	chrome := chromium(t)
	s := &consoleStack{bin: build(t), secret: "events-" + stacktest.RandomHex(16)}
	port := freePort(t)
	s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.environ = append(env(t), "PRODUCER_ADDR=127.0.0.1:"+strconv.Itoa(port), "PUBLIC_URL="+s.base, "S3_EVENTS_SECRET="+s.secret)
	s.ctl(t, 0, "migrate")
	s.tenant = pgtest.Tenant(t)
	token := strings.TrimSpace(string(s.ctl(t, 0, "tokens", "create", "--tenant", s.tenant, "--name", "admin")))
	start(t, s.bin, "producer", s.environ)
	health := freePort(t)
	start(t, s.bin, "worker", s.environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(health))
	waitHTTP(t, s.base+"/readyz")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
	var err error
	if s.db, err = pgx.Connect(t.Context(), pgtest.URL(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.db.Close(context.WithoutCancel(t.Context())) })

	ctx, cancel := chromedp.NewContext(browserAllocator(t, chrome))
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	s.ctx = ctx
	// Start the browser on the tab's context: the steps' shorter contexts
	// must not own it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	s.pages = newPageCheck(ctx, axeSource(t), artifactDir(t, "console"))

	s.do(t, "open the login page", chromedp.Navigate(s.base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")))
	s.pages.check(t, "login")
	s.do(t, "log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/upload"].button`)))

	// In this order: the feed's full run deactivates every active user
	// absent from its file, so it comes before the others create theirs.
	for _, st := range []struct {
		name string
		run  func(*consoleStack, *testing.T)
	}{
		{"HeldFeedRunApprovedFromTheMail", (*consoleStack).heldFeedRun},
		{"RoleAddedThenRetryImportsTheRejected", (*consoleStack).roleThenRetry},
		{"TokenCreatedUsedRevoked", (*consoleStack).tokenLifecycle},
		{"UserFoundWithHistory", (*consoleStack).userHistory},
		{"DefaultRecipientOfAnS3EventImport", (*consoleStack).defaultRecipient},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(s, t) })
	}
	s.open(t, "/ui/", "main table")
	s.pages.check(t, "imports")
	s.open(t, "/ui/imports/999999999", "main h1")
	s.pages.check(t, "not-found")
}

func (s *consoleStack) ctl(t *testing.T, maxCode int, args ...string) []byte {
	t.Helper()
	_, out := ctl(t, s.bin, s.environ, maxCode, args...)
	return out
}

// stepTimeout bounds one step of the browser: a selector that never shows
// fails that step, not every later one.
const stepTimeout = 20 * time.Second

func (s *consoleStack) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// open loads path of the producer and waits for sel.
func (s *consoleStack) open(t *testing.T, path, sel string) {
	t.Helper()
	s.do(t, "open "+path, chromedp.Navigate(s.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (s *consoleStack) location(t *testing.T) string {
	t.Helper()
	loc, err := chromedp.Run(s.ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return loc
}

// waitLocation waits until the browser is at path of the producer.
func (s *consoleStack) waitLocation(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for s.location(t) != s.base+path {
		if time.Now().After(deadline) {
			t.Fatalf("at %s after %s, want %s", s.location(t), stepTimeout, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poll loads path until js is true.
func (s *consoleStack) poll(t *testing.T, what, path, js string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s.do(t, what, chromedp.Navigate(s.base+path))
		if evaluate[bool](s.ctx, t, js) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s; the page says:\n%s", what, within, evaluate[string](s.ctx, t, `document.querySelector("main").innerText`))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// importFile imports a file of rows (after the header) with importctl,
// through the queue, and returns its result.
func (s *consoleStack) importFile(t *testing.T, name, header string, rows ...string) importResult {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(header+"\n"+strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var res importResult
	if out := s.ctl(t, 1, "import", "--tenant", s.tenant, "--wait", "--format", "json", path); json.Unmarshal(out, &res) != nil || res.State != "finished" {
		t.Fatalf("import %s: %s", name, out)
	}
	return res
}

// mailTo waits for the one message to address whose subject has want, and
// returns it with its plain text and HTML.
func mailTo(t *testing.T, address, want string) (msg stacktest.Message, text, html string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range stacktest.MailNow(t, address) {
			if strings.Contains(m.Subject, want) {
				var body struct {
					Text string `json:"Text"`
					HTML string `json:"HTML"`
				}
				if err := json.Unmarshal(mailpitMessage(t, m.ID), &body); err != nil {
					t.Fatal(err)
				}
				return m, body.Text, body.HTML
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no e-mail to %s with %q in its subject after 20 s: %+v", address, want, stacktest.MailNow(t, address))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// mailpitMessage is mailpit's JSON of message id.
func mailpitMessage(t *testing.T, id string) []byte {
	t.Helper()
	code, body := stacktest.Do(t, http.MethodGet, stacktest.Getenv("MAILPIT_URL")+"/api/v1/message/"+url.PathEscape(id), "", "", nil)
	if code != http.StatusOK {
		t.Fatalf("mailpit message %s: %d %s", id, code, body)
	}
	return body
}

// a. A full feed whose file leaves out 8 of 10 users, far over its limit of
// 10 %, holds its run; the e-mail links the run's page, where the admin
// approves it, and the 8 are deactivated.
func (s *consoleStack) heldFeedRun(t *testing.T) { //nolint:thelper // a subtest run by t.Run: its failures name its own lines
	var rows []string
	for i := 1; i <= 10; i++ {
		rows = append(rows, fmt.Sprintf("Feed User %02d,feed.user%02d", i, i))
	}
	if res := s.importFile(t, "staff.csv", "User name,Login ID", rows...); res.Created != 10 {
		t.Fatalf("the staff import created %d users, want 10", res.Created)
	}
	recipient := stacktest.Address("feed-admin")
	s.ctl(t, 0, "feeds", "add", "--tenant", s.tenant, "--schedule", "0 3 1 1 *", "--mode", "full",
		"--max-deactivate-percent", "10", "--notify", recipient, "hr")
	files := stacktest.S3(t)
	prefix := "feeds/" + s.tenant + "/hr/"
	if _, err := files.Put(t.Context(), prefix+"hr-export.csv", []byte("User name,Login ID\n"+rows[0]+"\n"+rows[1]+"\n"), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		_ = files.Delete(ctx, prefix+"hr-export.csv")
		// Disabled, so that no later test's scheduler catches up on it.
		_, _ = s.db.Exec(ctx, `UPDATE feeds SET enabled = false WHERE tenant_id = $1`, s.tenant)
	})

	s.open(t, "/ui/feeds", "main table")
	s.pages.check(t, "feeds")
	s.do(t, "open the feed", chromedp.Click(chromedp.CSS(`main a[href="/ui/feeds/hr"]`)), chromedp.WaitVisible(chromedp.ID("run-now")))
	s.pages.check(t, "feed")
	s.do(t, "run now", chromedp.Click(chromedp.CSS(`#run-now button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))

	// The e-mail says the run is held and links its page.
	msg, text, _ := mailTo(t, recipient, "needs approval")
	link := regexp.MustCompile(regexp.QuoteMeta(s.base) + `/ui/feed-runs/\d+`).FindString(text)
	if link == "" {
		t.Fatalf("the e-mail %q links no run's page:\n%s", msg.Subject, text)
	}
	s.do(t, "follow the e-mail's link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("decide")))
	if pending := evaluate[string](s.ctx, t, `document.querySelector("#pending").textContent`); !strings.HasPrefix(pending, "8 ") {
		t.Errorf("the held run: %q waiting, want 8 users", pending)
	}
	if n := evaluate[int](s.ctx, t, `document.querySelectorAll("#run-users tbody tr").length`); n != 8 {
		t.Errorf("the run's page lists %d users to deactivate, want 8", n)
	}
	s.pages.check(t, "feed-run-held")
	var active int
	if err := s.db.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE tenant_id = $1 AND active`, s.tenant).Scan(&active); err != nil || active != 10 {
		t.Fatalf("%d active users while the run is held (%v), want all 10", active, err)
	}

	s.do(t, "approve", chromedp.Click(chromedp.CSS(`form[action$="/approve"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if loc := s.location(t); !strings.HasPrefix(loc, link) {
		t.Errorf("after approving: at %s, want the run's page %s", loc, link)
	}
	if by := evaluate[string](s.ctx, t, `(document.querySelector("#decided-by") || {}).textContent || ""`); !strings.Contains(by, "admin") {
		t.Errorf("decided by %q, want the token admin", by)
	}
	s.pages.check(t, "feed-run-approved")
	var inactive []string
	rs, err := s.db.Query(t.Context(), `SELECT login_id FROM users WHERE tenant_id = $1 AND NOT active ORDER BY login_id`, s.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if inactive, err = pgx.CollectRows(rs, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := "feed.user03 feed.user04 feed.user05 feed.user06 feed.user07 feed.user08 feed.user09 feed.user10"; strings.Join(inactive, " ") != want {
		t.Errorf("deactivated after the approval: %v, want %s", inactive, want)
	}
	// The decision goes to the feed's recipients: what was decided, by whom,
	// and the run's page.
	decision, text, _ := mailTo(t, recipient, "approved")
	if !strings.Contains(decision.Subject, "8 users deactivated") {
		t.Errorf("the decision e-mail's subject %q, want its 8 users deactivated", decision.Subject)
	}
	for _, want := range []string{"approved by token admin", link} {
		if !strings.Contains(text, want) {
			t.Errorf("the decision e-mail lacks %q:\n%s", want, text)
		}
	}
}

// b. An import whose records name a role the empty catalog lacks rejects
// them; the admin adds the role on the Roles page, then retries from the
// import's page, and the retry imports them.
func (s *consoleStack) roleThenRetry(t *testing.T) { //nolint:thelper // a subtest run by t.Run: its failures name its own lines
	res := s.importFile(t, "agents.csv", "User name,Login ID,Role API Names",
		"Agent One,agent.one,agent", "Agent Two,agent.two,agent", "Agent Three,agent.three,agent")
	if res.Rejected != 3 {
		t.Fatalf("the import of agents: %d rejected, want the 3 (unknown role)", res.Rejected)
	}
	page := fmt.Sprintf("/ui/imports/%d", res.ID)
	s.open(t, page, "#reasons")
	if reasons := evaluate[string](s.ctx, t, `document.querySelector("#reasons").innerText`); !strings.Contains(reasons, "role") {
		t.Errorf("the import's reasons do not name the role:\n%s", reasons)
	}
	s.pages.check(t, "import-rejected")

	s.open(t, "/ui/roles", "#empty-catalog")
	s.pages.check(t, "roles-empty")
	s.do(t, "add a role", chromedp.SendKeys(chromedp.ID("names"), "agent"), chromedp.Click(chromedp.CSS(`form[action="/ui/roles"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#roles")))
	if names := evaluate[string](s.ctx, t, `document.querySelector("#roles tbody").innerText`); !strings.Contains(names, "agent") {
		t.Errorf("the catalog after adding agent:\n%s", names)
	}
	s.pages.check(t, "roles")
	s.do(t, "ask to remove it", chromedp.Click(chromedp.CSS(`button[aria-label="Remove agent"]`)), chromedp.WaitVisible(chromedp.ID("confirm-remove")))
	s.pages.check(t, "role-remove")

	s.open(t, page, `form[action$="/retry"] button`)
	s.do(t, "retry", chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	retry := strings.SplitN(strings.TrimPrefix(s.location(t), s.base), "?", 2)[0]
	if retry == page || !strings.HasPrefix(retry, "/ui/imports/") {
		t.Fatalf("after retry: at %s, want the retry's page", retry)
	}
	s.poll(t, "the retry finished", retry, `document.querySelector("#state").textContent == "finished"`, 30*time.Second)
	counts := evaluate[[]string](s.ctx, t, `["#count-created", "#count-rejected"].map(s => document.querySelector(s).textContent)`)
	if counts[0] != "3" || counts[1] != "0" {
		t.Errorf("the retry created %s and rejected %s, want 3 and 0", counts[0], counts[1])
	}
	s.pages.check(t, "import-retried")
	var roles int
	if err := s.db.QueryRow(t.Context(), `SELECT count(*) FROM user_roles WHERE tenant_id = $1`, s.tenant).Scan(&roles); err != nil || roles != 3 {
		t.Errorf("%d users hold a role (%v), want the 3 agents", roles, err)
	}
	s.open(t, retry+"/undo", "main h1")
	s.pages.check(t, "undo")
}

// c. A token created on the Tokens page works against the API until it is
// revoked there; then the same request is refused with 401.
func (s *consoleStack) tokenLifecycle(t *testing.T) { //nolint:thelper // a subtest run by t.Run: its failures name its own lines
	s.open(t, "/ui/tokens", "#tokens")
	s.pages.check(t, "tokens")
	name := "script-" + stacktest.RandomHex(3)
	s.do(t, "create a token", chromedp.SendKeys(chromedp.ID("name"), name), chromedp.Click(chromedp.CSS(`form[action="/ui/tokens"] button`)),
		chromedp.WaitVisible(chromedp.ID("secret")))
	secret := evaluate[string](s.ctx, t, `document.querySelector("#secret").value`)
	if !strings.HasPrefix(secret, "uit_") {
		t.Fatalf("the new token: %q", secret)
	}
	s.pages.check(t, "token-created")

	request := func() int {
		t.Helper()
		code, _ := stacktest.Do(t, http.MethodGet, s.base+"/v1/imports", secret, "", nil)
		return code
	}
	if code := request(); code != http.StatusOK {
		t.Fatalf("GET /v1/imports with the new token: %d, want 200", code)
	}
	if code, _ := stacktest.Do(t, http.MethodGet, s.base+"/v1/imports", secret+"x", "", nil); code != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d, want 401", code)
	}
	s.open(t, "/ui/tokens", "#tokens")
	if used := evaluate[string](s.ctx, t, fmt.Sprintf(`[...document.querySelectorAll("#tokens tbody tr")].find(tr => tr.cells[0].textContent.trim() == %q).cells[2].textContent`, name)); used == "never" {
		t.Errorf("the token's last use: %q after a request", used)
	}
	s.do(t, "revoke", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[aria-label="Revoke %s"]`, name))), chromedp.WaitVisible(chromedp.ID("confirm-revoke")))
	s.pages.check(t, "token-revoke")
	s.do(t, "confirm", chromedp.Click(chromedp.ID("confirm-revoke")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if code := request(); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/imports with the revoked token: %d, want 401", code)
	}
}

// d. A user changed by two imports is found by a part of their name; their
// page's history links both imports.
func (s *consoleStack) userHistory(t *testing.T) { //nolint:thelper // a subtest run by t.Run: its failures name its own lines
	first := s.importFile(t, "hist-1.csv", "User name,Login ID,E-mail", "Hilda Storm,hilda.storm,hilda@example.com")
	second := s.importFile(t, "hist-2.csv", "User name,Login ID,E-mail", "Hilda Storm,hilda.storm,h.storm@example.com")
	if first.Created != 1 || second.Updated != 1 {
		t.Fatalf("the imports of hilda: %+v then %+v, want created then updated", first, second)
	}
	s.open(t, "/ui/users", "#q")
	s.do(t, "search", chromedp.SendKeys(chromedp.ID("q"), "STORM"), chromedp.Submit(chromedp.ID("q")))
	s.waitLocation(t, "/ui/users?q=STORM")
	s.do(t, "the search's result", chromedp.WaitVisible(chromedp.CSS("#users, #no-users")))
	found := evaluate[[]string](s.ctx, t, `[...document.querySelectorAll("#users tbody a")].map(a => a.textContent)`)
	if strings.Join(found, ",") != "hilda.storm" {
		t.Fatalf("search STORM found %v, want hilda.storm", found)
	}
	s.pages.check(t, "users-search")
	s.do(t, "open the user", chromedp.Click(chromedp.CSS(`#users a[href="/ui/users/hilda.storm"]`)), chromedp.WaitVisible(chromedp.ID("values")))
	links := evaluate[[]string](s.ctx, t, `[...document.querySelectorAll("#history a[href^='/ui/imports/']")].map(a => a.getAttribute("href"))`)
	want := []string{fmt.Sprintf("/ui/imports/%d", second.ID), fmt.Sprintf("/ui/imports/%d", first.ID)}
	if strings.Join(links, " ") != strings.Join(want, " ") {
		t.Errorf("hilda's history links %v, want %v (newest first)", links, want)
	}
	s.pages.check(t, "user")
	s.do(t, "open the first import", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#history a[href="%s"]`, want[1]))), chromedp.WaitVisible(chromedp.ID("state")))
	if loc := s.location(t); loc != s.base+want[1] {
		t.Errorf("the history's link led to %s, want %s", loc, want[1])
	}
	s.pages.check(t, "import")
	s.open(t, "/ui/upload", "#file")
	s.pages.check(t, "upload")
}

// e, f. The default recipient set on the Settings page gets the result
// e-mail of an import started by an S3 event, which names nobody; the
// e-mail's HTML, rendered in the browser, names the file, gives the counts
// and links the import's page.
func (s *consoleStack) defaultRecipient(t *testing.T) { //nolint:thelper // a subtest run by t.Run: its failures name its own lines
	recipient := stacktest.Address("default")
	s.open(t, "/ui/settings", "#settings")
	s.do(t, "a bad address", chromedp.SetValue(chromedp.ID("default_notify"), "not an address"), chromedp.Click(chromedp.ID("save-settings")),
		chromedp.WaitVisible(chromedp.CSS(".alert")))
	s.pages.check(t, "settings-refused")
	s.do(t, "set the default recipient", chromedp.SetValue(chromedp.ID("default_notify"), recipient), chromedp.Click(chromedp.ID("save-settings")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := evaluate[string](s.ctx, t, `document.querySelector("#default_notify").value`); got != recipient {
		t.Errorf("the saved default recipients: %q, want %q", got, recipient)
	}
	s.pages.check(t, "settings")

	files := stacktest.S3(t)
	key := "incoming/" + s.tenant + "/night-shift.csv"
	body := "User name,Login ID\nNight One,night.one\nNight Two,night.two\nbad row,night three\n"
	obj, err := files.Put(t.Context(), key, []byte(body), "text/csv")
	if err != nil {
		t.Fatal(err)
	}
	event := fmt.Sprintf(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":%d,"eTag":%q}}}]}`,
		files.Bucket(), key, len(body), obj.ETag)
	code, out := stacktest.Do(t, http.MethodPost, s.base+"/v1/events/s3", s.secret, "application/json", strings.NewReader(event))
	var queued struct {
		Imports []int64 `json:"imports"`
	}
	if err := json.Unmarshal(out, &queued); err != nil || code != http.StatusOK || len(queued.Imports) != 1 {
		t.Fatalf("the S3 event: %d %s", code, out)
	}
	id := queued.Imports[0]
	msg, _, html := mailTo(t, recipient, "night-shift.csv")
	if !strings.Contains(msg.Subject, "2 created") || !strings.Contains(msg.Subject, "1 rejected") {
		t.Errorf("the result e-mail's subject %q, want 2 created and 1 rejected", msg.Subject)
	}
	if html == "" {
		t.Fatalf("the result e-mail %q has no HTML", msg.Subject)
	}

	// The e-mail's HTML, as a mail client shows it.
	s.do(t, "render the e-mail", chromedp.Navigate("data:text/html;charset=utf-8;base64,"+base64.StdEncoding.EncodeToString([]byte(html))),
		chromedp.WaitVisible(chromedp.CSS("body")))
	text := evaluate[string](s.ctx, t, `document.body.innerText`)
	for _, want := range []string{"night-shift.csv", "Created\t2", "Rejected\t1"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered e-mail lacks %q:\n%s", want, text)
		}
	}
	page := fmt.Sprintf("%s/ui/imports/%d", s.base, id)
	if n := evaluate[int](s.ctx, t, fmt.Sprintf(`document.querySelectorAll('a[href=%q]').length`, page)); n != 1 {
		t.Errorf("the rendered e-mail has %d links to the import's page %s, want 1", n, page)
	}
	s.pages.check(t, "result-mail")
}
