-- +goose Up
-- The users page searches a tenant's users for a part of their Login ID,
-- name or e-mail: a trigram index of the three in one text, led by the
-- tenant (btree_gin lets a GIN index hold the tenant's equality). A query
-- under three characters, which trigrams cannot find, is the start of the
-- Login ID, through the existing (tenant_id, login_key) index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX users_search_trgm ON users USING gin
    (tenant_id, (lower(login_id || ' ' || name || ' ' || coalesce(email, ''))) gin_trgm_ops);

-- +goose Down
DROP INDEX users_search_trgm;
