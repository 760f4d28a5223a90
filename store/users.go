package store

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// NewUser is an account to create.
type NewUser struct {
	Email     string
	Name      string
	Password  string
	Role      Role
	Room      string
	HostelIDs []int64
}

// HashPassword hashes a password for storing, at the store's bcrypt cost.
func (s *Store) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.passwordCost)
	if err != nil {
		return "", fmt.Errorf("store: hash password: %w", err)
	}
	return string(h), nil
}

// CreateUser adds an account. An email already taken returns ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (int64, error) {
	hash, err := s.HashPassword(n.Password)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.write(ctx, func(t *tx) error {
		id, err = t.insert(`INSERT INTO users (email, name, password_hash, role, room, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			normalEmail(n.Email), n.Name, hash, n.Role, n.Room, t.now)
		if isUnique(err) {
			return ErrDuplicate
		}
		if err != nil {
			return err
		}
		return t.setHostels(id, n.HostelIDs)
	})
	if err != nil {
		return 0, fmt.Errorf("store: create user %s: %w", n.Email, err)
	}
	return id, nil
}

func (t *tx) setHostels(userID int64, hostelIDs []int64) error {
	if _, err := t.exec(`DELETE FROM user_hostels WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hostelIDs {
		if _, err := t.exec(`INSERT INTO user_hostels (user_id, hostel_id) VALUES (?, ?)`, userID, h); err != nil {
			return err
		}
	}
	return nil
}

func normalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// User returns one account with its hostels. Every signed-in request asks
// for it, so accounts are kept in memory until an event says they changed
// (see memory).
func (s *Store) User(ctx context.Context, id int64) (*User, error) {
	if u, ok := s.memory.user(id); ok {
		return u, nil
	}
	gen := s.memory.generation()
	u, err := s.readUser(ctx, id)
	if err != nil {
		return nil, err
	}
	s.memory.keepUser(gen, u)
	return u, nil
}

// readUser reads an account and its hostels in one query.
func (s *Store) readUser(ctx context.Context, id int64) (*User, error) {
	rows, err := s.db.QueryxContext(ctx, s.db.Rebind(`SELECT u.*, uh.hostel_id AS hostel_id
		FROM users u LEFT JOIN user_hostels uh ON uh.user_id = u.id WHERE u.id = ? ORDER BY uh.hostel_id`), id)
	if err != nil {
		return nil, fmt.Errorf("store: user %d: %w", id, err)
	}
	defer rows.Close()
	var u *User
	for rows.Next() {
		var row struct {
			User
			HostelID *int64 `db:"hostel_id"`
		}
		if err := rows.StructScan(&row); err != nil {
			return nil, fmt.Errorf("store: user %d: %w", id, err)
		}
		if u == nil {
			u = &row.User
		}
		if row.HostelID != nil {
			u.HostelIDs = append(u.HostelIDs, *row.HostelID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: user %d: %w", id, err)
	}
	if u == nil {
		return nil, fmt.Errorf("store: user %d: %w", id, ErrNotFound)
	}
	return u, nil
}

// UserByEmail returns the account with that email, whatever its case.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	var id int64
	if err := s.get(ctx, &id, `SELECT id FROM users WHERE email = ?`, normalEmail(email)); err != nil {
		return nil, fmt.Errorf("store: user %s: %w", email, err)
	}
	return s.User(ctx, id)
}

// Users lists every account with its hostels, by role then name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var users []User
	if err := s.selectAll(ctx, &users, `SELECT * FROM users ORDER BY role, name, id`); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	var links []struct {
		UserID   int64 `db:"user_id"`
		HostelID int64 `db:"hostel_id"`
	}
	if err := s.selectAll(ctx, &links, `SELECT user_id, hostel_id FROM user_hostels ORDER BY hostel_id`); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	byID := make(map[int64]*User, len(users))
	for i := range users {
		byID[users[i].ID] = &users[i]
	}
	for _, l := range links {
		if u := byID[l.UserID]; u != nil {
			u.HostelIDs = append(u.HostelIDs, l.HostelID)
		}
	}
	return users, nil
}

// UpdateUser moves an account between hostels and enables or disables it.
func (s *Store) UpdateUser(ctx context.Context, id int64, hostelIDs []int64, disabled bool) error {
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE users SET disabled = ? WHERE id = ?`, disabled, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := t.setHostels(id, hostelIDs); err != nil {
			return err
		}
		return t.event(0, EventUser, id)
	})
	if err != nil {
		return fmt.Errorf("store: update user %d: %w", id, err)
	}
	return nil
}

// SetPassword replaces an account's password.
func (s *Store) SetPassword(ctx context.Context, id int64, password string) error {
	hash, err := s.HashPassword(password)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(t *tx) error {
		if _, err := t.exec(`UPDATE users SET password_hash = ? WHERE id = ?`, hash, id); err != nil {
			return err
		}
		return t.event(0, EventUser, id)
	})
	if err != nil {
		return fmt.Errorf("store: set password of user %d: %w", id, err)
	}
	return nil
}
