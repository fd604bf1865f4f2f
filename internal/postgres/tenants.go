package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantSettings are a tenant's settings, set by an operator (importctl
// tenants set) or the tenant's admin (the API, the web pages).
type TenantSettings struct {
	Tenant string
	// NotifyDomains are the only domains the tenant's notify addresses may
	// be in (mail.Recipients enforces them); empty: any domain.
	NotifyDomains []string
	// DefaultNotify are the addresses an import that names none notifies
	// (S3-event and CLI imports; the upload page offers them).
	DefaultNotify []string
	// DefaultDelimiter and DefaultHeader are what an import whose options
	// leave them empty uses; empty: detected.
	DefaultDelimiter string
	DefaultHeader    string
	UpdatedAt        *time.Time // nil: never set
}

// TenantSettingsChange is a change of a tenant's settings: only the fields
// given (not nil) change. The caller checks and normalises them
// (intake.CheckSettings).
type TenantSettingsChange struct {
	NotifyDomains    *[]string
	DefaultNotify    *[]string
	DefaultDelimiter *string
	DefaultHeader    *string
}

const tenantSettingsColumns = `notify_domains, default_notify, default_delimiter, default_header, updated_at`

func scanTenantSettings(row pgx.Row, ts *TenantSettings) error {
	var updated time.Time
	if err := row.Scan(&ts.NotifyDomains, &ts.DefaultNotify, &ts.DefaultDelimiter, &ts.DefaultHeader, &updated); err != nil {
		return err
	}
	ts.UpdatedAt = &updated
	return nil
}

// TenantSettings returns the tenant's settings, the defaults when none was
// ever set (a tenant that does not exist yet has the defaults too).
func (s *Store) TenantSettings(ctx context.Context, tenant string) (TenantSettings, error) {
	ts := TenantSettings{Tenant: tenant, NotifyDomains: []string{}, DefaultNotify: []string{}}
	err := scanTenantSettings(s.pool.QueryRow(ctx, `SELECT `+tenantSettingsColumns+` FROM tenant_settings WHERE tenant_id = $1`, tenant), &ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return ts, nil
	}
	return ts, err
}

// SetTenantSettings applies c to the tenant's settings (the tenant is created
// on first use) and returns them.
func (s *Store) SetTenantSettings(ctx context.Context, tenant string, c TenantSettingsChange) (TenantSettings, error) {
	if err := s.EnsureTenant(ctx, tenant); err != nil {
		return TenantSettings{}, err
	}
	// A nil list or string is NULL, which keeps the stored value.
	list := func(l *[]string) []string {
		if l == nil {
			return nil
		}
		if *l == nil {
			return []string{}
		}
		return *l
	}
	ts := TenantSettings{Tenant: tenant}
	err := scanTenantSettings(s.pool.QueryRow(ctx, `INSERT INTO tenant_settings AS t
			(tenant_id, notify_domains, default_notify, default_delimiter, default_header)
		VALUES ($1, coalesce($2, '{}'::text[]), coalesce($3, '{}'::text[]), coalesce($4, ''), coalesce($5, ''))
		ON CONFLICT (tenant_id) DO UPDATE SET notify_domains = coalesce($2, t.notify_domains),
			default_notify = coalesce($3, t.default_notify), default_delimiter = coalesce($4, t.default_delimiter),
			default_header = coalesce($5, t.default_header), updated_at = now()
		RETURNING `+tenantSettingsColumns, tenant, list(c.NotifyDomains), list(c.DefaultNotify), c.DefaultDelimiter, c.DefaultHeader), &ts)
	if err != nil {
		return TenantSettings{}, err
	}
	return ts, nil
}
