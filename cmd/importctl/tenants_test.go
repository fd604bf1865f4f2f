package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// An operator restricts a tenant's notification domains; importctl import
// and feeds then refuse addresses outside them, before anything is stored.
func TestTenantsNotifyDomains(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	if code, out, errOut := runDB(t, "", "tenants", "show", "--tenant", tenant); code != exitOK || !strings.Contains(out, "(any)") {
		t.Fatalf("show before set: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut := runDB(t, "", "tenants", "set", "--tenant", tenant, "--notify-domains", "Acme.Example, corp.example", "--format", "json")
	var v tenantView
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitOK || strings.Join(v.NotifyDomains, ",") != "acme.example,corp.example" {
		t.Fatalf("set: exit %d, %q %q (%v)", code, out, errOut, err)
	}
	if code, out, _ := runDB(t, "", "tenants", "show", "--tenant", tenant); code != exitOK || !strings.Contains(out, "acme.example,corp.example") {
		t.Errorf("show: exit %d, %q", code, out)
	}

	// Refused before the file is even looked at.
	code, _, errOut = runDB(t, "", "import", "--tenant", tenant, "--notify", "hr@acme.example,spam@evil.example", "no-such-file.csv")
	if code != exitUsage || !strings.Contains(errOut, `"spam@evil.example": the tenant allows notifications to acme.example or corp.example only`) {
		t.Errorf("import with a refused address: exit %d, %q", code, errOut)
	}
	code, _, errOut = runDB(t, "", "feeds", "add", "--tenant", tenant, "--schedule", "@daily", "--notify", "spam@evil.example", "hr")
	if code != exitUsage || !strings.Contains(errOut, "spam@evil.example") {
		t.Errorf("feed with a refused address: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runDB(t, "", "feeds", "add", "--tenant", tenant, "--schedule", "@daily", "--notify", "hr@corp.example", "hr"); code != exitOK {
		t.Errorf("feed with an allowed address: exit %d, %q", code, errOut)
	}
	// Narrowing the domains warns about the feed it leaves out.
	code, _, errOut = runDB(t, "", "tenants", "set", "--tenant", tenant, "--notify-domains", "acme.example")
	if code != exitOK || !strings.Contains(errOut, "warning: feed hr notifies addresses these domains leave out") || strings.Contains(errOut, "hr@corp") {
		t.Errorf("narrowing: exit %d, %q", code, errOut)
	}

	for _, bad := range [][]string{
		{"tenants", "set", "--tenant", tenant},                                      // nothing to set
		{"tenants", "set", "--tenant", tenant, "--notify-domains", "@acme.example"}, // not a domain
		{"tenants", "show", "--tenant", tenant, "--notify-domains", "acme.example"},
		{"tenants", "frobnicate", "--tenant", tenant},
		{"tenants", "show", "--tenant", "Not Valid"},
	} {
		if code, _, _ := runDB(t, "", bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if code, _, _ := runDB(t, "", "tenants", "set", "--tenant", tenant, "--notify-domains", ""); code != exitOK {
		t.Errorf("clear: exit %d", code)
	}
	if code, out, _ := runDB(t, "", "tenants", "--help"); code != exitOK || !strings.Contains(out, "--notify-domains acme.example") {
		t.Errorf("help: %d %q", code, out)
	}
}
