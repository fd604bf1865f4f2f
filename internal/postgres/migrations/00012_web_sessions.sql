-- +goose Up
-- The web pages' sessions (producer/web). The signed cookie names a session
-- here, so that logging out ends it on the server: a copy of the cookie
-- stops working too. Only a hash of the session's ID is kept, as for tokens.
CREATE TABLE web_sessions (
    id_hash    bytea PRIMARY KEY,  -- SHA-256 of the random ID in the cookie
    tenant_id  text NOT NULL REFERENCES tenants (id),
    token_id   bigint NOT NULL REFERENCES api_tokens (id), -- revoking it ends the session
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_tenant_expires ON web_sessions (tenant_id, expires_at);

-- +goose Down
DROP TABLE web_sessions;
