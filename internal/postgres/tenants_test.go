package postgres_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

func TestTenantSettings(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)

	got, err := s.TenantSettings(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.NotifyDomains) != 0 || got.UpdatedAt != nil {
		t.Errorf("settings never set: %+v, want the defaults", got)
	}
	domains := []string{"acme.example", "corp.example"}
	if _, err := s.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &domains}); err != nil {
		t.Fatal(err)
	}
	// A change that names no setting leaves them as they are.
	if _, err := s.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{}); err != nil {
		t.Fatal(err)
	}
	got, err = s.TenantSettings(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(domains, got.NotifyDomains); diff != "" || got.UpdatedAt == nil {
		t.Errorf("notify domains (-want +got):\n%s (updated %v)", diff, got.UpdatedAt)
	}
	// Another tenant's settings are its own.
	if other, err := s.TenantSettings(ctx, pgtest.Tenant(t)); err != nil || len(other.NotifyDomains) != 0 {
		t.Errorf("another tenant: %+v, %v", other, err)
	}
	none := []string{}
	if got, err = s.SetTenantSettings(ctx, tenant, postgres.TenantSettingsChange{NotifyDomains: &none}); err != nil || len(got.NotifyDomains) != 0 {
		t.Errorf("cleared: %+v, %v", got, err)
	}
}
