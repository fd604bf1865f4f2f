-- +goose Up
-- The running chunks' leases (worker/lease.go): the worker that starts a
-- chunk claims its row and renews heartbeat_at every few seconds; the sweep
-- hands a chunk whose heartbeat stopped (its worker killed) to another worker
-- by bumping generation and enqueueing the chunk under a task ID with the new
-- generation. A task of an older generation may no longer apply the chunk.
CREATE TABLE chunk_leases (
    tenant_id    text NOT NULL,
    import_id    bigint NOT NULL,
    seq          integer NOT NULL,
    worker_id    text NOT NULL,  -- '': handed on by the sweep, not yet claimed
    generation   integer NOT NULL DEFAULT 0,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, import_id, seq),
    FOREIGN KEY (import_id, seq) REFERENCES import_chunks (import_id, seq) ON DELETE CASCADE
);
CREATE INDEX chunk_leases_heartbeat ON chunk_leases (heartbeat_at) WHERE worker_id <> '';

-- +goose Down
DROP TABLE chunk_leases;
