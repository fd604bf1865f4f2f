package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

func localImport(t *testing.T, store *postgres.Store, tenant, file string, dryRun bool) int64 {
	t.Helper()
	sum, err := importer.Local(t.Context(), store, bytes.NewReader([]byte(file)), importer.Options{Tenant: tenant, Source: "users.csv", DryRun: dryRun})
	if err != nil || sum.ImportID == 0 || sum.Rejected != 0 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	return sum.ImportID
}

func userState(t *testing.T, store *postgres.Store, tenant, login string) string {
	t.Helper()
	var st string
	if err := store.Pool().QueryRow(t.Context(), `SELECT name || ':' || active FROM users WHERE tenant_id = $1 AND login_id = $2`,
		tenant, login).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// From the import's page: "Undo this import…", a confirmation page with the
// undo's dry run (its conflict listed), then the undo, which shows the new
// import's page.
func TestUndoPages(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	localImport(t, store, tenant, "User name,Login ID,Language\nAnna,anna,en\nBen,ben,en\n", false)
	imB := localImport(t, store, tenant, "User name,Login ID,Language\nAnna B,anna,en\nBen B,ben,en\nCid,cid,en\n", false)
	imC := localImport(t, store, tenant, "User name,Login ID,Language\nAnna C,anna,en\n", false)
	dry := localImport(t, store, tenant, "User name,Login ID,Language\nDee,dee,en\n", true)
	pathB := fmt.Sprintf("/ui/imports/%d", imB)

	if _, _, page := b.do(http.MethodGet, pathB, nil); !strings.Contains(page, `id="undo-link" href="`+pathB+`/undo"`) {
		t.Errorf("import B's page has no undo link:\n%s", page)
	}
	if _, _, page := b.do(http.MethodGet, fmt.Sprintf("/ui/imports/%d", dry), nil); strings.Contains(page, `id="undo-link"`) {
		t.Error("a dry run's page offers to undo it")
	}
	if code, _, page := b.do(http.MethodGet, fmt.Sprintf("/ui/imports/%d/undo", dry), nil); code != http.StatusConflict || !strings.Contains(page, "dry run") {
		t.Errorf("undo page of a dry run: %d, want 409 saying it is a dry run\n%s", code, page)
	}

	code, _, page := b.do(http.MethodGet, pathB+"/undo", nil)
	if code != http.StatusOK || !strings.Contains(page, `id="undo-restored">1<`) || !strings.Contains(page, `id="undo-deactivated">1<`) ||
		!strings.Contains(page, `<td>anna</td><td><a href="/ui/imports/`+fmt.Sprint(imC)+`">`) || !strings.Contains(page, `name="csrf" value="`+csrf+`"`) {
		t.Fatalf("confirmation page: %d, want ben restored, cid deactivated, anna a conflict of import %d, and the CSRF token\n%s", code, imC, page)
	}
	if got := userState(t, store, tenant, "cid"); got != "Cid:true" {
		t.Errorf("the confirmation page changed cid: %s", got)
	}
	if code, _, _ := b.do(http.MethodPost, pathB+"/undo", url.Values{}); code == http.StatusSeeOther {
		t.Errorf("undo without the CSRF token: %d, want it refused", code)
	}
	if got := userState(t, store, tenant, "cid"); got != "Cid:true" {
		t.Errorf("an undo without the CSRF token changed cid: %s", got)
	}

	code, h, _ := b.do(http.MethodPost, pathB+"/undo", url.Values{"csrf": {csrf}})
	var undo int64
	if _, err := fmt.Sscanf(h.Get("Location"), "/ui/imports/%d?notice=undone", &undo); code != http.StatusSeeOther || err != nil || undo <= imC {
		t.Fatalf("undo: %d to %q, want 303 to the undo's page", code, h.Get("Location"))
	}
	for login, want := range map[string]string{"anna": "Anna C:true", "ben": "Ben:true", "cid": "Cid:false"} {
		if got := userState(t, store, tenant, login); got != want {
			t.Errorf("after the undo, %s is %s, want %s", login, got, want)
		}
	}
	if _, _, page := b.do(http.MethodGet, h.Get("Location"), nil); !strings.Contains(page, "The import was undone.") ||
		!strings.Contains(page, `id="undoes" href="`+pathB+`"`) {
		t.Errorf("the undo's page does not say what it undid:\n%s", page)
	}
	if _, _, page := b.do(http.MethodGet, pathB, nil); !strings.Contains(page, fmt.Sprintf(`id="undone-by" href="/ui/imports/%d"`, undo)) {
		t.Errorf("import B's page does not name its undo:\n%s", page)
	}
}
