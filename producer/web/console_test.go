package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// The role catalog from the pages: an empty catalog says what it means, roles
// are added, and removing one first says how many users hold it.
func TestRolesPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))

	if code, _, page := b.do(http.MethodGet, "/ui/roles", nil); code != http.StatusOK || !strings.Contains(page, `id="empty-catalog"`) {
		t.Fatalf("an empty catalog: %d\n%s", code, page)
	}
	if code, _, page := b.do(http.MethodPost, "/ui/roles", url.Values{"csrf": {csrf}, "names": {" "}}); code != http.StatusBadRequest ||
		!strings.Contains(page, "Name at least one role") {
		t.Errorf("adding nothing: %d, want 400 saying so\n%s", code, page)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/roles", url.Values{"names": {"agent"}}); code == http.StatusSeeOther {
		t.Errorf("adding without the CSRF token: %d, want it refused", code)
	}
	if code, h, _ := b.do(http.MethodPost, "/ui/roles", url.Values{"csrf": {csrf}, "names": {"agent, Supervisor\nadmin"}}); code != http.StatusSeeOther ||
		!strings.HasPrefix(h.Get("Location"), "/ui/roles") {
		t.Fatalf("adding roles: %d to %q", code, h.Get("Location"))
	}
	roles, err := store.Roles(t.Context(), tenant)
	if err != nil || strings.Join(roles, ",") != "admin,agent,Supervisor" {
		t.Fatalf("catalog after adding: %v (%v)", roles, err)
	}

	// Two users hold agent.
	file := "User name,Login ID,Language,Role API Names\nAnna,anna,en,agent\nBen,ben,en,\"agent\nadmin\"\nCid,cid,en,\n"
	if _, err := importer.Local(t.Context(), store, bytes.NewReader([]byte(file)), importer.Options{Tenant: tenant, Source: "roles.csv"}); err != nil {
		t.Fatal(err)
	}
	uses := usesOf(t, store, tenant)
	if uses["agent"] != 2 || uses["admin"] != 1 || uses["Supervisor"] != 0 {
		t.Fatalf("role uses %v, want agent 2, admin 1, Supervisor 0", uses)
	}
	_, _, page := b.do(http.MethodGet, "/ui/roles", nil)
	if !strings.Contains(page, `<td>agent</td><td class="num">2</td>`) {
		t.Errorf("the roles page does not show agent's 2 users:\n%s", page)
	}
	code, _, page := b.do(http.MethodPost, "/ui/roles/remove", url.Values{"csrf": {csrf}, "name": {"AGENT"}})
	if code != http.StatusOK || !strings.Contains(page, "2 users hold agent") {
		t.Fatalf("removing agent, first step: %d, want the warning with 2 users\n%s", code, page)
	}
	if uses := usesOf(t, store, tenant); uses["agent"] != 2 {
		t.Fatalf("the warning removed the role: %v", uses)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/roles/remove", url.Values{"csrf": {csrf}, "name": {"agent"}, "confirm": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("removing agent, confirmed: %d", code)
	}
	if uses := usesOf(t, store, tenant); len(uses) != 2 || uses["admin"] != 1 {
		t.Errorf("after removing agent: %v, want admin 1 and Supervisor 0", uses)
	}
	if code, _, _ := b.do(http.MethodPost, "/ui/roles/remove", url.Values{"csrf": {csrf}, "name": {"nosuch"}}); code != http.StatusNotFound {
		t.Errorf("removing a role the catalog lacks: %d, want 404", code)
	}
}

func usesOf(t *testing.T, store *postgres.Store, tenant string) map[string]int {
	t.Helper()
	uses, err := store.RoleUses(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, u := range uses {
		m[u.Name] = u.Users
	}
	return m
}

// The settings from the pages: saved as intake checks them, refused with the
// reason when they cannot work, and offered by the upload page.
func TestSettingsPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	csrf := b.login(token(t, store, tenant))
	save := func(notify, domains, delim, header string) (int, string) {
		code, _, page := b.do(http.MethodPost, "/ui/settings", url.Values{"csrf": {csrf}, "default_notify": {notify},
			"notify_domains": {domains}, "delimiter": {delim}, "header": {header}})
		return code, page
	}
	if code, page := save("hr@acme.example", "corp.example", "semicolon", "skip"); code != http.StatusBadRequest ||
		!strings.Contains(page, "Default recipients") || !strings.Contains(page, `value="hr@acme.example"`) {
		t.Errorf("recipients outside the domains: %d, want 400 with the reason and the form kept\n%s", code, page)
	}
	if code, _ := save("hr@acme.example, it@acme.example", "acme.example", "semicolon", "skip"); code != http.StatusSeeOther {
		t.Fatalf("saving: %d", code)
	}
	ts, err := store.TenantSettings(t.Context(), tenant)
	if err != nil || strings.Join(ts.DefaultNotify, ",") != "hr@acme.example,it@acme.example" || ts.DefaultDelimiter != "semicolon" ||
		ts.DefaultHeader != "skip" || strings.Join(ts.NotifyDomains, ",") != "acme.example" {
		t.Fatalf("stored settings %+v (%v)", ts, err)
	}
	_, _, page := b.do(http.MethodGet, "/ui/upload", nil)
	if !strings.Contains(page, `value="hr@acme.example, it@acme.example"`) || !strings.Contains(page, `value="semicolon" checked`) {
		t.Errorf("the upload page does not offer the defaults:\n%s", page)
	}
	// Back to the service's defaults.
	if code, _ := save("", "", "auto", "auto"); code != http.StatusSeeOther {
		t.Fatalf("resetting: %d", code)
	}
	if ts, _ := store.TenantSettings(t.Context(), tenant); len(ts.DefaultNotify) != 0 || ts.DefaultDelimiter != "" || ts.DefaultHeader != "" || len(ts.NotifyDomains) != 0 {
		t.Errorf("after the reset: %+v", ts)
	}
}
