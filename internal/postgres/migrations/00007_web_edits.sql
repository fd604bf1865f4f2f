-- +goose Up
-- The tenant admins' web page (producer/web): a file uploaded there is first
-- imported as a dry run and previewed. The admin may correct records before
-- executing the real import of the corrected file.
CREATE TABLE web_previews (
    import_id    bigint PRIMARY KEY REFERENCES imports (id) ON DELETE CASCADE, -- the dry run
    tenant_id    text NOT NULL REFERENCES tenants (id),
    notify       text[] NOT NULL DEFAULT '{}',  -- who gets the real import's result e-mail
    executing_at timestamptz,                   -- an execution in progress (claimed)
    executed_id  bigint REFERENCES imports (id), -- the real import, once started
    corrected    text                           -- s3://… of the corrected file, when there were edits
);

-- One row per corrected record: its fields after the edits, in the file's
-- layout, and its problems after them. The original file stays untouched;
-- executing writes a corrected copy next to it.
CREATE TABLE web_edits (
    import_id   bigint NOT NULL REFERENCES web_previews (import_id) ON DELETE CASCADE,
    line        integer NOT NULL,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    byte_offset bigint NOT NULL,  -- the record's bytes in the original file
    byte_end    bigint NOT NULL,
    fields      jsonb NOT NULL,   -- ["…", …]
    errors      jsonb NOT NULL,   -- [{"column": "…", "message": "…"}]; [] when valid
    edited_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_id, line)
);

-- +goose Down
DROP TABLE web_edits;
DROP TABLE web_previews;
