package store

import (
	"context"
	"fmt"
)

// CreateAnnouncement posts a notice to one hostel, or to every hostel when
// hostelID is nil: one event either way, of that hostel or of none (which
// every stream shows, once).
func (s *Store) CreateAnnouncement(ctx context.Context, authorID int64, hostelID *int64, title, body string) (int64, error) {
	var id int64
	err := s.write(ctx, func(t *tx) error {
		var err error
		id, err = t.insert(`INSERT INTO announcements (hostel_id, author_id, title, body, created_at) VALUES (?, ?, ?, ?, ?)`,
			hostelID, authorID, title, body, t.now)
		if err != nil {
			return err
		}
		var target int64 // every hostel
		if hostelID != nil {
			target = *hostelID
		}
		return t.event(target, EventAnnouncement, id)
	})
	if err != nil {
		return 0, fmt.Errorf("store: create announcement: %w", err)
	}
	return id, nil
}

const announcementColumns = `a.id, a.hostel_id, h.name AS hostel_name, a.author_id, u.name AS author_name, a.title, a.body, a.created_at
	FROM announcements a JOIN users u ON u.id = a.author_id LEFT JOIN hostels h ON h.id = a.hostel_id`

// Announcement returns one announcement.
func (s *Store) Announcement(ctx context.Context, id int64) (*Announcement, error) {
	var a Announcement
	if err := s.get(ctx, &a, `SELECT `+announcementColumns+` WHERE a.id = ?`, id); err != nil {
		return nil, fmt.Errorf("store: announcement %d: %w", id, err)
	}
	return &a, nil
}

// Announcements lists the newest announcements that reach any of hostelIDs
// (those to all hostels included); nil hostelIDs lists every announcement.
func (s *Store) Announcements(ctx context.Context, hostelIDs []int64, limit int) ([]Announcement, error) {
	var as []Announcement
	query, args := `SELECT `+announcementColumns+` ORDER BY a.id DESC LIMIT ?`, []any{limit}
	if hostelIDs != nil {
		if len(hostelIDs) == 0 {
			hostelIDs = []int64{0}
		}
		q, a, err := s.in(`SELECT `+announcementColumns+` WHERE a.hostel_id IS NULL OR a.hostel_id IN (?) ORDER BY a.id DESC LIMIT ?`, hostelIDs, limit)
		if err != nil {
			return nil, fmt.Errorf("store: announcements: %w", err)
		}
		query, args = q, a
	} else {
		query = s.db.Rebind(query)
	}
	if err := s.db.SelectContext(ctx, &as, query, args...); err != nil {
		return nil, fmt.Errorf("store: announcements: %w", err)
	}
	return as, nil
}
