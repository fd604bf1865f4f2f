package producer_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
)

// The service must not relay spam: notify takes at most 20 bare addresses
// (81,900 from one form were accepted before), and only in the domains the
// tenant allows, when it restricts them; the same rules hold for feeds. A
// refused address is a 400 naming it and the rule.
func TestNotifyAddressesAreChecked(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	tok := token(t, e.store, tenant)
	upload := func(notify string) (int, string) {
		t.Helper()
		ctype, body := multipartFile(t, "u.csv", []byte("User name,Login ID\nA,a\n"), map[string]string{"notify": notify})
		code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/imports", tok, ctype, body)
		return code, string(out)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@acme.example", i)
	}
	for _, tc := range []struct{ name, notify, want string }{
		{"too many", strings.Join(many, ","), "21 addresses, more than the 20"},
		{"display name", "Bob <bob@acme.example>", `\"Bob \u003cbob@acme.example\u003e\": write a bare address`},
		{"header injection", "a@acme.example\r\nBcc: x@evil.example", "control character"},
		{"no domain", "root@localhost", "is not a host name"},
	} {
		code, out := upload(tc.notify)
		if code != http.StatusBadRequest || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %d %s; want 400 saying %s", tc.name, code, out, tc.want)
		}
	}

	// The tenant restricts notifications to its own domains.
	domains := []string{"acme.example", "corp.example"}
	if _, err := e.store.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	code, out := upload("hr@acme.example, spam@evil.example")
	if code != http.StatusBadRequest || !strings.Contains(out, `\"spam@evil.example\": the tenant allows notifications to acme.example or corp.example only`) {
		t.Errorf("a refused domain: %d %s", code, out)
	}
	code, out = upload("hr@acme.example, Ops@Corp.Example, hr@acme.example")
	if code != http.StatusAccepted {
		t.Fatalf("allowed domains: %d %s", code, out)
	}
	var v struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	job, err := e.store.Job(ctx, tenant, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hr@acme.example", "Ops@corp.example"}, job.Options.Notify); diff != "" {
		t.Errorf("stored notify (-want +got):\n%s", diff)
	}

	// Feeds' notify lists follow the same rules.
	for _, body := range []string{
		`{"name":"hr","schedule":"@daily","notify":["spam@evil.example"]}`,
		`{"name":"hr","schedule":"@daily","notify":["` + strings.Join(many, `","`) + `"]}`,
	} {
		code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/feeds", tok, "application/json", strings.NewReader(body))
		if code != http.StatusBadRequest || !strings.Contains(string(out), "notify") {
			t.Errorf("feed %s: %d %s; want 400", body, code, out)
		}
	}
	code, fout := stacktest.Do(t, "POST", e.srv.URL+"/v1/feeds", tok, "application/json",
		strings.NewReader(`{"name":"hr","schedule":"@daily","notify":["hr@acme.example"]}`))
	if code != http.StatusCreated {
		t.Fatalf("feed with an allowed address: %d %s", code, fout)
	}
	code, fout = stacktest.Do(t, "PATCH", e.srv.URL+"/v1/feeds/hr", tok, "application/json",
		strings.NewReader(`{"notify":["spam@evil.example"]}`))
	if code != http.StatusBadRequest || !strings.Contains(string(fout), "spam@evil.example") {
		t.Errorf("feed update to a refused domain: %d %s", code, fout)
	}
}
