-- +goose Up
-- What a tenant's imports use when they do not say: the addresses the result
-- e-mail goes to (S3-event and CLI imports name none, and the upload page
-- offers them), and the delimiter and header mode of its files. Empty: the
-- service's own defaults (nobody; detected).
ALTER TABLE tenant_settings
    ADD COLUMN default_notify    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN default_delimiter text NOT NULL DEFAULT '',
    ADD COLUMN default_header    text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenant_settings DROP COLUMN default_notify, DROP COLUMN default_delimiter, DROP COLUMN default_header;
