-- +goose Up
-- What a dry run would create beyond the users: the groups and extensions
-- that do not exist yet, once each across all chunks of the import.
CREATE TABLE import_would_create (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    tenant_id text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('group', 'extension')),
    name      text NOT NULL,
    PRIMARY KEY (import_id, kind, name)
);

-- +goose Down
DROP TABLE import_would_create;
