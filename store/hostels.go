package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// CreateHostel adds a hostel. A name already taken returns ErrDuplicate.
func (s *Store) CreateHostel(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.write(ctx, func(t *tx) error {
		var err error
		id, err = t.insert(`INSERT INTO hostels (name, created_at) VALUES (?, ?)`, name, t.now)
		if isUnique(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		return t.event(id, EventHostel, id)
	})
	if err != nil {
		return 0, fmt.Errorf("store: create hostel %q: %w", name, err)
	}
	return id, nil
}

// RenameHostel renames a hostel. A name already taken returns ErrDuplicate.
func (s *Store) RenameHostel(ctx context.Context, id int64, name string) error {
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE hostels SET name = ? WHERE id = ?`, name, id)
		if isUnique(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return t.event(id, EventHostel, id)
	})
	if err != nil {
		return fmt.Errorf("store: rename hostel %d: %w", id, err)
	}
	return nil
}

// Hostel returns one hostel.
func (s *Store) Hostel(ctx context.Context, id int64) (*Hostel, error) {
	var h Hostel
	if err := s.get(ctx, &h, `SELECT * FROM hostels WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("store: hostel %d: %w", id, err)
	}
	return &h, nil
}

// Hostels lists every hostel by name.
func (s *Store) Hostels(ctx context.Context) ([]Hostel, error) {
	var hs []Hostel
	if err := s.selectAll(ctx, &hs, `SELECT * FROM hostels ORDER BY name, id`); err != nil {
		return nil, fmt.Errorf("store: hostels: %w", err)
	}
	return hs, nil
}

// HostelRef finds a hostel by id or name, creating it by that name when
// there is none: for setting up a deployment from the command line.
func (s *Store) HostelRef(ctx context.Context, ref string) (int64, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if _, err := s.Hostel(ctx, id); err != nil {
			return 0, err
		}
		return id, nil
	}
	var id int64
	err := s.get(ctx, &id, `SELECT id FROM hostels WHERE name = ?`, ref)
	if errors.Is(err, ErrNotFound) {
		return s.CreateHostel(ctx, ref)
	}
	if err != nil {
		return 0, fmt.Errorf("store: hostel %q: %w", ref, err)
	}
	return id, nil
}
