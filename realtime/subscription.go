package realtime

import (
	"sync"
	"time"
)

// Subscription is one consumer's bounded queue of deliveries from a Hub.
type Subscription struct {
	hub      *Hub
	hostels  []int64 // the hostels subscribed to, unless every
	every    bool    // every hostel's events
	audience string
	user     int64       // the account it belongs to (0: none)
	session  int64       // the session it belongs to (0: none)
	expiry   *time.Timer // revokes it when its session expires; guarded by hub.mu
	from     int64       // the newest event the hub had seen when it subscribed
	ch       chan Delivery
	done     chan struct{}

	registered bool // guarded by hub.mu

	once sync.Once
	mu   sync.Mutex
	err  error
}

// From is the newest event the hub had seen when s subscribed: every event
// after it is delivered to s live (unless s ends first), so a replay need
// go no further.
func (s *Subscription) From() int64 { return s.from }

// Deliveries returns the queue, in event order. It is never closed: stop
// reading when Done is closed.
func (s *Subscription) Deliveries() <-chan Delivery { return s.ch }

// Done is closed when the subscription ends: dropped for a full queue,
// revoked, hub closed, or Close called. Err then says which.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is open, then ErrSlow, ErrRevoked or ErrClosed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close unsubscribes. It is idempotent and safe to call concurrently with
// deliveries; Err keeps the reason the subscription first ended.
func (s *Subscription) Close() {
	s.hub.remove(s)
	s.finish(ErrClosed)
}

func (s *Subscription) finish(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	})
}

func (s *Subscription) is(o *Subscription) bool { return s == o }
