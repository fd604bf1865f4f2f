-- +goose Up
-- A tenant's settings, which an operator sets with importctl tenants set. One
-- row per tenant, written on the first setting: a tenant without a row has
-- every default. Settings that later apply to a tenant's every import (such
-- as default recipients, delimiter or header) are columns of this table too.
CREATE TABLE tenant_settings (
    tenant_id      text PRIMARY KEY REFERENCES tenants (id),
    -- The only domains that notify addresses (of imports, web uploads and
    -- feeds) may be in, lower-case, matched exactly; empty: any domain.
    notify_domains text[] NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tenant_settings;
