package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// A finished import's page offers "Download results", which downloads the
// results file; an import whose file is not stored says so.
func TestResultsDownload(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	files := stacktest.S3(t)
	const file = "User name,Login ID,Language\nAnna,anna,en\nBen,ben,xx\n"
	key := "uploads/" + tenant + "/r.csv"
	if _, err := files.Put(t.Context(), key, []byte(file), "text/csv"); err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Local(t.Context(), store, strings.NewReader(file), importer.Options{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/ui/imports/%d", sum.ImportID)
	if _, _, page := b.do(http.MethodGet, path, nil); !strings.Contains(page, `id="results-link" href="`+path+`/results"`) {
		t.Errorf("the import's page has no results link:\n%s", page)
	}
	code, h, body := b.do(http.MethodGet, path+"/results", nil)
	if code != http.StatusOK || h.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(body, ",2,created,,\n") || !strings.Contains(body, `,3,rejected,,"Language: `) {
		t.Errorf("results download: %d %q\n%s", code, h.Get("Content-Type"), body)
	}
	local := localImport(t, store, tenant, "User name,Login ID,Language\nCid,cid,en\n", false)
	if code, _, page := b.do(http.MethodGet, fmt.Sprintf("/ui/imports/%d/results", local), nil); code != http.StatusGone || !strings.Contains(page, "not stored") {
		t.Errorf("results of a local import: %d, want 410 saying the file is not stored\n%s", code, page)
	}
}
