package producer_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// GET /v1/imports/{id}/results: every record with its outcome, linked from
// the import's JSON; refused with 404 for another tenant's import, 410 for
// a pruned journal or a local file never stored.
func TestResultsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant := pgtest.Tenant(t)
	tok := token(t, e.store, tenant)
	ctx := t.Context()
	local(t, e.store, tenant, fileA, false)
	key := "uploads/" + tenant + "/b.csv"
	if _, err := e.files.Put(ctx, key, []byte(fileB), "text/csv"); err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Local(ctx, e.store, strings.NewReader(fileB), importer.Options{Tenant: tenant, Source: "s3://" + e.files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	b := sum.ImportID
	code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(b), tok, "")
	if code != http.StatusOK || !strings.Contains(body, `"results":"/v1/imports/`+itoa(b)+`/results"`) {
		t.Errorf("the import does not link its results: %d %s", code, body)
	}
	code, _, body = call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(b)+"/results", tok, "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != http.StatusOK || len(lines) != 4 || !strings.HasSuffix(lines[0], ",Line,Outcome,Changed,Errors") {
		t.Fatalf("results: %d\n%s", code, body)
	}
	for i, want := range []string{",2,updated,User name;Language;Password (MD5 Hash);Groups,", ",3,unchanged,,", ",4,created,,"} {
		if !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("line %d: %q, want it to end in %q", i+1, lines[i+1], want)
		}
	}
	if strings.Contains(body, hashInB) {
		t.Error("the results file shows a password hash")
	}

	other := token(t, e.store, pgtest.Tenant(t))
	if code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(b)+"/results", other, ""); code != http.StatusNotFound {
		t.Errorf("another tenant's import: %d %s, want 404", code, body)
	}
	if code, _, _ := call(t, http.MethodGet, e.srv.URL+"/v1/imports/x/results", tok, ""); code != http.StatusNotFound {
		t.Errorf("a bad import ID: %d, want 404", code)
	}
	localID := local(t, e.store, tenant, fileA, false)
	if code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(localID)+"/results", tok, ""); code != http.StatusGone ||
		!strings.Contains(body, "source_not_stored") {
		t.Errorf("a local import: %d %s, want 410 source_not_stored", code, body)
	}
	if _, err := e.store.Pool().Exec(ctx, `UPDATE imports SET journal_pruned = true WHERE tenant_id = $1 AND id = $2`, tenant, b); err != nil {
		t.Fatal(err)
	}
	if code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(b)+"/results", tok, ""); code != http.StatusGone ||
		!strings.Contains(body, "journal_pruned") {
		t.Errorf("a pruned journal: %d %s, want 410 journal_pruned", code, body)
	}
}
