package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantSettings are what an operator sets for a tenant (importctl tenants
// set); the zero value, for a tenant never set, is every default.
type TenantSettings struct {
	Tenant string
	// NotifyDomains are the only domains the tenant's notify addresses may
	// be in (mail.Recipients enforces them); empty: any domain.
	NotifyDomains []string
	UpdatedAt     *time.Time // nil: never set
}

// TenantSettingsChange is a change of a tenant's settings: only the fields
// given (not nil) change.
type TenantSettingsChange struct {
	NotifyDomains *[]string // checked and normalised by the caller (mail.Domains)
}

// TenantSettings returns the tenant's settings, the defaults when none was
// ever set (a tenant that does not exist yet has the defaults too).
func (s *Store) TenantSettings(ctx context.Context, tenant string) (TenantSettings, error) {
	ts := TenantSettings{Tenant: tenant, NotifyDomains: []string{}}
	var updated time.Time
	err := s.pool.QueryRow(ctx, `SELECT notify_domains, updated_at FROM tenant_settings WHERE tenant_id = $1`, tenant).
		Scan(&ts.NotifyDomains, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return ts, nil
	}
	if err != nil {
		return ts, err
	}
	ts.UpdatedAt = &updated
	return ts, nil
}

// SetTenantSettings applies c to the tenant's settings (the tenant is created
// on first use) and returns them.
func (s *Store) SetTenantSettings(ctx context.Context, tenant string, c TenantSettingsChange) (TenantSettings, error) {
	if err := s.EnsureTenant(ctx, tenant); err != nil {
		return TenantSettings{}, err
	}
	var domains []string // NULL: unchanged
	if c.NotifyDomains != nil {
		domains = *c.NotifyDomains
		if domains == nil {
			domains = []string{}
		}
	}
	ts := TenantSettings{Tenant: tenant}
	var updated time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO tenant_settings (tenant_id, notify_domains) VALUES ($1, coalesce($2, '{}'::text[]))
		ON CONFLICT (tenant_id) DO UPDATE SET notify_domains = coalesce($2, tenant_settings.notify_domains), updated_at = now()
		RETURNING notify_domains, updated_at`, tenant, domains).Scan(&ts.NotifyDomains, &updated)
	if err != nil {
		return TenantSettings{}, err
	}
	ts.UpdatedAt = &updated
	return ts, nil
}
