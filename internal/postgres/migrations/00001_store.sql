-- +goose Up
-- The store: users and what hangs off them, the tenant's role catalog, and the
-- import jobs. Every table carries tenant_id, and every query names it.
--
-- The bulk tables (users, groups, extensions and the three membership tables)
-- have no foreign keys: their per-row triggers cost more than everything else
-- a chunk does (measured on a 5,000-record chunk: memberships 290 ms with
-- them, 30 ms without). The chunk engine is the only writer of these tables
-- and resolves every id it writes in the same transaction; users are never
-- deleted (only deactivated).

CREATE TABLE tenants (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE imports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    kind          text NOT NULL DEFAULT 'upload' CHECK (kind IN ('upload', 'local', 'retry', 'feed')),
    parent_id     bigint REFERENCES imports (id),
    source        text NOT NULL,          -- s3://bucket/key, or the local file's name
    source_etag   text,
    source_size   bigint,
    options       jsonb NOT NULL DEFAULT '{}',
    dry_run       boolean NOT NULL DEFAULT false,
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'planning', 'running', 'finalizing', 'finished', 'rejected', 'failed')),
    error         text,                   -- why the file was rejected or the import failed
    requested_by  text,
    records       integer NOT NULL DEFAULT 0,
    created       integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    unchanged     integer NOT NULL DEFAULT 0,
    rejected      integer NOT NULL DEFAULT 0,
    warnings      integer NOT NULL DEFAULT 0,
    chunks        integer NOT NULL DEFAULT 0,
    chunks_done   integer NOT NULL DEFAULT 0,
    report        text,                   -- where the error report is
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX imports_tenant ON imports (tenant_id, id DESC);

-- One row per chunk of an import: its byte range of the source and whether
-- it has been applied. A chunk is marked done in the transaction that applies
-- it, so a redelivered chunk finds it done and changes nothing.
CREATE TABLE import_chunks (
    import_id   bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    byte_offset bigint NOT NULL,
    byte_length bigint NOT NULL,
    first_line  integer NOT NULL,
    records     integer NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    created     integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    unchanged   integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    applied_at  timestamptz,
    PRIMARY KEY (import_id, seq)
);

-- The rejected records of an import, as uploaded, with what is wrong with them:
-- the error report is made from these.
CREATE TABLE import_rejects (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line      integer NOT NULL,
    tenant_id text NOT NULL REFERENCES tenants (id),
    login_id  text,
    errors    jsonb NOT NULL,             -- [{"column": "...", "message": "..."}]
    raw       bytea NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- User ids come in blocks: each nextval reserves 1,024 of them, so that the
-- engine reserves a chunk's ids with a handful of calls (one nextval per user
-- cost 14 ms a 5,000-record chunk).
CREATE SEQUENCE user_id_blocks INCREMENT BY 1024;

CREATE TABLE users (
    id                 bigint PRIMARY KEY DEFAULT nextval('user_id_blocks'),
    tenant_id          text NOT NULL,
    login_id           text NOT NULL,
    login_key          text COLLATE "C" GENERATED ALWAYS AS (lower(login_id)) STORED,
    name               text NOT NULL,
    language           text NOT NULL CHECK (language IN ('en', 'hu', 'de', 'fr', 'fr_CA')),
    email              text,
    valid_from         date NOT NULL,
    password_md5       text NOT NULL CHECK (password_md5 ~ '^[0-9a-f]{32}$'),
    change_password    boolean NOT NULL,
    recording_mode     text NOT NULL CHECK (recording_mode IN ('full', 'on-demand', 'manual', 'no')),
    time_zone          text NOT NULL,
    crm_user_id        text,
    voice              boolean NOT NULL,
    instant_messaging  boolean NOT NULL,
    video              boolean NOT NULL,
    desktop_screen     boolean NOT NULL,
    custom0            text,
    custom1            text,
    custom2            text,
    custom3            text,
    custom4            text,
    prompt_inbound     boolean NOT NULL,
    prompt_conference  boolean NOT NULL,
    inbound_file       text,
    conference_file    text,
    conference_message text,
    -- One 64-bit hash per column (lists as sets), as stored: an incoming record
    -- changes nothing when the hashes of the columns it gives are all equal,
    -- which the engine finds out without reading or writing the row.
    column_hashes      bytea NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    deactivated_at     timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_import_id     bigint,
    UNIQUE (tenant_id, login_key)
);

CREATE TABLE groups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL,
    name       text NOT NULL,
    name_key   text COLLATE "C" GENERATED ALWAYS AS (lower(name)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name_key)
);

CREATE TABLE user_groups (
    tenant_id text NOT NULL,
    user_id   bigint NOT NULL,
    group_id  bigint NOT NULL,
    PRIMARY KEY (user_id, group_id)
);

-- A phone number or URI, with how calls on it are recorded. Within one
-- import, the record with the higher line number sets them (set_by_*).
CREATE TABLE extensions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         text NOT NULL,
    number            text COLLATE "C" NOT NULL,
    recording_mode    text NOT NULL CHECK (recording_mode IN ('full', 'on-demand', 'manual', 'no')),
    voice             boolean NOT NULL,
    instant_messaging boolean NOT NULL,
    video             boolean NOT NULL,
    desktop_screen    boolean NOT NULL,
    set_by_import     bigint,
    set_by_line       integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number)
);

CREATE TABLE user_extensions (
    tenant_id    text NOT NULL,
    user_id      bigint NOT NULL,
    extension_id bigint NOT NULL,
    PRIMARY KEY (user_id, extension_id)
);

-- The tenant's role catalog: an import assigns roles from it, never invents one.
CREATE TABLE roles (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text NOT NULL CHECK (name <> '' AND length(name) <= 64),
    name_key   text COLLATE "C" GENERATED ALWAYS AS (lower(name)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name_key)
);

CREATE TABLE user_roles (
    tenant_id text NOT NULL,
    user_id   bigint NOT NULL,
    role_id   bigint NOT NULL,
    PRIMARY KEY (user_id, role_id)
);

-- +goose Down
DROP TABLE user_roles, roles, user_extensions, extensions, user_groups, groups, users,
    import_rejects, import_chunks, imports, tenants;
DROP SEQUENCE user_id_blocks;
