package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/userfile"
)

func TestMain(m *testing.M) {
	stacktest.SetDefaults() // the API mode's tests run the service in process (apitest)
	os.Exit(pgtest.Main(m))
}

// runDB runs importctl against the test database.
func runDB(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	url := pgtest.URL(t)
	var stdout, stderr strings.Builder
	e := env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}}
	code := run(t.Context(), e, args)
	return code, stdout.String(), stderr.String()
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	for range 2 {
		if code, out, errOut := runDB(t, "", "migrate"); code != exitOK || !strings.HasPrefix(out, "schema at version ") {
			t.Fatalf("migrate: exit %d, %q %q", code, out, errOut)
		}
	}
}

func TestRolesCommands(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"roles", "set", "--tenant", tenant, "agent", "supervisor", "admin"}, "admin\nagent\nsupervisor\n"},
		{[]string{"roles", "add", "--tenant", tenant, "auditor", "Agent"}, "admin\nagent\nauditor\nsupervisor\n"},
		{[]string{"roles", "remove", "--tenant", tenant, "admin"}, "agent\nauditor\nsupervisor\n"},
		{[]string{"roles", "list", "--tenant", tenant}, "agent\nauditor\nsupervisor\n"},
		{[]string{"roles", "set", "--tenant", tenant, "agent"}, "agent\n"},
	}
	for _, s := range steps {
		code, out, errOut := runDB(t, "", s.args...)
		if code != exitOK || out != s.want {
			t.Fatalf("%v: exit %d, %q (stderr %q), want %q", s.args, code, out, errOut, s.want)
		}
	}
	for _, bad := range [][]string{
		{"roles", "list"}, // no tenant
		{"roles", "list", "--tenant", "Bad Tenant"},
		{"roles", "grant", "--tenant", tenant},
		{"roles", "add", "--tenant", tenant},
	} {
		if code, _, errOut := runDB(t, "", bad...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", bad, code, errOut)
		}
	}
}

func TestImportAndExportCommands(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	if code, _, errOut := runDB(t, "", "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor"); code != exitOK {
		t.Fatal(errOut)
	}
	_, file, _ := runCLI(t, "", "gen", "--rows", "500", "--seed", "4", "--invalid", "0.02")
	code, out, errOut := runDB(t, file, "import", "--tenant", tenant, "--local", "--format", "json", "-")
	var sum struct {
		Records   int                `json:"records"`
		Created   int                `json:"created"`
		Updated   int                `json:"updated"`
		Unchanged int                `json:"unchanged"`
		Rejected  int                `json:"rejected"`
		Errors    []userfile.Problem `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("import output %q (stderr %q): %v", out, errOut, err)
	}
	if code != exitInvalid || sum.Records != 500 || sum.Created != 490 || sum.Rejected != 10 || len(sum.Errors) < 10 {
		t.Fatalf("import: exit %d, %+v", code, sum)
	}
	exported := filepath.Join(t.TempDir(), "users.csv")
	if code, _, errOut := runDB(t, "", "export", "--tenant", tenant, "-o", exported); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	code, out, _ = runDB(t, "", "import", "--tenant", tenant, "--local", exported)
	if code != exitOK || !strings.Contains(out, "0 created, 0 updated, 490 unchanged, 0 rejected") {
		t.Errorf("re-import of the export: exit %d\n%s", code, out)
	}
	// Without --local there is nothing to import through yet: a clear usage error.
	if code, _, errOut := runDB(t, file, "import", "--tenant", tenant, "-"); code != exitUsage || !strings.Contains(errOut, "--local") {
		t.Errorf("import without --local: exit %d, %q", code, errOut)
	}
}
