package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

var shownSecret = regexp.MustCompile(`id="secret" readonly value="(uit_[^"]+)"`)

// A token created from the page is shown once, works against the API, and
// once revoked from the page is refused there.
func TestTokensPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	api := func(secret string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/imports", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if code, _, _ := b.do(http.MethodPost, "/ui/tokens", url.Values{"name": {"sync job"}}); code == http.StatusOK {
		t.Errorf("creating without the CSRF token: %d, want it refused", code)
	}
	if code, _, page := b.do(http.MethodPost, "/ui/tokens", url.Values{"csrf": {csrf}, "name": {"  "}}); code != http.StatusBadRequest ||
		!strings.Contains(page, "Name the token") {
		t.Errorf("creating without a name: %d, want 400 saying so\n%s", code, page)
	}
	code, _, page := b.do(http.MethodPost, "/ui/tokens", url.Values{"csrf": {csrf}, "name": {"sync job"}})
	m := shownSecret.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("creating a token: %d, want the page with the secret\n%s", code, page)
	}
	secret := m[1]
	if got := api(secret); got != http.StatusOK {
		t.Fatalf("GET /v1/imports with the new token: %d, want 200", got)
	}

	code, _, page = b.do(http.MethodGet, "/ui/tokens", nil)
	if code != http.StatusOK || !strings.Contains(page, "sync job") || !strings.Contains(page, "(this session)") {
		t.Fatalf("tokens page: %d\n%s", code, page)
	}
	if strings.Contains(page, secret) {
		t.Error("the list shows the secret again")
	}
	toks, err := store.Tokens(t.Context(), tenant)
	if err != nil || len(toks) != 2 || toks[1].Name != "sync job" {
		t.Fatalf("tokens %+v (%v)", toks, err)
	}
	if toks[1].LastUsedAt == nil {
		t.Error("the API request did not mark the token used")
	} else if !strings.Contains(page, `<td>sync job</td><td>`) {
		t.Errorf("the list lacks the new token's row:\n%s", page)
	}
	id := itoa64(toks[1].ID)

	// Revoking asks first and changes nothing until confirmed.
	code, _, page = b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"csrf": {csrf}, "id": {id}})
	if code != http.StatusOK || !strings.Contains(page, `id="confirm-revoke"`) || strings.Contains(page, "logs you out") {
		t.Fatalf("revoking, first step: %d\n%s", code, page)
	}
	if got := api(secret); got != http.StatusOK {
		t.Fatalf("the confirmation page revoked the token: %d", got)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"id": {id}, "confirm": {"yes"}}); code == http.StatusSeeOther {
		t.Errorf("revoking without the CSRF token: %d, want it refused", code)
	}
	code, h, _ := b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"csrf": {csrf}, "id": {id}, "confirm": {"yes"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/ui/tokens?notice=token-revoked" {
		t.Fatalf("revoking, confirmed: %d to %q", code, h.Get("Location"))
	}
	if got := api(secret); got != http.StatusUnauthorized {
		t.Errorf("GET /v1/imports with the revoked token: %d, want 401", got)
	}
	_, _, page = b.do(http.MethodGet, "/ui/tokens?notice=token-revoked", nil)
	if !strings.Contains(page, "The token was revoked") || strings.Contains(page, `aria-label="Revoke sync job"`) {
		t.Errorf("after revoking, the list still offers to revoke it or lacks the notice:\n%s", page)
	}

	// Another tenant's token is not found, and stays valid.
	other := pgtest.Tenant(t)
	otherSecret := token(t, store, other)
	otherToks, _ := store.Tokens(t.Context(), other)
	if code, _, _ := b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"csrf": {csrf}, "id": {itoa64(otherToks[0].ID)}, "confirm": {"yes"}}); code != http.StatusNotFound {
		t.Errorf("revoking another tenant's token: %d, want 404", code)
	}
	if got := api(otherSecret); got != http.StatusOK {
		t.Errorf("another tenant's token after the attempt: %d, want 200", got)
	}

	// Revoking the session's own token warns, and logs out.
	code, _, page = b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"csrf": {csrf}, "id": {itoa64(toks[0].ID)}})
	if code != http.StatusOK || !strings.Contains(page, "logs you out") {
		t.Fatalf("revoking the session's token, first step: %d\n%s", code, page)
	}
	if code, h, _ := b.do(http.MethodPost, "/ui/tokens/revoke", url.Values{"csrf": {csrf}, "id": {itoa64(toks[0].ID)}, "confirm": {"yes"}}); code != http.StatusSeeOther || h.Get("Location") != "/ui/login" {
		t.Fatalf("revoking the session's token: %d to %q", code, h.Get("Location"))
	}
	if code, h, _ := b.do(http.MethodGet, "/ui/tokens", nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/login") {
		t.Errorf("after revoking the session's token: %d to %q, want the login page", code, h.Get("Location"))
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
