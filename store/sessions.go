package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sync"
	"time"
)

// SessionStore keeps signed-in sessions in the database, so that any
// instance serves any user. It implements scs.CtxStore. Rows are keyed by
// an HMAC of the session token under the server's secret: someone who can
// read the database still cannot present a session.
type SessionStore struct {
	s    *Store
	macs sync.Pool // of HMAC-SHA256 under the secret: keying one costs more than using it
}

// Sessions returns the session store keyed with secret.
func (s *Store) Sessions(secret []byte) *SessionStore {
	secret = slices.Clone(secret)
	return &SessionStore{s: s, macs: sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}
}

func (ss *SessionStore) key(token string) string {
	m := ss.macs.Get().(hash.Hash)
	defer ss.macs.Put(m)
	m.Reset()
	m.Write([]byte(token))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// FindCtx returns the data of an unexpired session. Sessions are kept in
// memory until an event says they changed (see memory): every signed-in
// request asks for one.
func (ss *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	e, found, err := ss.find(ctx, token)
	return e.data, found, err
}

// Session is a session as a request that only reads it sees it.
type Session struct {
	Values  map[string]any // decoded once, and shared: never change it
	Expires time.Time
	Ref     int64 // what the events of this session carry (EventSession)
}

// Session returns an unexpired session, decoded once and kept in memory
// with it: what a request that only reads its session needs, without a
// decoding of its own.
func (ss *SessionStore) Session(ctx context.Context, token string) (Session, bool, error) {
	e, found, err := ss.find(ctx, token)
	if err != nil || !found {
		return Session{}, false, err
	}
	if e.values == nil {
		return Session{}, false, fmt.Errorf("store: session: %w", errSessionData)
	}
	return Session{Values: e.values, Expires: time.Unix(0, e.expiry), Ref: e.ref}, true, nil
}

// find returns a session from memory, or else from the database, keeping it.
func (ss *SessionStore) find(ctx context.Context, token string) (keptSession, bool, error) {
	now := time.Now()
	if e, ok := ss.s.memory.session(token, now); ok {
		return e, true, nil
	}
	key := ss.key(token)
	gen := ss.s.memory.generation()
	var row struct {
		Data   []byte `db:"data"`
		Expiry int64  `db:"expiry"`
	}
	err := ss.s.get(ctx, &row, `SELECT data, expiry FROM sessions WHERE token = ? AND expiry > ?`, key, now.UnixNano())
	if err == ErrNotFound {
		return keptSession{}, false, nil
	}
	if err != nil {
		return keptSession{}, false, fmt.Errorf("store: find session: %w", err)
	}
	if ss.s.afterSessionRead != nil {
		ss.s.afterSessionRead()
	}
	return ss.s.memory.keepSession(gen, token, key, row.Data, row.Expiry), true, nil
}

// CommitCtx saves a session's data until expiry. Every instance forgets
// what it kept of the session.
func (ss *SessionStore) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	key := ss.key(token)
	err := ss.s.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)
			ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`, key, data, expiry.UnixNano())
		if err != nil {
			return err
		}
		return t.event(0, EventSession, sessionRef(key))
	})
	if err != nil {
		return fmt.Errorf("store: commit session: %w", err)
	}
	return nil
}

// DeleteCtx removes a session, on every instance.
func (ss *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	key := ss.key(token)
	err := ss.s.write(ctx, func(t *tx) error {
		if _, err := t.exec(`DELETE FROM sessions WHERE token = ?`, key); err != nil {
			return err
		}
		return t.event(0, EventSession, sessionRef(key))
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

// DeleteExpiredSessions removes sessions past their expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context) error {
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM sessions WHERE expiry <= ?`, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return nil
}
