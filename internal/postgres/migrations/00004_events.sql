-- +goose Up
-- Imports started by S3 event notifications: the same object version (source
-- and ETag) delivered twice makes one import.
ALTER TABLE imports DROP CONSTRAINT imports_kind_check,
    ADD CONSTRAINT imports_kind_check CHECK (kind IN ('upload', 'local', 'retry', 'feed', 'event'));
CREATE UNIQUE INDEX imports_event_object ON imports (tenant_id, source, source_etag) WHERE kind = 'event';

-- +goose Down
DROP INDEX imports_event_object;
ALTER TABLE imports DROP CONSTRAINT imports_kind_check,
    ADD CONSTRAINT imports_kind_check CHECK (kind IN ('upload', 'local', 'retry', 'feed'));
