package realtime

import (
	"context"
	"sync"
)

// Transport wakes the followers of every instance when an event commits.
// A notification is only a hint carrying the newest event id: followers read
// the event table itself, so a transport may coalesce, reorder or (while it
// is down) lose notifications without losing events.
type Transport interface {
	// Notify announces that events up to id are committed.
	Notify(ctx context.Context, id int64) error
	// Listen calls wake for notifications from any instance (this one
	// included) until ctx ends, then returns nil. A burst may be merged into
	// one call carrying the highest id; wake(0) means "something may have
	// been missed, read anyway". wake must not block.
	Listen(ctx context.Context, wake func(id int64)) error
}

// LocalTransport is an in-process Transport for a single instance and for
// tests. Notify never blocks: each listener keeps only the highest pending
// id, so a burst of notifications costs one wake-up, not a queue.
type LocalTransport struct {
	mu        sync.Mutex
	listeners map[*localListener]struct{}
}

type localListener struct {
	signal  chan struct{}
	mu      sync.Mutex
	pending int64
}

// NewLocalTransport returns an in-process Transport.
func NewLocalTransport() *LocalTransport {
	return &LocalTransport{listeners: make(map[*localListener]struct{})}
}

// Notify wakes every current listener with id (merged into any pending one).
func (t *LocalTransport) Notify(_ context.Context, id int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for l := range t.listeners {
		l.mu.Lock()
		l.pending = max(l.pending, id)
		l.mu.Unlock()
		select {
		case l.signal <- struct{}{}:
		default:
		}
	}
	return nil
}

// Listen calls wake for notifications until ctx ends.
func (t *LocalTransport) Listen(ctx context.Context, wake func(id int64)) error {
	l := &localListener{signal: make(chan struct{}, 1)}
	t.mu.Lock()
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, l)
		t.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.signal:
			l.mu.Lock()
			id := l.pending
			l.pending = 0
			l.mu.Unlock()
			wake(id)
		}
	}
}
