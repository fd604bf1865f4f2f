-- +goose Up
-- What an import's rejected records had wrong, grouped by reason with the
-- number of records of each (userrow.Reason), written with the error report:
-- the e-mail, importctl and the import's page summarise rejections from it
-- without reading them all again. At most userrow.MaxReasons entries.
ALTER TABLE imports ADD COLUMN rejection_reasons jsonb,
    ADD COLUMN rejection_other integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE imports DROP COLUMN rejection_reasons, DROP COLUMN rejection_other;
