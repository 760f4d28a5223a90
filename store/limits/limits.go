// Package limits keeps the counts behind hostelhub's limits: how many
// times a key (a user and a kind of write, a client address, an account
// name) did something lately, and how many things a key holds open at once
// (a user's live streams). With Redis every instance counts in one place,
// so N instances share one budget; without Redis, or while Redis does not
// answer, each instance counts in its own memory and keeps serving.
//
// It lives in store because what it keeps is state that outlives a request
// and is shared between instances, in Redis beside the dashboard cache.
// Which requests are limited, and how a refusal is answered, is the HTTP
// layer's (handlers/limits.go).
//
// # Rates
//
// A [RateLimiter] allows N events per period per key: N at once, then one
// more every period/N (GCRA, which is a token bucket kept as one
// timestamp). In Redis it is go-redis's redis_rate, one atomic script per
// event; in memory it is golang.org/x/time/rate, the same bucket. Memory
// counts what this instance allowed even while Redis decides, so that when
// Redis stops answering an instance goes on from what it let through
// itself instead of handing out a fresh budget. A bucket unused for a whole
// period is full again, as good as a new one, and is forgotten: memory
// holds only the keys active within a period.
//
// # Held things
//
// A [Concurrency] limits how many things a key holds open at once, across
// instances. In Redis each key has a sorted set of holds (this instance's
// and others', named by instance and sequence) scored by when they expire;
// one script trims the expired, counts and adds atomically. Each instance
// refreshes the expiry of its own holds from one goroutine, one pipeline,
// every RefreshEvery (30 s) against an expiry of HoldTTL (90 s), so the
// holds of an instance that crashed stop counting within the expiry; a
// hold released normally is removed at once. In memory it is a count per
// key of this instance's holds, which is also what the instance falls back
// on when Redis does not answer.
//
// # Redis failing
//
// Each Redis call on a request's path is bounded by Options.Timeout (50 ms)
// whether or not the client was built with ContextTimeoutEnabled. A call
// that fails or times out is decided in memory instead, counted in
// hostelhub_limits_redis_errors_total and logged at most once every 10 s.
// For Options.Pause (1 s) after a failure the limits count in memory
// without asking Redis: a dead Redis then costs requests nothing (go-redis
// alone would spend seconds redialling, and the bound 50 ms on every
// request). Then Redis is asked again, so sharing resumes by itself when
// it is back. Releasing a hold always asks.
package limits

import (
	"crypto/rand"
	"encoding/hex"
	"hostelhub/store/redisguard"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Default values for the zero fields of [Options].
const (
	// DefaultTimeout bounds each Redis call on a request's path.
	DefaultTimeout = 50 * time.Millisecond
	// DefaultHoldTTL is how long a hold counts in Redis unless refreshed:
	// how long a crashed instance's streams go on counting, at most.
	DefaultHoldTTL = 90 * time.Second
	// DefaultRefreshEvery is how often an instance refreshes its holds, well
	// within DefaultHoldTTL so that a slow or failed refresh is made up for.
	DefaultRefreshEvery = 30 * time.Second
	// DefaultPause is how long the limits count in memory only after a
	// Redis call failed.
	DefaultPause = time.Second
)

// Options configures a [Backend]. The zero value counts in memory only.
type Options struct {
	// Redis is where every instance counts; nil counts in this process.
	Redis redis.UniversalClient
	// Prefix is put in front of every Redis key, e.g. "hostelhub:{epoch}:limits:".
	Prefix string
	// Timeout bounds each Redis call on a request's path (default 50 ms).
	Timeout time.Duration
	// Pause is how long, after a Redis call failed, requests are counted
	// in memory without asking Redis (default 1 s).
	Pause time.Duration
	// HoldTTL and RefreshEvery are a hold's expiry in Redis and how often
	// this instance refreshes its own (defaults 90 s and 30 s).
	HoldTTL      time.Duration
	RefreshEvery time.Duration
	// Registerer receives the metrics; nil registers nothing. Backends
	// that share a Registerer share the metrics.
	Registerer prometheus.Registerer
	// Logger receives the rate-limited Redis error lines (default slog.Default()).
	Logger *slog.Logger
}

// Backend is where limits are counted: Redis when it has a client, with
// this process's memory beside it. Make the limiters from it with
// [Backend.Rate] and [Backend.Concurrency]. It is safe for concurrent use.
type Backend struct {
	rdb          redis.UniversalClient
	prefix       string
	timeout      time.Duration
	pause        time.Duration
	holdTTL      time.Duration
	refreshEvery time.Duration
	instance     string // names this instance's holds in Redis
	log          *slog.Logger
	met          *metrics

	done      chan struct{} // closed by Close: refreshing stops
	closeOnce sync.Once

	health   *redisguard.Health
	askAfter atomic.Int64 // Unix ns before which requests do not ask Redis
}

// New returns a backend.
func New(o Options) *Backend {
	b := &Backend{
		rdb: o.Redis, prefix: o.Prefix, timeout: o.Timeout, pause: o.Pause, holdTTL: o.HoldTTL, refreshEvery: o.RefreshEvery,
		log: o.Logger, met: newMetrics(o.Registerer), done: make(chan struct{}),
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.pause <= 0 {
		b.pause = DefaultPause
	}
	if b.holdTTL <= 0 {
		b.holdTTL = DefaultHoldTTL
	}
	if b.refreshEvery <= 0 {
		b.refreshEvery = DefaultRefreshEvery
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.health = redisguard.NewHealth(b.log, "limits: redis unavailable, counting in this instance's memory",
		"limits: redis answers again; limits are shared again")
	var id [8]byte
	_, _ = rand.Read(id[:])
	b.instance = hex.EncodeToString(id[:])
	return b
}

// Shared reports whether the backend counts in Redis, shared with other instances.
func (b *Backend) Shared() bool { return b.rdb != nil }

// Close stops refreshing this instance's holds in Redis, which then expire
// within HoldTTL as a crashed instance's would. Limiters go on answering.
func (b *Backend) Close() {
	b.closeOnce.Do(func() { close(b.done) })
}

// askRedis reports whether a request should ask Redis: there is one, and
// no call failed within the pause.
func (b *Backend) askRedis() bool {
	return b.rdb != nil && time.Now().UnixNano() >= b.askAfter.Load()
}

// redisFailed counts a Redis error, pauses asking Redis, and logs it, at
// most every so often.
func (b *Backend) redisFailed(op, key string, err error) {
	b.met.redisErrors.WithLabelValues(op).Inc()
	b.askAfter.Store(time.Now().Add(b.pause).UnixNano())
	b.health.Failed(op, key, err)
}

func (b *Backend) redisAnswered() { b.health.Answered() }

// metrics holds the collectors.
type metrics struct {
	refused     *prometheus.CounterVec
	redisErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hostelhub_limits_refused_total",
			Help: "Requests refused for going over a limit, by limit.",
		}, []string{"limit"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hostelhub_limits_redis_errors_total",
			Help: "Redis calls of the limits that failed or timed out, by operation; the limit was counted in memory instead.",
		}, []string{"op"}),
	}
	if reg != nil {
		m.refused = redisguard.Register(reg, m.refused)
		m.redisErrors = redisguard.Register(reg, m.redisErrors)
	}
	return m
}
