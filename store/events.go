package store

import (
	"context"
	"fmt"
	"time"
)

// eventColumns reads an event of no hostel as hostel 0.
const eventColumns = `id, COALESCE(hostel_id, 0) AS hostel_id, kind, ref_id, created_at`

// EventsAfter returns up to limit events that streams show of hostelIDs
// (nil: every hostel), with ids above afterID, in id order: the events of
// those hostels and those to every hostel.
func (s *Store) EventsAfter(ctx context.Context, afterID int64, hostelIDs []int64, limit int) ([]Event, error) {
	var evs []Event
	query, args := `SELECT `+eventColumns+` FROM events WHERE id > ? AND (hostel_id IS NOT NULL OR kind IN (?)) ORDER BY id LIMIT ?`,
		[]any{afterID, streamedToEveryHostel, limit}
	if hostelIDs != nil {
		query, args = `SELECT `+eventColumns+` FROM events WHERE id > ? AND (hostel_id IN (?) OR (hostel_id IS NULL AND kind IN (?))) ORDER BY id LIMIT ?`,
			[]any{afterID, hostelIDs, streamedToEveryHostel, limit}
	}
	q, a, err := s.in(query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	if err := s.db.SelectContext(ctx, &evs, q, a...); err != nil {
		return nil, fmt.Errorf("store: events after %d: %w", afterID, err)
	}
	return evs, nil
}

// Log returns up to limit events of every kind with ids above afterID, in
// id order, those of no hostel included: what each instance's follower reads.
func (s *Store) Log(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	var evs []Event
	if err := s.selectAll(ctx, &evs, `SELECT `+eventColumns+` FROM events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit); err != nil {
		return nil, fmt.Errorf("store: log after %d: %w", afterID, err)
	}
	return evs, nil
}

// LatestEventID is the id of the newest event, 0 when there is none.
func (s *Store) LatestEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.get(ctx, &id, `SELECT COALESCE(MAX(id), 0) FROM events`); err != nil {
		return 0, fmt.Errorf("store: latest event: %w", err)
	}
	return id, nil
}

// EventRange is the ids of the oldest and the newest event still kept, both
// 0 when there is none. An id below oldest-1 was pruned: what came after it
// can no longer be replayed in full.
func (s *Store) EventRange(ctx context.Context) (oldest, latest int64, err error) {
	var r struct {
		Oldest int64 `db:"oldest"`
		Latest int64 `db:"latest"`
	}
	// Two subqueries, so that each is one end of the primary key.
	if err := s.get(ctx, &r, `SELECT (SELECT COALESCE(MIN(id), 0) FROM events) AS oldest, (SELECT COALESCE(MAX(id), 0) FROM events) AS latest`); err != nil {
		return 0, 0, fmt.Errorf("store: event range: %w", err)
	}
	return r.Oldest, r.Latest, nil
}

// pruneBatch is how many events one pruning transaction deletes at most, so
// that pruning a long log never holds the writer for long.
const pruneBatch = 5000

// PruneEvents deletes the events created before cutoff, except the newest
// keep, which are always kept: streams replay from them, and the newest id
// is the dashboard's data version, which must never go back. It returns how
// many it deleted.
func (s *Store) PruneEvents(ctx context.Context, cutoff time.Time, keep int) (int64, error) {
	if keep < 1 {
		return 0, fmt.Errorf("store: prune events: keep %d, want at least 1", keep)
	}
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(t *tx) error {
			res, err := t.exec(`DELETE FROM events WHERE id IN (
				SELECT id FROM events
				WHERE created_at < ? AND id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)
				ORDER BY id LIMIT ?)`, cutoff.Unix(), keep, pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: prune events: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Epoch is a random name this database was given when it was created.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	var e string
	if err := s.get(ctx, &e, `SELECT value FROM meta WHERE key = 'epoch'`); err != nil {
		return "", fmt.Errorf("store: epoch: %w", err)
	}
	return e, nil
}
