-- +goose Up
-- The users page finds users by the start of their Login ID, through the
-- (tenant_id, login_key) btree, or by the starts of the words of their name
-- and e-mail (punctuation splits words: j.smith@example.org is j, smith,
-- example and org), through this index. The trigram index of 00018 found any
-- part of the three, but kept some fifty entries a user: a fresh import of
-- 100,000 users spent more than a second of PostgreSQL's CPU on it, a third
-- of the import. The words are about five a user.
DROP INDEX IF EXISTS users_search_trgm;
CREATE INDEX users_search_words ON users USING gin
    (tenant_id, (to_tsvector('simple', translate(name || ' ' || coalesce(email, ''), '.@_-+''', '      '))));

-- +goose Down
DROP INDEX users_search_words;
CREATE INDEX users_search_trgm ON users USING gin
    (tenant_id, (lower(login_id || ' ' || name || ' ' || coalesce(email, ''))) gin_trgm_ops);
