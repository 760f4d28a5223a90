package store

import (
	"slices"
	"strconv"
	"sync"
	"time"
)

// memory keeps the two rows every signed-in request reads: its session and
// its account. Nothing else changes them but the store, and
// every such change appends an event (EventSession, EventUser), so what is
// kept is forgotten by event, like the dashboard cache:
//
//   - on this instance, as the change commits (Store.write);
//   - on every other instance, as its follower reads the event from the
//     log (Store.Forget): at once when Redis carries the notification,
//     within the follower's poll interval when it does not.
//
// A read that began before a change can never fill the memory after it:
// every forgetting moves a generation on, and a fill only lands if the
// generation it read under is still current. What is not in the database
// is not kept, so unknown tokens cost a query each and memory nothing.
type memory struct {
	mu       sync.RWMutex
	gen      uint64
	sessions map[int64]keptSession // by sessionRef of the key
	tokens   map[string]int64      // the sessionRef of each kept session's token
	users    map[int64]*User
	limit    int
}

// keptSession is a session as kept: found by its token (a request brings
// it), forgotten by its sessionRef (an event brings that).
type keptSession struct {
	token  string
	ref    int64
	data   []byte
	values map[string]any // data decoded (SessionCodec), read-only; nil if it does not decode
	expiry int64          // Unix nanoseconds
}

// memoryLimit bounds each map; past it, an eighth of the entries make
// room. Every entry is a signed-in browser, so this is a busy campus.
const memoryLimit = 1 << 16

func newMemory() *memory {
	return &memory{sessions: map[int64]keptSession{}, tokens: map[string]int64{}, users: map[int64]*User{}, limit: memoryLimit}
}

// sessionRef is the number an EventSession carries for a session: the
// first 60 bits of its key, which is an HMAC and so uniformly spread.
func sessionRef(key string) int64 {
	n, _ := strconv.ParseInt(key[:15], 16, 64)
	return n
}

// generation is read before the database, and passed to the fill after it.
func (a *memory) generation() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen
}

// session finds a session by its token: no key is derived for a session
// kept, which is most of what a signed-in request costs.
func (a *memory) session(token string, now time.Time) (keptSession, bool) {
	a.mu.RLock()
	ref, ok := a.tokens[token]
	e := a.sessions[ref]
	a.mu.RUnlock()
	if !ok || e.token != token || now.UnixNano() >= e.expiry {
		return keptSession{}, false
	}
	return e, true
}

// keepSession keeps a session's data and its values, decoded once (nil
// when the data does not decode), unless what it was read under has been
// forgotten since; it returns the session as read either way.
func (a *memory) keepSession(gen uint64, token, key string, data []byte, expiry int64) keptSession {
	_, values, _ := SessionCodec{}.Decode(data)
	ref := sessionRef(key)
	e := keptSession{token: token, ref: ref, data: data, values: values, expiry: expiry}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return e
	}
	if len(a.sessions) >= a.limit {
		n := a.limit / 8
		for ref := range a.sessions { // map order is random enough to choose victims
			a.dropSession(ref)
			if n--; n == 0 {
				break
			}
		}
	}
	a.dropSession(ref) // another token of the same ref, however unlikely
	a.sessions[ref] = e
	a.tokens[token] = ref
	return e
}

func (a *memory) dropSession(ref int64) {
	if e, ok := a.sessions[ref]; ok {
		delete(a.tokens, e.token)
		delete(a.sessions, ref)
	}
}

// user returns a copy: callers may change theirs.
func (a *memory) user(id int64) (*User, bool) {
	a.mu.RLock()
	u, ok := a.users[id]
	a.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return u.clone(), true
}

func (a *memory) keepUser(gen uint64, u *User) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return
	}
	makeRoom(a.users, a.limit)
	a.users[u.ID] = u.clone()
}

// forget drops what e says has changed. Events of other kinds change
// nothing kept here.
func (a *memory) forget(e Event) {
	switch e.Kind {
	case EventSession:
		a.mu.Lock()
		a.dropSession(e.RefID)
	case EventUser:
		a.mu.Lock()
		delete(a.users, e.RefID)
	default:
		return
	}
	a.gen++
	a.mu.Unlock()
}

func makeRoom[V any](m map[int64]V, limit int) {
	if len(m) < limit {
		return
	}
	n := limit / 8
	for k := range m { // map order is random enough to choose victims
		delete(m, k)
		if n--; n == 0 {
			return
		}
	}
}

func (u *User) clone() *User {
	c := *u
	c.HostelIDs = slices.Clone(u.HostelIDs)
	return &c
}

// Forget drops what this instance keeps in memory of what e changed: an
// event another instance committed, read from the log by this instance's
// follower. Events this instance committed were forgotten as they
// committed; forgetting again does no harm.
func (s *Store) Forget(e Event) { s.memory.forget(e) }
