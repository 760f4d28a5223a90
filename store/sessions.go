package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// SessionStore keeps signed-in sessions in the database, so that any
// instance serves any user. It implements scs.CtxStore. Rows are keyed by
// an HMAC of the session token under the server's secret: someone who can
// read the database still cannot present a session.
type SessionStore struct {
	s      *Store
	secret []byte
}

// Sessions returns the session store keyed with secret.
func (s *Store) Sessions(secret []byte) *SessionStore { return &SessionStore{s: s, secret: secret} }

func (ss *SessionStore) key(token string) string {
	m := hmac.New(sha256.New, ss.secret)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// FindCtx returns the data of an unexpired session.
func (ss *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	err := ss.s.get(ctx, &data, `SELECT data FROM sessions WHERE token = ? AND expiry > ?`, ss.key(token), time.Now().UnixNano())
	if err == ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: find session: %w", err)
	}
	return data, true, nil
}

// CommitCtx saves a session's data until expiry.
func (ss *SessionStore) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	err := ss.s.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)
			ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`, ss.key(token), data, expiry.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: commit session: %w", err)
	}
	return nil
}

// DeleteCtx removes a session.
func (ss *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	err := ss.s.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM sessions WHERE token = ?`, ss.key(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// Find, Commit and Delete satisfy scs.Store; scs prefers the Ctx methods.
func (ss *SessionStore) Find(token string) ([]byte, bool, error) {
	return ss.FindCtx(context.Background(), token)
}

// Commit saves a session; see CommitCtx.
func (ss *SessionStore) Commit(token string, data []byte, expiry time.Time) error {
	return ss.CommitCtx(context.Background(), token, data, expiry)
}

// Delete removes a session; see DeleteCtx.
func (ss *SessionStore) Delete(token string) error {
	return ss.DeleteCtx(context.Background(), token)
}

// DeleteExpired removes sessions past their expiry.
func (ss *SessionStore) DeleteExpired(ctx context.Context) error {
	err := ss.s.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM sessions WHERE expiry <= ?`, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return nil
}
