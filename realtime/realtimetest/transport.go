package realtimetest

import (
	"context"
	"sync"
)

// LocalTransport is an in-process realtime.Transport for tests of a single
// instance. Notify never blocks: each listener keeps only the highest pending
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
