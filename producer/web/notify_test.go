package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// The upload form checks the addresses to notify as the API does, before
// the file is stored: bare addresses, at most 20, in the tenant's domains.
func TestUploadChecksNotify(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	domains := []string{"acme.example"}
	if _, err := store.SetTenantSettings(t.Context(), tenant, postgres.TenantSettingsChange{NotifyDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	upload := func(notify string) (int, string) {
		t.Helper()
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, kv := range [][2]string{{"csrf", csrf}, {"delimiter", "auto"}, {"header", "auto"}, {"notify", notify}} {
			if err := w.WriteField(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		fw, err := w.CreateFormFile("file", "u.csv")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte("User name,Login ID\nA,a\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/ui/upload", &buf)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	for _, tc := range []struct{ notify, want string }{
		{"spam@evil.example", "the tenant allows notifications to acme.example only"},
		{"<bob@acme.example>", "bare address"},
		{many(21), "21 addresses, more than the 20"},
	} {
		code, page := upload(tc.notify)
		if code != http.StatusBadRequest || !strings.Contains(page, tc.want) {
			t.Errorf("notify %q: %d, want 400 saying %q:\n%s", tc.notify, code, tc.want, page)
		}
	}
	ims, err := store.Imports(t.Context(), tenant, "", 10)
	if err != nil || len(ims) != 0 {
		t.Errorf("refused uploads started %d imports (%v)", len(ims), err)
	}
	if code, page := upload("hr@acme.example\nHR@acme.example, " + many(19)); code != http.StatusSeeOther {
		t.Errorf("allowed address: %d\n%s", code, page)
	}
}

// many returns n addresses in acme.example, separated by spaces.
func many(n int) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("u%d@acme.example", i)
	}
	return strings.Join(l, " ")
}
