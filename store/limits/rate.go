package limits

import (
	"context"
	"fmt"
	"hostelhub/store/redisguard"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"golang.org/x/time/rate"
)

// Rate is N events per Per: N at once, then one more every Per/N.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string { return fmt.Sprintf("%d per %v", r.N, r.Per) }

// RateLimiter allows a [Rate] of events per key. Make one with [Backend.Rate].
type RateLimiter struct {
	b     *Backend
	name  string
	limit redis_rate.Limit
	rl    *redis_rate.Limiter // nil without Redis
	mem   *memoryRates
}

// Rate returns the limiter of r per key, called name in Redis keys and
// metrics. Limiters of one name share their Redis keys: make one per name.
// It panics unless r.N >= 1 and r.Per > 0.
func (b *Backend) Rate(name string, r Rate) *RateLimiter {
	if r.N < 1 || r.Per <= 0 {
		panic(fmt.Sprintf("limits: rate %q needs N >= 1 and Per > 0, not %v", name, r))
	}
	l := &RateLimiter{
		b: b, name: name,
		limit: redis_rate.Limit{Rate: r.N, Burst: r.N, Period: r.Per},
		mem:   newMemoryRates(r),
	}
	if b.rdb != nil {
		l.rl = redis_rate.NewLimiter(b.rdb)
	}
	return l
}

// Allow counts one event for key if the rate allows it now. Otherwise it
// counts nothing and says how long until one more would be allowed. It
// never fails: where Redis does not answer within the backend's Timeout
// (or did not, within its Pause), this instance's memory decides.
func (l *RateLimiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration) {
	if l.b.askRedis() {
		rkey := l.b.prefix + l.name + ":" + key
		res, err := redisguard.Bounded(ctx, l.b.timeout, func(ctx context.Context) (*redis_rate.Result, error) {
			return l.rl.Allow(ctx, rkey, l.limit)
		})
		if err == nil {
			l.b.redisAnswered()
			if res.Allowed > 0 {
				l.mem.take(key, time.Now()) // what this instance let through, for when Redis is gone
				return true, 0
			}
			l.b.met.refused.WithLabelValues(l.name).Inc()
			return false, max(res.RetryAfter, time.Millisecond)
		}
		l.b.redisFailed("allow", rkey, err)
	}
	ok, retryAfter = l.mem.take(key, time.Now())
	if !ok {
		l.b.met.refused.WithLabelValues(l.name).Inc()
	}
	return ok, retryAfter
}

// memoryRates is one token bucket per key in this process.
type memoryRates struct {
	every   time.Duration // one more event allowed every this long
	burst   int
	forget  time.Duration // a bucket unused this long is full again: forgotten
	sweepAt time.Duration // how often idle buckets are looked for

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newMemoryRates(r Rate) *memoryRates {
	return &memoryRates{
		every: r.Per / time.Duration(r.N), burst: r.N,
		forget: r.Per, sweepAt: min(r.Per, time.Minute),
		buckets: make(map[string]*bucket),
	}
}

// take takes one event from key's bucket if it has one, or says how long
// until it will.
func (m *memoryRates) take(key string, now time.Time) (bool, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.swept) >= m.sweepAt {
		for k, b := range m.buckets {
			if now.Sub(b.seen) >= m.forget {
				delete(m.buckets, k)
			}
		}
		m.swept = now
	}
	b := m.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Every(m.every), m.burst)}
		m.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, max(time.Duration(missing*float64(m.every)), time.Millisecond)
}

// size is how many buckets are kept, for tests.
func (m *memoryRates) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}
