package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/apitest"
	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// apiRedisDB is this package's Redis database (stacktest.Redis).
const apiRedisDB = 7

// apiCLI runs importctl in API mode against a producer and a worker in this
// process, for a new tenant whose catalog holds the role agent only. The
// database, Redis and S3 variables point nowhere: the API mode must not
// need them.
type apiCLI struct {
	stack  *apitest.Stack
	tenant string
	token  string
	env    map[string]string
}

func newAPICLI(t *testing.T) *apiCLI {
	t.Helper()
	s := apitest.Start(t, apiRedisDB, 50)
	tenant := pgtest.Tenant(t)
	s.Roles(t, tenant, "agent")
	tok := s.Token(t, tenant)
	return &apiCLI{stack: s, tenant: tenant, token: tok, env: map[string]string{
		"USERIMPORT_API": s.URL, "USERIMPORT_TOKEN": tok,
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1", "S3_ENDPOINT": "http://127.0.0.1:1",
	}}
}

// run runs importctl and checks that the token shows nowhere in its output.
func (a *apiCLI) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return a.env[k] }}
	code := run(t.Context(), e, args)
	if a.token != "" && strings.Contains(stdout.String()+stderr.String(), a.token) {
		t.Errorf("importctl %s printed the token", strings.Join(args, " "))
	}
	return code, stdout.String(), stderr.String()
}

// userFile writes n users, every tenth with the role auditor, and returns
// its path.
func userFile(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("User name,Login ID,Role API Names\n")
	for i := range n {
		role := "agent"
		if i%10 == 9 {
			role = "auditor"
		}
		fmt.Fprintf(&b, "User %d,user%04d,%s\n", i, i, role)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// import --wait with progress, status, the error report saved, retry once
// the role exists, and a retry with nothing left.
func TestAPIImportStatusRetry(t *testing.T) {
	t.Parallel()
	a := newAPICLI(t)
	code, out, errOut := a.run(t, "import", "--wait", userFile(t, 400))
	if code != exitInvalid {
		t.Fatalf("import: exit %d, want 1 (records rejected)\n%s%s", code, out, errOut)
	}
	var id int64
	if _, err := fmt.Sscanf(errOut, "import %d queued:", &id); err != nil {
		t.Fatalf("no queued line: %v\n%s", err, errOut)
	}
	if want := fmt.Sprintf("import %d finished: 100%%, 400 records\n", id); !strings.Contains(errOut, want) {
		t.Errorf("progress: %q; want a line %q", errOut, want)
	}
	want := fmt.Sprintf("import %d finished: 400 records, 360 created, 0 updated, 0 unchanged, 40 rejected\n"+
		"error report: %s/v1/imports/%d/errors (save it with: importctl status --report FILE %d)\n", id, a.stack.URL, id, id)
	if out != want {
		t.Errorf("import output:\n%s\nwant:\n%s", out, want)
	}

	ids := strconv.FormatInt(id, 10)
	report := filepath.Join(t.TempDir(), "errors.csv")
	code, out, errOut = a.run(t, "status", "--format", "json", "--report", report, ids)
	if code != exitInvalid {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	var res queueResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.ID != id || res.State != "finished" || res.Rejected != 40 {
		t.Fatalf("status json: %s (%v)", out, err)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 41 {
		t.Fatalf("report: %d rows, %v", len(rows), err)
	}

	a.stack.Roles(t, a.tenant, "agent", "auditor")
	code, out, errOut = a.run(t, "retry", "--wait", ids)
	if code != exitOK || !strings.Contains(out, "finished: 40 records, 40 created") {
		t.Fatalf("retry: exit %d\n%s%s", code, out, errOut)
	}
	var child int64
	if _, err := fmt.Sscanf(errOut, "import %d queued: the rejected records of import "+ids, &child); err != nil {
		t.Fatalf("retry: %v\n%s", err, errOut)
	}
	code, _, errOut = a.run(t, "retry", strconv.FormatInt(child, 10))
	if code != exitInvalid || !strings.Contains(errOut, "importctl retry: ") {
		t.Fatalf("retry of a clean import: exit %d, %s", code, errOut)
	}
	code, _, errOut = a.run(t, "status", "--report", "-", strconv.FormatInt(child, 10))
	if !strings.Contains(errOut, "has no error report") || code != exitOK {
		t.Errorf("report of a clean import: exit %d, %s", code, errOut)
	}
}

// An s3:// object imported with --api and --token flags (no variables), and
// the tenant's users exported.
func TestAPIImportObjectAndExport(t *testing.T) {
	t.Parallel()
	a := newAPICLI(t)
	b, err := os.ReadFile(userFile(t, 9))
	if err != nil {
		t.Fatal(err)
	}
	key := "uploads/" + a.tenant + "/" + stacktest.RandomHex(4) + "/hr.csv"
	if _, err := a.stack.Files.Upload(t.Context(), key, bytes.NewReader(b), "text/csv"); err != nil {
		t.Fatal(err)
	}
	url, tok := a.env["USERIMPORT_API"], a.env["USERIMPORT_TOKEN"]
	delete(a.env, "USERIMPORT_API")
	delete(a.env, "USERIMPORT_TOKEN")
	code, out, errOut := a.run(t, "import", "--api", url, "--token="+tok, "--wait", "--format", "json", "s3://"+a.stack.Files.Bucket()+"/"+key)
	var res queueResult
	if code != exitOK || json.Unmarshal([]byte(out), &res) != nil || res.Created != 9 || res.Report != "" {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "export.csv")
	code, out, errOut = a.run(t, "export", "--api="+url, "--token", tok, "--delimiter", "semicolon", "-o", file)
	if code != exitOK || out != "" || errOut != "exported 9 users\n" {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[0], "User name;Login ID;") || !strings.HasPrefix(lines[1], "User 0;user0000;") {
		t.Fatalf("export: %q", lines)
	}
}

func TestAPIFeeds(t *testing.T) {
	t.Parallel()
	a := newAPICLI(t)
	f := feed.New(a.tenant)
	name, schedule := "hr", "0 2 * * *"
	change := feed.Change{Name: &name, Schedule: &schedule}
	if err := change.Apply(&f); err != nil {
		t.Fatal(err)
	}
	f, err := a.stack.Store.CreateFeed(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := a.run(t, "feeds", "list")
	if code != exitOK || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "\nhr    ") {
		t.Fatalf("feeds list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = a.run(t, "feeds", "list", "--format", "json")
	var list struct {
		Feeds []struct {
			Name   string `json:"name"`
			Prefix string `json:"prefix"`
		} `json:"feeds"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Feeds) != 1 || list.Feeds[0].Prefix != f.Prefix {
		t.Fatalf("feeds list json: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = a.run(t, "feeds", "runs", "hr"); code != exitOK || !strings.HasPrefix(out, "RUN") {
		t.Fatalf("feeds runs: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"feeds", "runs", "payroll"}, `the token's tenant has no feed "payroll"`},
		{[]string{"feeds", "approve", "99999999"}, "has no feed run 99999999"},
		{[]string{"feeds", "add", "x"}, "add, update, remove and dry-run are the operator's"},
	} {
		if code, _, errOut := a.run(t, c.args...); code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

// What goes wrong says so, with exit status 2, and never shows the token.
func TestAPIFailures(t *testing.T) {
	t.Parallel()
	a := newAPICLI(t)
	file := userFile(t, 3)
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad token", map[string]string{"USERIMPORT_TOKEN": "uit_wrong-token-for-the-test"}, []string{"import", file}, "the API refused the token (the token is unknown or revoked); check USERIMPORT_TOKEN"},
		{"no token", map[string]string{"USERIMPORT_TOKEN": ""}, []string{"status", "1"}, "the API mode needs a tenant's token: set USERIMPORT_TOKEN"},
		{"missing import", nil, []string{"status", "99999999"}, "the token's tenant has no import 99999999"},
		{"tenant given", nil, []string{"status", "--tenant", "acme", "1"}, "--tenant is not used in API mode"},
		{"bad URL", map[string]string{"USERIMPORT_API": "localhost:8080"}, []string{"status", "1"}, "--api / USERIMPORT_API: base URL"},
		{"nobody there", map[string]string{"USERIMPORT_API": "http://127.0.0.1:1"}, []string{"status", "1"}, "cannot reach the API at http://127.0.0.1:1"},
		{"bad source", nil, []string{"import", "s3://" + a.stack.Files.Bucket() + "/uploads/someone-else/x.csv"}, "the tenant's own prefixes (400 bad_request)"},
		{"no file", nil, []string{"import", "/nonexistent/users.csv"}, "(check the path)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := &apiCLI{stack: a.stack, tenant: a.tenant, token: a.token, env: map[string]string{}}
			for k, v := range a.env {
				b.env[k] = v
			}
			for k, v := range c.env {
				b.env[k] = v
				if k == "USERIMPORT_TOKEN" && v != "" {
					b.token = v
				}
			}
			code, out, errOut := b.run(t, c.args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}

// Every command with an API mode shows an example of it in its --help, and
// --api URL --help shows the API mode's flags.
func TestAPIHelp(t *testing.T) {
	t.Parallel()
	a := &apiCLI{env: map[string]string{}}
	for _, cmd := range []string{"import", "status", "retry", "export", "feeds"} {
		code, out, _ := a.run(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl "+cmd) {
			t.Errorf("%s --help: exit %d, no API mode example:\n%s", cmd, code, out)
		}
		code, out, _ = a.run(t, cmd, "--api", "http://127.0.0.1:8080", "--help")
		if code != exitOK || !strings.Contains(out, "(API mode)") || !strings.Contains(out, "-token") || strings.Contains(out, "DATABASE_URL") {
			t.Errorf("%s --api URL --help: exit %d:\n%s", cmd, code, out)
		}
	}
}
