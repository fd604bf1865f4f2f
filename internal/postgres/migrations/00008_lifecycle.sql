-- +goose Up
-- The import lifecycle as package lifecycle states it.
--
-- States nothing writes go: an import is accepted in planning (there is no
-- pending before it) and finalize does not pass through finalizing; a feed
-- run starts as importing or nothing_new, never running.
UPDATE imports SET state = 'planning' WHERE state = 'pending';
UPDATE imports SET state = 'running' WHERE state = 'finalizing';
ALTER TABLE imports DROP CONSTRAINT imports_state_check,
    ADD CONSTRAINT imports_state_check CHECK (state IN ('planning', 'running', 'finished', 'rejected', 'failed')),
    ALTER COLUMN state SET DEFAULT 'planning';
UPDATE feed_runs SET state = 'importing' WHERE state = 'running';
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_state_check,
    ADD CONSTRAINT feed_runs_state_check CHECK (state IN ('nothing_new', 'importing', 'finished', 'needs_approval',
        'applied', 'rejected', 'superseded', 'failed')),
    ALTER COLUMN state SET DEFAULT 'importing';

-- The records the whole-file checks rejected (a repeated Login ID), which the
-- plan kept in its JSON until now: one row each, so that a plan's size does
-- not grow with its file's problems. A chunk reads the rows of its lines.
CREATE TABLE import_file_rejects (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line      integer NOT NULL,
    tenant_id text NOT NULL,
    column_no smallint NOT NULL,
    message   text NOT NULL,
    PRIMARY KEY (import_id, line)
);
INSERT INTO import_file_rejects (import_id, line, tenant_id, column_no, message)
SELECT i.id, r.key::integer, i.tenant_id, (r.value ->> 'column')::smallint, r.value ->> 'message'
FROM imports i, jsonb_each(i.plan -> 'rejected') AS r
WHERE jsonb_typeof(i.plan -> 'rejected') = 'object';
UPDATE imports SET plan = plan - 'rejected' WHERE plan ? 'rejected';

-- The fingerprints of the Login IDs each chunk writes (userrow.LoginSet):
-- a chunk of a later import of the tenant waits while an earlier import's
-- pending chunk shares one. Empty for chunks recorded before: such a chunk
-- is taken to share every user.
ALTER TABLE import_chunks ADD COLUMN logins bytea NOT NULL DEFAULT '';

-- The engine's wait check: a tenant's imports not yet ended.
CREATE INDEX imports_tenant_unended ON imports (tenant_id, id) WHERE state IN ('planning', 'running');

-- +goose Down
DROP INDEX imports_tenant_unended;
ALTER TABLE import_chunks DROP COLUMN logins;
DROP TABLE import_file_rejects;
ALTER TABLE feed_runs DROP CONSTRAINT feed_runs_state_check,
    ADD CONSTRAINT feed_runs_state_check CHECK (state IN ('running', 'nothing_new', 'importing',
        'finished', 'needs_approval', 'applied', 'rejected', 'superseded', 'failed')),
    ALTER COLUMN state SET DEFAULT 'running';
ALTER TABLE imports DROP CONSTRAINT imports_state_check,
    ADD CONSTRAINT imports_state_check CHECK (state IN ('pending', 'planning', 'running', 'finalizing', 'finished', 'rejected', 'failed')),
    ALTER COLUMN state SET DEFAULT 'pending';
