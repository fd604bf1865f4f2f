-- +goose Up
-- HR feeds: a tenant's HR system drops a full export of its users under a
-- prefix of its own every night; the feed imports the newest one on a cron
-- schedule and, in full mode, deactivates the active users absent from it,
-- within safety limits (above them the run waits for a person's approval).
CREATE TABLE feeds (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id              text NOT NULL REFERENCES tenants (id),
    name                   text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- Under the tenant's own area of the bucket: a feed never reads another
    -- tenant's objects.
    prefix                 text NOT NULL CHECK (starts_with(prefix, 'feeds/' || tenant_id || '/') AND prefix !~ '\.\.'),
    schedule               text NOT NULL,          -- 5-field cron, a descriptor (@daily) or @every <duration>
    time_zone              text NOT NULL DEFAULT 'UTC',
    delimiter              text NOT NULL DEFAULT 'auto' CHECK (delimiter IN ('auto', 'comma', 'semicolon')),
    header                 text NOT NULL DEFAULT 'auto' CHECK (header IN ('auto', 'skip', 'none')),
    mode                   text NOT NULL DEFAULT 'upsert' CHECK (mode IN ('upsert', 'full')),
    max_deactivate_percent double precision NOT NULL DEFAULT 10 CHECK (max_deactivate_percent BETWEEN 0 AND 100),
    max_deactivate_count   integer CHECK (max_deactivate_count >= 0),
    notify                 text[] NOT NULL DEFAULT '{}',
    stale_after_days       integer CHECK (stale_after_days > 0),
    enabled                boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- One row per scheduled run of a feed: UNIQUE (feed_id, scheduled_for) is
-- what makes several schedulers (producer replicas) start a run once.
CREATE TABLE feed_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_id       bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    scheduled_for timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'nothing_new', 'importing',
                      'finished', 'needs_approval', 'applied', 'rejected', 'superseded', 'failed')),
    object_key    text,
    object_etag   text,
    import_id     bigint REFERENCES imports (id),
    active_before integer,                 -- active users when the deactivation step ran
    absent        integer,                 -- of them, absent from the file
    deactivated   integer NOT NULL DEFAULT 0,
    reactivated   integer NOT NULL DEFAULT 0,
    stale         boolean NOT NULL DEFAULT false,
    error         text,
    notified_at   timestamptz,             -- the stale warning went out
    decided_by    text,                    -- who approved or rejected the quarantined list
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    UNIQUE (feed_id, scheduled_for)
);
CREATE UNIQUE INDEX feed_runs_import ON feed_runs (import_id);
CREATE INDEX feed_runs_tenant ON feed_runs (tenant_id, id DESC);

-- The users a full-mode run deactivated, or would deactivate once approved.
CREATE TABLE feed_run_deactivations (
    run_id    bigint NOT NULL REFERENCES feed_runs (id) ON DELETE CASCADE,
    tenant_id text NOT NULL,
    user_id   bigint NOT NULL,
    PRIMARY KEY (run_id, user_id)
);

-- +goose Down
DROP TABLE feed_run_deactivations, feed_runs, feeds;
