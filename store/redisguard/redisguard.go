// Package redisguard is what the store's Redis-backed parts (the fragment
// cache, the limits) share. To hostelhub Redis is an accelerator: every
// call is bounded in time, and a failure is counted and logged, at most
// every so often, but never made the user's problem.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Bounded runs fn with a context that ends after d, and returns no later
// than that even if fn ignores its context. go-redis applies context
// deadlines to socket I/O only when ContextTimeoutEnabled is set, and the
// caller builds the client. If fn overruns, its goroutine finishes in the
// background (within the client's own ReadTimeout), and its result is
// discarded.
func Bounded[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("no answer within %v: %w", d, ctx.Err())
	}
}

// LogEvery is the least time between two log lines about Redis failing.
const LogEvery = 10 * time.Second

// Health logs Redis failing and answering again for one user of Redis:
// a failure at most every LogEvery (with how many were not logged), and
// the first answer after a failure once.
type Health struct {
	log              *slog.Logger
	failing, healthy string // the messages

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
	down       atomic.Bool
}

// NewHealth logs to log, with failing when Redis fails and healthy when
// it answers again.
func NewHealth(log *slog.Logger, failing, healthy string) *Health {
	return &Health{log: log, failing: failing, healthy: healthy}
}

// Failed notes a failed call.
func (h *Health) Failed(op, key string, err error) {
	h.down.Store(true)
	now := time.Now()
	h.mu.Lock()
	if !h.lastLog.IsZero() && now.Sub(h.lastLog) < LogEvery {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.suppressed = 0
	h.lastLog = now
	h.mu.Unlock()
	h.log.Warn(h.failing, "op", op, "key", key, "err", err, "suppressed_since_last_log", suppressed)
}

// Answered notes a call that Redis answered.
func (h *Health) Answered() {
	if h.down.Load() && h.down.CompareAndSwap(true, false) {
		h.log.Info(h.healthy)
	}
}

// Register registers col, or returns the collector already registered
// under the same description, so that several users can share a
// Registerer. Any other error is a programming error and panics, as with
// MustRegister.
func Register[T prometheus.Collector](reg prometheus.Registerer, col T) T {
	err := reg.Register(col)
	if err == nil {
		return col
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	panic(err)
}
