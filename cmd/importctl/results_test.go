package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// runStack runs importctl with the local stack's settings (the bucket too)
// and the test database.
func runStack(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	url := pgtest.URL(t)
	var out, errOut strings.Builder
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return stacktest.Getenv(k)
	}}
	return run(t.Context(), e, args), errOut.String()
}

// importctl results writes every record with its outcome; an import of a
// local file, whose file is not stored, and a bad ID are refused.
func TestResultsCommand(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	ctx := t.Context()
	const first = "User name,Login ID\nAnna,anna\nBen,ben\n"
	local, err := importer.Local(ctx, store, strings.NewReader(first), importer.Options{Tenant: tenant, Source: "first.csv"})
	if err != nil {
		t.Fatal(err)
	}
	const second = "User name,Login ID\nAnna Lee,anna\nBen,ben\nCid,cid\n"
	key := "uploads/" + tenant + "/second.csv"
	if _, err := files.Put(ctx, key, []byte(second), "text/csv"); err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Local(ctx, store, strings.NewReader(second), importer.Options{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.csv")
	code, errOut := runStack(t, "results", "--tenant", tenant, "-o", out, fmt.Sprint(sum.ImportID))
	if code != exitOK || !strings.Contains(errOut, "3 records") {
		t.Fatalf("results: exit %d, %s", code, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, want := range []string{",Line,Outcome,Changed,Errors", ",2,updated,User name,", ",3,unchanged,,", ",4,created,,"} {
		if i >= len(lines) || !strings.HasSuffix(lines[i], want) {
			t.Errorf("results line %d: %q, want it to end in %q\n%s", i, lines, want, data)
		}
	}
	code, errOut = runStack(t, "results", "--tenant", tenant, fmt.Sprint(local.ImportID))
	if code != exitUsage || !strings.Contains(errOut, "not stored") {
		t.Errorf("results of a local import: exit %d, %s", code, errOut)
	}
	for _, bad := range [][]string{
		{"results", "--tenant", tenant},
		{"results", "--tenant", tenant, "x"},
		{"results", "--tenant", tenant, "999999999"},
		{"results", fmt.Sprint(sum.ImportID)},
	} {
		if code, errOut := runStack(t, bad...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", bad, code, errOut)
		}
	}
}
