-- +goose Up
-- What the planner found reading the whole file (delimiter, column layout, the
-- records the whole-file checks rejected), which every chunk needs; and when
-- the result e-mail went out, so that it goes out once.
ALTER TABLE imports ADD COLUMN plan jsonb, ADD COLUMN notified_at timestamptz;

-- +goose Down
ALTER TABLE imports DROP COLUMN plan, DROP COLUMN notified_at;
