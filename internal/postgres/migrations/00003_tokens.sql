-- +goose Up
-- API tokens: a token belongs to one tenant and sees only that tenant. Only
-- a SHA-256 of the token is kept; the token itself is shown once, when made.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

-- +goose Down
DROP TABLE api_tokens;
