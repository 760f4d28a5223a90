-- +goose Up
-- Timestamps are Unix seconds (UTC) so that every query stays portable.
CREATE TABLE hostels (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('student', 'warden', 'management')),
    room          TEXT    NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE user_hostels (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hostel_id INTEGER NOT NULL REFERENCES hostels (id),
    PRIMARY KEY (user_id, hostel_id)
);
CREATE INDEX user_hostels_hostel ON user_hostels (hostel_id);

CREATE TABLE issues (
    id          INTEGER PRIMARY KEY,
    hostel_id   INTEGER NOT NULL REFERENCES hostels (id),
    reporter_id INTEGER NOT NULL REFERENCES users (id),
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    category    TEXT    NOT NULL,
    priority    INTEGER NOT NULL,
    location    TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL,
    metoo_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    -- How long resolution took; the median per hostel is an index walk.
    resolve_secs INTEGER GENERATED ALWAYS AS (resolved_at - created_at) STORED,
    -- 1 while the issue still needs work: lists show those first.
    active       INTEGER GENERATED ALWAYS AS (CASE WHEN status IN ('open', 'in_progress') THEN 1 ELSE 0 END) STORED
);
-- The list: a hostel's issues, those needing work first, then most urgent,
-- then newest; optionally by status.
CREATE INDEX issues_hostel_order ON issues (hostel_id, active, priority, created_at);
CREATE INDEX issues_hostel_status_order ON issues (hostel_id, status, priority, created_at);
CREATE INDEX issues_order ON issues (active, priority, created_at);
CREATE INDEX issues_status_order ON issues (status, priority, created_at);
-- The dashboard: counts by hostel, status and category; per-day series; oldest open.
CREATE INDEX issues_counts ON issues (hostel_id, status, category);
CREATE INDEX issues_created ON issues (created_at);
CREATE INDEX issues_resolved ON issues (resolved_at);
CREATE INDEX issues_resolve_secs ON issues (hostel_id, resolve_secs) WHERE resolve_secs IS NOT NULL;
CREATE INDEX issues_reporter ON issues (reporter_id);
CREATE INDEX issues_status_created ON issues (status, created_at);

CREATE TABLE issue_notes (
    id          INTEGER PRIMARY KEY,
    issue_id    INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    author_id   INTEGER NOT NULL REFERENCES users (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('reported', 'status', 'comment')),
    from_status TEXT    NOT NULL DEFAULT '',
    to_status   TEXT    NOT NULL DEFAULT '',
    body        TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX issue_notes_issue ON issue_notes (issue_id, id);

CREATE TABLE metoos (
    issue_id   INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issue_id, user_id)
);

CREATE TABLE announcements (
    id         INTEGER PRIMARY KEY,
    hostel_id  INTEGER REFERENCES hostels (id),
    author_id  INTEGER NOT NULL REFERENCES users (id),
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX announcements_hostel ON announcements (hostel_id, id);

-- Every change appends an event in the same transaction; streams replay from here.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    hostel_id  INTEGER NOT NULL REFERENCES hostels (id),
    kind       TEXT    NOT NULL,
    ref_id     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_hostel ON events (hostel_id, id);

CREATE TABLE sessions (
    token  TEXT    PRIMARY KEY,
    data   BLOB    NOT NULL,
    expiry INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE events;
DROP TABLE announcements;
DROP TABLE metoos;
DROP TABLE issue_notes;
DROP TABLE issues;
DROP TABLE user_hostels;
DROP TABLE users;
DROP TABLE hostels;
