-- +goose Up
-- What a dry run would do with each record of its file: create, update (with
-- the columns that would change, a userrow.ColumnSet) or leave it unchanged;
-- rejected records are in import_rejects. Written by the chunk's transaction,
-- so the web preview's filters are a query rather than a second reading of
-- the file.
CREATE TABLE import_records (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line      integer NOT NULL,
    tenant_id text NOT NULL,
    outcome   text NOT NULL CHECK (outcome IN ('create', 'update', 'unchanged')),
    changed   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (import_id, line)
);

-- +goose Down
DROP TABLE import_records;
