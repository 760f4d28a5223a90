-- +goose Up
-- Events that concern no hostel: a session ended or changed, an account
-- changed. They reach no stream; every instance reads them to forget what
-- it keeps in memory of that session or account.
ALTER TABLE events ALTER COLUMN hostel_id DROP NOT NULL;

-- +goose Down
DELETE FROM events WHERE hostel_id IS NULL;
ALTER TABLE events ALTER COLUMN hostel_id SET NOT NULL;
