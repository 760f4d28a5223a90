package store

import (
	"context"
	"fmt"
)

// eventColumns reads an event of no hostel as hostel 0.
const eventColumns = `id, COALESCE(hostel_id, 0) AS hostel_id, kind, ref_id, created_at`

// EventsAfter returns up to limit events of hostels with ids above afterID,
// in id order: what streams show. hostelIDs nil means every hostel.
func (s *Store) EventsAfter(ctx context.Context, afterID int64, hostelIDs []int64, limit int) ([]Event, error) {
	var evs []Event
	query, args := `SELECT `+eventColumns+` FROM events WHERE id > ? AND hostel_id IS NOT NULL ORDER BY id LIMIT ?`, []any{afterID, limit}
	if hostelIDs != nil {
		query, args = `SELECT `+eventColumns+` FROM events WHERE id > ? AND hostel_id IN (?) ORDER BY id LIMIT ?`, []any{afterID, hostelIDs, limit}
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

// OldestEventID is the id of the oldest event still kept, 0 when there is none.
func (s *Store) OldestEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.get(ctx, &id, `SELECT COALESCE(MIN(id), 0) FROM events`); err != nil {
		return 0, fmt.Errorf("store: oldest event: %w", err)
	}
	return id, nil
}

// Epoch is a random name this database was given when it was created.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	var e string
	if err := s.get(ctx, &e, `SELECT value FROM meta WHERE key = 'epoch'`); err != nil {
		return "", fmt.Errorf("store: epoch: %w", err)
	}
	return e, nil
}
