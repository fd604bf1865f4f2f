package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// chromium returns the path of headless Chromium, installing it with
// deploy/local/chromium.sh when it is missing. The browser test fails (it
// does not skip) when that is not possible.
func chromium(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "../deploy/local/chromium.sh").Output()
	path := strings.TrimSpace(string(out))
	if err != nil || path == "" {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); asExit(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("no Chromium for the browser test: deploy/local/chromium.sh failed (%v): %s\n"+
			"install it with: deploy/local/chromium.sh (as root, or apt-get install -y chromium)", err, stderr)
	}
	return path
}

// screenshots is where the browser tests save their screenshots, the test
// artifacts: $UI_SCREENSHOTS, else bench/out/ui (ignored by git). The
// console's test writes into its folder console/.
func screenshots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("UI_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "bench", "out", "ui")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("screenshots in %s", abs)
	return dir
}

// webFile is a 30-record file with three invalid records: a bad e-mail
// (line 6), a bad language (line 12) and a Login ID with a space (line 21).
func webFile(t *testing.T) (path string, invalid map[int]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("User name,Login ID,Language,E-mail,Role API Names\n")
	invalid = map[int]string{6: "E-mail", 12: "Language", 21: "Login ID"}
	for i := 1; i <= 30; i++ {
		line := i + 1
		name, login, lang, email := fmt.Sprintf("Web User %02d", i), fmt.Sprintf("web.user%02d", i), "en", fmt.Sprintf("web.user%02d@example.com", i)
		switch invalid[line] {
		case "E-mail":
			email = "web.user05@example"
		case "Language":
			lang = "xx"
		case "Login ID":
			login = "web user20"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,agent\n", name, login, lang, email)
	}
	path = filepath.Join(t.TempDir(), "web-users.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, invalid
}

// The acceptance run of the web pages, in headless Chromium against the
// built producer and a worker: log in with a token, upload a file with three
// invalid records, see them highlighted in the preview, correct one inline,
// execute, watch the progress reach 100 %, then find the corrected user in
// the users table and the two others in the error report.
func TestWebPages(t *testing.T) {
	chrome := chromium(t)
	shots := screenshots(t)
	bin := build(t)
	port := freePort(t)
	environ := append(env(t), "PRODUCER_ADDR=127.0.0.1:"+strconv.Itoa(port), "CHUNK_SIZE=10")
	ctl(t, bin, environ, 0, "migrate")
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor")
	_, out := ctl(t, bin, environ, 0, "tokens", "create", "--tenant", tenant, "--name", "web")
	token := strings.TrimSpace(string(out))
	start(t, bin, "producer", environ)
	health := freePort(t)
	start(t, bin, "worker", environ, "WORKER_HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(health))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/readyz")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
	file, invalid := webFile(t)

	ctx, cancel := chromedp.NewContext(browserAllocator(t, chrome))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()
	pages := newPageCheck(ctx, axeSource(t), shots)
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// shot keeps the page's screenshots and checks it (see pageCheck).
	shot := func(name string) {
		t.Helper()
		pages.check(t, name)
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		return loc
	}
	// poll loads url until js is true.
	poll := func(what, url, js string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			do(what, chromedp.Navigate(url))
			if evaluate[bool](ctx, t, js) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %s; the page says:\n%s", what, within, evaluate[string](ctx, t, `document.querySelector("main").innerText`))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// Without a session, a page sends to the login form.
	do("open the imports", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := location(); !strings.HasPrefix(loc, base+"/ui/login") {
		t.Fatalf("without a session: at %s, want the login page", loc)
	}
	shot("01-login")
	do("log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/upload"].button`)))
	shot("02-imports-empty")

	do("upload", chromedp.Navigate(base+"/ui/upload"), chromedp.WaitVisible(chromedp.ID("file")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
		chromedp.SendKeys(chromedp.ID("notify"), "web-admin@example.com"))
	shot("03-upload")
	do("send the file", chromedp.Click(chromedp.CSS(`form[action="/ui/upload"] button[type=submit]`)))
	// The preview of the dry run opens; it reloads itself only when asked.
	preview := ""
	for deadline := time.Now().Add(20 * time.Second); !strings.HasSuffix(preview, "/preview"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the upload: at %s, want the preview", preview)
		}
		preview = strings.SplitN(location(), "?", 2)[0]
	}
	dryRun, err := strconv.ParseInt(filepath.Base(filepath.Dir(preview)), 10, 64)
	if err != nil {
		t.Fatalf("dry run ID in %s: %v", preview, err)
	}
	// The dry run ends: its counts and the execute button show.
	poll("dry run finished", preview, `!!document.querySelector("#execute")`, 30*time.Second)
	counts := evaluate[[]string](ctx, t, `["#plan-create","#plan-update","#plan-unchanged","#plan-rejected"].map(s => document.querySelector(s).textContent)`)
	if want := []string{"27", "0", "0", "3"}; !slices.Equal(counts, want) {
		t.Errorf("dry run create/update/unchanged/rejected: %v, want %v", counts, want)
	}
	shot("04-preview")

	// Only the invalid records, each with its bad cell marked.
	do("only invalid", chromedp.Navigate(preview+"?filter=invalid"), chromedp.WaitVisible(chromedp.ID("records")))
	marked := evaluate[map[string]string](ctx, t, `Object.fromEntries([...document.querySelectorAll("tr.row-invalid")].map(tr =>
		[tr.id, [...tr.querySelectorAll("td.invalid")].map(td => td.dataset.column).join(",")]))`)
	want := map[string]string{}
	for line, col := range invalid {
		want["line-"+strconv.Itoa(line)] = col
	}
	if fmt.Sprint(marked) != fmt.Sprint(want) {
		t.Errorf("invalid rows and their marked cells: %v, want %v", marked, want)
	}
	shot("05-preview-invalid")

	// Only the records that would change something: the dry run's stored
	// outcomes, 27 new users.
	do("only changes", chromedp.Navigate(preview+"?filter=changes"), chromedp.WaitVisible(chromedp.ID("records")))
	if n := evaluate[int](ctx, t, `document.querySelectorAll("#records tbody tr").length`); n != 27 {
		t.Errorf("only changes: %d rows, want the 27 valid records (all new)", n)
	}
	do("only invalid again", chromedp.Navigate(preview+"?filter=invalid"), chromedp.WaitVisible(chromedp.ID("records")))

	// Correct the e-mail of line 6 inline; it is checked at once.
	do("correct line 6", chromedp.Click(chromedp.CSS(`#line-6 a.button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[form="edit-6"][name="f3"]`)))
	shot("06-preview-editing")
	do("save line 6", chromedp.SetValue(chromedp.CSS(`input[form="edit-6"][name="f3"]`), "web.user05@example.com"),
		chromedp.Click(chromedp.CSS(`#edit-6 button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	type lineState struct {
		Invalid bool   `json:"invalid"`
		Edited  bool   `json:"edited"`
		Email   string `json:"email"`
	}
	state := evaluate[lineState](ctx, t, `(() => { const tr = document.querySelector("#line-6");
		return {invalid: tr.classList.contains("row-invalid"), edited: tr.classList.contains("row-edited"),
		email: tr.querySelector('td[data-column="E-mail"] .value').textContent}; })()`)
	if state.Invalid || !state.Edited || state.Email != "web.user05@example.com" {
		t.Errorf("line 6 after the correction: %+v, want valid, corrected, the new e-mail", state)
	}
	shot("07-preview-corrected")

	// Execute: the real import of the corrected copy, followed to the end.
	do("execute", chromedp.Click(chromedp.ID("execute")), chromedp.WaitVisible(chromedp.ID("progress")))
	page := strings.SplitN(location(), "?", 2)[0]
	id, err := strconv.ParseInt(filepath.Base(page), 10, 64)
	if err != nil || id == dryRun {
		t.Fatalf("after execute: at %s, want the new import's page", page)
	}
	poll("import finished", page, `document.querySelector("#state").textContent == "finished" &&
		document.querySelector("#progress-text").textContent.trim() == "100 %"`, 30*time.Second)
	if rejected := evaluate[string](ctx, t, `document.querySelector("#count-rejected").textContent`); rejected != "2" {
		t.Errorf("import %d rejected %s records, want 2", id, rejected)
	}
	// The page groups them by reason: the counts add up to the two.
	if n := evaluate[int](ctx, t, `[...document.querySelectorAll("#reasons tbody td.num")].reduce((n, td) => n + Number(td.textContent), 0)`); n < 2 {
		t.Errorf("the reasons table counts %d rejected records, want the 2 at least", n)
	}
	shot("08-import-finished")

	// The corrected user is stored with the corrected e-mail.
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var email string
	var users int
	if err := conn.QueryRow(t.Context(), `SELECT coalesce(email, '') FROM users WHERE tenant_id = $1 AND login_id = 'web.user05'`,
		tenant).Scan(&email); err != nil || email != "web.user05@example.com" {
		t.Errorf("the corrected user: e-mail %q (%v), want web.user05@example.com", email, err)
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE tenant_id = $1`, tenant).Scan(&users); err != nil || users != 28 {
		t.Errorf("%d users stored (%v), want 28", users, err)
	}

	// The error report, downloaded with the session, lists the two others.
	report := evaluate[string](ctx, t, `fetch(document.querySelector("#errors-link").href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	rows, err := csv.NewReader(strings.NewReader(report)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("error report: %d rows (%v), want a header and 2:\n%s", len(rows), err, report)
	}
	var lines []string
	for _, r := range rows[1:] {
		lines = append(lines, r[len(r)-2])
	}
	if want := []string{"12", "21"}; !slices.Equal(lines, want) {
		t.Errorf("error report lines %v, want %v", lines, want)
	}
	// Retry the rejected records: a new import of the report starts.
	do("retry", chromedp.Navigate(page), chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if loc := location(); loc != fmt.Sprintf("%s/ui/imports/%d?notice=retry", base, id+1) {
		t.Errorf("after retry: at %s, want import %d's page", loc, id+1)
	}
	do("imports", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("table")))
	shot("09-imports")
}

// evaluate runs js in the page and returns its value.
func evaluate[T any](ctx context.Context, t *testing.T, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return v
}
