-- +goose Up
-- Facts about this database itself. "epoch" names it: event ids restart in
-- a new database, and anything keyed by event id outside it (a shared cache)
-- must not mistake one database's event 42 for another's.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('epoch', md5(random()::text || clock_timestamp()::text));

-- +goose Down
DROP TABLE meta;
