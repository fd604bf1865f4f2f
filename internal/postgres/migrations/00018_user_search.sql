-- +goose Up
-- The users page searches a tenant's users by Login ID, name or e-mail.
-- A substring (three characters or more) goes through a trigram index of the
-- three in one text, led by the tenant (btree_gin lets a GIN index hold the
-- tenant's plain equality); a shorter query is a prefix, through the
-- existing (tenant_id, login_key) index and these two of the name and e-mail.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX users_search_trgm ON users USING gin
    (tenant_id, (lower(login_id || ' ' || name || ' ' || coalesce(email, ''))) gin_trgm_ops);
CREATE INDEX users_name_prefix ON users (tenant_id, lower(name) text_pattern_ops);
CREATE INDEX users_email_prefix ON users (tenant_id, lower(email) text_pattern_ops);

-- +goose Down
DROP INDEX users_search_trgm, users_name_prefix, users_email_prefix;
