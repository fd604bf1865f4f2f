-- Every key of tenant data starts with tenant_id, so that the schema runs on a
-- distributed PostgreSQL (Citus) with tenant_id as the distribution column:
-- a unique index can only be enforced on a shard when it contains the
-- distribution column, and a foreign key between distributed tables must
-- include it too. Primary keys become (tenant_id, id) and the like, the
-- foreign keys between tenant tables become composite, and the ON CONFLICT
-- targets follow (TestTenantKeys reads the catalog and checks all of it).
--
-- API tokens are looked up by their hash before the tenant is known. The hash
-- moves out of api_tokens into api_token_hashes (hash -> tenant, token), a
-- small global table: on Citus a reference table, copied to every node. The
-- login reads it, then the token row under its tenant. Tokens already issued
-- keep working: their hashes move with them. (The other way, a token naming
-- its tenant, would change the token's format and invalidate the issued ones.)
-- api_token_hashes has no foreign key to api_tokens: Citus allows none from a
-- reference table to a distributed one. Tokens are never deleted, only revoked.

-- +goose Up
ALTER TABLE imports DROP CONSTRAINT imports_parent_id_fkey;
ALTER TABLE import_chunks DROP CONSTRAINT import_chunks_import_id_fkey;
ALTER TABLE import_rejects DROP CONSTRAINT import_rejects_import_id_fkey;
ALTER TABLE import_would_create DROP CONSTRAINT import_would_create_import_id_fkey;
ALTER TABLE import_file_rejects DROP CONSTRAINT import_file_rejects_import_id_fkey;
ALTER TABLE import_records DROP CONSTRAINT import_records_import_id_fkey;
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_feed_id_fkey, DROP CONSTRAINT feed_runs_import_id_fkey;
ALTER TABLE feed_run_deactivations DROP CONSTRAINT feed_run_deactivations_run_id_fkey;
ALTER TABLE web_previews DROP CONSTRAINT web_previews_import_id_fkey, DROP CONSTRAINT web_previews_executed_id_fkey;
ALTER TABLE web_edits DROP CONSTRAINT web_edits_import_id_fkey;
ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_token_id_fkey;
ALTER TABLE chunk_leases DROP CONSTRAINT chunk_leases_import_id_seq_fkey;

ALTER TABLE imports DROP CONSTRAINT imports_pkey, ADD PRIMARY KEY (tenant_id, id);
DROP INDEX imports_tenant; -- the primary key serves (tenant_id, id DESC) now
ALTER TABLE import_chunks DROP CONSTRAINT import_chunks_pkey, ADD PRIMARY KEY (tenant_id, import_id, seq);
ALTER TABLE import_rejects DROP CONSTRAINT import_rejects_pkey, ADD PRIMARY KEY (tenant_id, import_id, line);
ALTER TABLE import_would_create DROP CONSTRAINT import_would_create_pkey, ADD PRIMARY KEY (tenant_id, import_id, kind, name);
ALTER TABLE import_file_rejects DROP CONSTRAINT import_file_rejects_pkey, ADD PRIMARY KEY (tenant_id, import_id, line);
ALTER TABLE import_records DROP CONSTRAINT import_records_pkey, ADD PRIMARY KEY (tenant_id, import_id, line);
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE groups DROP CONSTRAINT groups_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE user_groups DROP CONSTRAINT user_groups_pkey, ADD PRIMARY KEY (tenant_id, user_id, group_id);
ALTER TABLE extensions DROP CONSTRAINT extensions_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE user_extensions DROP CONSTRAINT user_extensions_pkey, ADD PRIMARY KEY (tenant_id, user_id, extension_id);
ALTER TABLE roles DROP CONSTRAINT roles_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE user_roles DROP CONSTRAINT user_roles_pkey, ADD PRIMARY KEY (tenant_id, user_id, role_id);
ALTER TABLE feeds DROP CONSTRAINT feeds_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_pkey, ADD PRIMARY KEY (tenant_id, id),
    DROP CONSTRAINT feed_runs_feed_id_scheduled_for_key, ADD UNIQUE (tenant_id, feed_id, scheduled_for);
DROP INDEX feed_runs_import, feed_runs_tenant;
CREATE UNIQUE INDEX feed_runs_import ON feed_runs (tenant_id, import_id);
ALTER TABLE feed_run_deactivations DROP CONSTRAINT feed_run_deactivations_pkey, ADD PRIMARY KEY (tenant_id, run_id, user_id);
ALTER TABLE web_previews DROP CONSTRAINT web_previews_pkey, ADD PRIMARY KEY (tenant_id, import_id);
ALTER TABLE web_edits DROP CONSTRAINT web_edits_pkey, ADD PRIMARY KEY (tenant_id, import_id, line);
ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_pkey, ADD PRIMARY KEY (tenant_id, id_hash);

CREATE TABLE api_token_hashes (
    hash      bytea PRIMARY KEY,  -- SHA-256 of the token
    tenant_id text NOT NULL REFERENCES tenants (id),
    token_id  bigint NOT NULL
);
INSERT INTO api_token_hashes (hash, tenant_id, token_id) SELECT hash, tenant_id, id FROM api_tokens;
ALTER TABLE api_tokens DROP COLUMN hash, DROP CONSTRAINT api_tokens_pkey, ADD PRIMARY KEY (tenant_id, id);
DROP INDEX api_tokens_tenant;

ALTER TABLE imports ADD FOREIGN KEY (tenant_id, parent_id) REFERENCES imports (tenant_id, id);
ALTER TABLE import_chunks ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE import_rejects ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE import_would_create ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE import_file_rejects ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE import_records ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE feed_runs ADD FOREIGN KEY (tenant_id, feed_id) REFERENCES feeds (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id);
ALTER TABLE feed_run_deactivations ADD FOREIGN KEY (tenant_id, run_id) REFERENCES feed_runs (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE web_previews ADD FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE,
    ADD FOREIGN KEY (tenant_id, executed_id) REFERENCES imports (tenant_id, id);
ALTER TABLE web_edits ADD FOREIGN KEY (tenant_id, import_id) REFERENCES web_previews (tenant_id, import_id) ON DELETE CASCADE;
ALTER TABLE web_sessions ADD FOREIGN KEY (tenant_id, token_id) REFERENCES api_tokens (tenant_id, id);
ALTER TABLE chunk_leases ADD FOREIGN KEY (tenant_id, import_id, seq) REFERENCES import_chunks (tenant_id, import_id, seq) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE imports DROP CONSTRAINT imports_tenant_id_parent_id_fkey;
ALTER TABLE import_chunks DROP CONSTRAINT import_chunks_tenant_id_import_id_fkey;
ALTER TABLE import_rejects DROP CONSTRAINT import_rejects_tenant_id_import_id_fkey;
ALTER TABLE import_would_create DROP CONSTRAINT import_would_create_tenant_id_import_id_fkey;
ALTER TABLE import_file_rejects DROP CONSTRAINT import_file_rejects_tenant_id_import_id_fkey;
ALTER TABLE import_records DROP CONSTRAINT import_records_tenant_id_import_id_fkey;
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_tenant_id_feed_id_fkey, DROP CONSTRAINT feed_runs_tenant_id_import_id_fkey;
ALTER TABLE feed_run_deactivations DROP CONSTRAINT feed_run_deactivations_tenant_id_run_id_fkey;
ALTER TABLE web_previews DROP CONSTRAINT web_previews_tenant_id_import_id_fkey, DROP CONSTRAINT web_previews_tenant_id_executed_id_fkey;
ALTER TABLE web_edits DROP CONSTRAINT web_edits_tenant_id_import_id_fkey;
ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_tenant_id_token_id_fkey;
ALTER TABLE chunk_leases DROP CONSTRAINT chunk_leases_tenant_id_import_id_seq_fkey;

ALTER TABLE api_tokens ADD COLUMN hash bytea;
UPDATE api_tokens t SET hash = h.hash FROM api_token_hashes h WHERE h.tenant_id = t.tenant_id AND h.token_id = t.id;
ALTER TABLE api_tokens ALTER COLUMN hash SET NOT NULL, ADD UNIQUE (hash),
    DROP CONSTRAINT api_tokens_pkey, ADD PRIMARY KEY (id);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);
DROP TABLE api_token_hashes;

ALTER TABLE web_sessions DROP CONSTRAINT web_sessions_pkey, ADD PRIMARY KEY (id_hash);
ALTER TABLE web_edits DROP CONSTRAINT web_edits_pkey, ADD PRIMARY KEY (import_id, line);
ALTER TABLE web_previews DROP CONSTRAINT web_previews_pkey, ADD PRIMARY KEY (import_id);
ALTER TABLE feed_run_deactivations DROP CONSTRAINT feed_run_deactivations_pkey, ADD PRIMARY KEY (run_id, user_id);
DROP INDEX feed_runs_import;
CREATE UNIQUE INDEX feed_runs_import ON feed_runs (import_id);
CREATE INDEX feed_runs_tenant ON feed_runs (tenant_id, id DESC);
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_tenant_id_feed_id_scheduled_for_key, ADD UNIQUE (feed_id, scheduled_for),
    DROP CONSTRAINT feed_runs_pkey, ADD PRIMARY KEY (id);
ALTER TABLE feeds DROP CONSTRAINT feeds_pkey, ADD PRIMARY KEY (id);
ALTER TABLE user_roles DROP CONSTRAINT user_roles_pkey, ADD PRIMARY KEY (user_id, role_id);
ALTER TABLE roles DROP CONSTRAINT roles_pkey, ADD PRIMARY KEY (id);
ALTER TABLE user_extensions DROP CONSTRAINT user_extensions_pkey, ADD PRIMARY KEY (user_id, extension_id);
ALTER TABLE extensions DROP CONSTRAINT extensions_pkey, ADD PRIMARY KEY (id);
ALTER TABLE user_groups DROP CONSTRAINT user_groups_pkey, ADD PRIMARY KEY (user_id, group_id);
ALTER TABLE groups DROP CONSTRAINT groups_pkey, ADD PRIMARY KEY (id);
ALTER TABLE users DROP CONSTRAINT users_pkey, ADD PRIMARY KEY (id);
ALTER TABLE import_records DROP CONSTRAINT import_records_pkey, ADD PRIMARY KEY (import_id, line);
ALTER TABLE import_file_rejects DROP CONSTRAINT import_file_rejects_pkey, ADD PRIMARY KEY (import_id, line);
ALTER TABLE import_would_create DROP CONSTRAINT import_would_create_pkey, ADD PRIMARY KEY (import_id, kind, name);
ALTER TABLE import_rejects DROP CONSTRAINT import_rejects_pkey, ADD PRIMARY KEY (import_id, line);
ALTER TABLE import_chunks DROP CONSTRAINT import_chunks_pkey, ADD PRIMARY KEY (import_id, seq);
CREATE INDEX imports_tenant ON imports (tenant_id, id DESC);
ALTER TABLE imports DROP CONSTRAINT imports_pkey, ADD PRIMARY KEY (id);

ALTER TABLE imports ADD FOREIGN KEY (parent_id) REFERENCES imports (id);
ALTER TABLE import_chunks ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE import_rejects ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE import_would_create ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE import_file_rejects ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE import_records ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE feed_runs ADD FOREIGN KEY (feed_id) REFERENCES feeds (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (import_id) REFERENCES imports (id);
ALTER TABLE feed_run_deactivations ADD FOREIGN KEY (run_id) REFERENCES feed_runs (id) ON DELETE CASCADE;
ALTER TABLE web_previews ADD FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (executed_id) REFERENCES imports (id);
ALTER TABLE web_edits ADD FOREIGN KEY (import_id) REFERENCES web_previews (import_id) ON DELETE CASCADE;
ALTER TABLE web_sessions ADD FOREIGN KEY (token_id) REFERENCES api_tokens (id);
ALTER TABLE chunk_leases ADD FOREIGN KEY (import_id, seq) REFERENCES import_chunks (import_id, seq) ON DELETE CASCADE;
