-- +goose Up
-- The change journal: what each import changed, written by the transaction
-- that changes it, so that an import can be undone and a user's history told.
-- Only what changed is kept: a created user is its created_by_import (below),
-- or the flag created when an undo's undo brings it back; an updated user the
-- previous values of the columns that changed (old, by column name) and its
-- previous column hashes; a list that changed its previous members (NULL: the
-- list did not change); a feed's (de)activation the previous active flag.
-- One row per user and import: a user is in one chunk of an import, and the
-- feed step of the same import merges into the chunk's row.
CREATE TABLE journal_users (
    tenant_id   text NOT NULL,
    import_id   bigint NOT NULL,
    user_id     bigint NOT NULL,
    created     boolean NOT NULL DEFAULT false,
    old         jsonb,                 -- {"name": ..., "email": ...}: previous values, changed columns only
    old_hashes  bytea,                 -- the column hashes before the change
    old_groups  bigint[],
    old_roles   bigint[],
    old_exts    bigint[],
    old_active  boolean,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, import_id, user_id)
);

-- The users and extensions an import creates name it in their own row,
-- written by the statement that inserts them: a journal row each would cost
-- the fresh import a second insert per user and per extension.
ALTER TABLE users ADD COLUMN created_by_import bigint;
ALTER TABLE extensions ADD COLUMN created_by_import bigint;

-- The groups an import created (extensions: see created_by_import), updated (an extension's
-- settings, data: the previous row) or removed (an undo; data: the row, so
-- that undoing the undo puts it back with its id).
CREATE TABLE journal_objects (
    tenant_id  text NOT NULL,
    import_id  bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('group', 'extension')),
    object_id  bigint NOT NULL,
    action     text NOT NULL CHECK (action IN ('created', 'updated', 'removed')),
    data       jsonb,
    PRIMARY KEY (tenant_id, import_id, kind, object_id)
);

-- The sweep drops the journal of imports older than JOURNAL_RETENTION and
-- marks them: such an import can no longer be undone.
ALTER TABLE imports ADD COLUMN journal_pruned boolean NOT NULL DEFAULT false;
CREATE INDEX imports_journal_kept ON imports (created_at) WHERE NOT journal_pruned;

-- An undo is an import of its own kind, whose parent is the import undone.
ALTER TABLE imports DROP CONSTRAINT imports_kind_check,
    ADD CONSTRAINT imports_kind_check CHECK (kind IN ('upload', 'local', 'retry', 'feed', 'event', 'undo'));

-- +goose Down
ALTER TABLE imports DROP CONSTRAINT imports_kind_check,
    ADD CONSTRAINT imports_kind_check CHECK (kind IN ('upload', 'local', 'retry', 'feed', 'event'));
ALTER TABLE extensions DROP COLUMN created_by_import;
ALTER TABLE users DROP COLUMN created_by_import;
DROP INDEX imports_journal_kept;
ALTER TABLE imports DROP COLUMN journal_pruned;
DROP TABLE journal_objects, journal_users;
