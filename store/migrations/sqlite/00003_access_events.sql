-- +goose Up
-- Events that concern no hostel: a session ended or changed, an account
-- changed. They reach no stream; every instance reads them to forget what
-- it keeps in memory of that session or account. SQLite cannot drop a NOT
-- NULL constraint, so the table is rebuilt.
CREATE TABLE events_new (
    id         INTEGER PRIMARY KEY,
    hostel_id  INTEGER REFERENCES hostels (id),
    kind       TEXT    NOT NULL,
    ref_id     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO events_new (id, hostel_id, kind, ref_id, created_at)
    SELECT id, hostel_id, kind, ref_id, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_hostel ON events (hostel_id, id);

-- +goose Down
DELETE FROM events WHERE hostel_id IS NULL;
CREATE TABLE events_old (
    id         INTEGER PRIMARY KEY,
    hostel_id  INTEGER NOT NULL REFERENCES hostels (id),
    kind       TEXT    NOT NULL,
    ref_id     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO events_old (id, hostel_id, kind, ref_id, created_at)
    SELECT id, hostel_id, kind, ref_id, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_hostel ON events (hostel_id, id);
