-- +goose Up
-- An applier inserts a chunk's new extensions with COPY, which returns no
-- ids: it reserves them first, a block of 1024 per nextval, as it does for
-- users (user_id_blocks). An INSERT that takes the default uses up a block.
ALTER TABLE extensions ALTER COLUMN id SET INCREMENT BY 1024;

-- +goose Down
ALTER TABLE extensions ALTER COLUMN id SET INCREMENT BY 1;
