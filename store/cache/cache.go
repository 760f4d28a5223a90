// Package cache keeps server-rendered fragments (management's dashboard, as
// HTML and JSON) in two tiers: an in-process copy and Redis. Each is kept
// plain and compressed once (see Entry), so that a hit costs neither a
// render nor a compression. It replaces the seed's five-minute Redis cache
// that was cleared with KEYS.
//
// # Versions instead of invalidation
//
// The data version is an event id. Every change in the app commits an event
// row with a monotonically increasing id. Every instance follows the event
// table in id order and calls [Cache.Advance] with the id of each event that
// can change the fragment. A key names the cache, the version and every
// other input of the fragment:
//
//	{prefix}{name}:v{version}:{variant}
//
// The variant names every other input (the format, the audience), so content
// for one audience is never served to another. A newer version just stops
// reading older keys. Those keys then expire by TTL. Nothing is deleted, and
// the package never uses KEYS or SCAN. The cache sends no invalidation
// messages of its own: an instance's in-process copy is dropped when that
// instance reaches the event. So the Redis pub/sub that DESIGN.md mentions is
// not needed.
//
// # Get
//
//  1. The in-process copy for (current version, variant): two atomic loads
//     and one lookup in a read-only map. No lock, no clock read (a timer
//     removes the entry when its TTL ends), no Redis, no allocation.
//  2. Otherwise one flight per (version, variant) in this instance
//     (singleflight). The flight checks the in-process copy again, then does one
//     Redis GET of the versioned key (pipelined with PTTL, so that a copy
//     taken from Redis lives no longer than the key). If that misses, it
//     renders and then fills the in-process copy and Redis (SET key EX ttl).
//     The SET is skipped if the GET has just failed. Concurrent misses wait
//     for the flight and get its bytes. Because the Redis GET is also inside
//     the flight, a stampede sends Redis one GET, not one per request.
//
// A render fills only the version it started from. The in-process copy lives
// in a generation object that [Cache.Advance] replaces, and a fill goes to the
// generation the flight started from. So a render that began before an
// Advance is never served to a Get that starts after it. Its Redis fill goes
// to its own versioned key, which no instance at a newer version reads. That
// fill is harmless, and it still helps an instance that has not yet reached
// the newer event.
//
// # Redis is an accelerator
//
// Each Redis call is bounded by Options.Timeout. The package enforces that
// bound itself, so it holds even when the client was built without
// ContextTimeoutEnabled (go-redis then ignores context deadlines on the
// socket). Building the client with ContextTimeoutEnabled is still better:
// then go-redis gives up the socket at the same moment, instead of at its
// ReadTimeout. A Redis error or timeout is never returned to the caller. Get
// renders directly and serves the result. The in-process tier keeps working.
// The error is counted in hostelhub_{name}_cache_redis_errors_total and
// logged at most once every 10 s. Redis hits resume by themselves when Redis
// answers again.
//
// # No singleflight across instances (a deliberate choice)
//
// There is no cross-instance render lock (SET NX PX plus polling by the
// waiters). The stampede that hurts is many concurrent requests to one
// instance, and the in-process singleflight already reduces it to one render.
// Across instances the worst case is one render per instance per (version,
// variant). That cost grows with the number of instances (a handful), not
// with the traffic. All instances see an event at about the same moment, so
// their waiters would often poll for about as long as a render takes. A lock
// would also add a Redis round trip to every miss. It would add a failure mode
// (a holder that dies leaves waiters polling until the lock expires) and a
// second degraded path when Redis is down. Saving N-1 renders of one
// query per event is not worth that.
package cache

import (
	"context"
	"errors"
	"fmt"
	"hostelhub/store/redisguard"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Default values for the zero fields of [Options].
const (
	// DefaultTTL is how long an entry lives in Redis and in process: the
	// seed's five minutes.
	DefaultTTL = 300 * time.Second
	// DefaultTimeout bounds each Redis call.
	DefaultTimeout = 50 * time.Millisecond
)

// Status tells whether Get served stored bytes or rendered them. The app sends
// it as the X-Cache response header.
type Status string

const (
	// Hit means the bytes came from the in-process copy or from Redis.
	Hit Status = "HIT"
	// Miss means the bytes were rendered for this Get, or for a concurrent
	// Get whose render this one waited for. It is also the status returned
	// with an error.
	Miss Status = "MISS"
)

// RenderFunc produces the fragment for the current data. It must not modify
// the returned slice afterwards, because the cache keeps it and hands it out.
// It is an alias, so Get's signature is the plain func type and callers'
// interfaces match it.
type RenderFunc = func(ctx context.Context) ([]byte, error)

// Options configures a [Cache]. The zero value is a valid in-process cache.
type Options struct {
	// Name names what is cached, in keys and metrics (default "fragment"):
	// "dashboard" gives keys {prefix}dashboard:v… and metrics
	// hostelhub_dashboard_cache_….
	Name string
	// Redis is the shared second tier. If it is nil, the cache is in-process
	// only (the laptop default) and has the same semantics.
	Redis redis.UniversalClient
	// Prefix is put in front of every Redis key, e.g. "hostelhub:{epoch}:".
	Prefix string
	// TTL is how long an entry lives, both in Redis (SET ... EX) and in
	// process. A copy read from Redis keeps at most the key's remaining TTL.
	// If TTL <= 0, DefaultTTL is used.
	TTL time.Duration
	// Timeout bounds each Redis call. If Timeout <= 0, DefaultTimeout is used.
	Timeout time.Duration
	// Registerer receives the metrics. If it is nil, nothing is registered.
	// Caches that share a Registerer share the metrics.
	Registerer prometheus.Registerer
	// Logger receives the rate-limited Redis error lines and render panics.
	// If it is nil, slog.Default() is used.
	Logger *slog.Logger
}

// Cache is a versioned two-tier fragment cache. It is safe for concurrent
// use. Create one with [New].
type Cache struct {
	rdb     redis.UniversalClient
	prefix  string // {Prefix}{Name}:
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger
	met     *metrics

	gen     atomic.Pointer[generation]
	flights singleflight.Group

	health *redisguard.Health

	// afterRenderHook, if set (by tests), runs between the end of a
	// successful render and the fill.
	afterRenderHook func()
}

// generation holds the in-process copies for one version. Advance replaces
// the whole generation and closes the old one, which drops its entries. A
// flight that started at an older version can only write into its own
// generation, and a closed generation takes no writes.
//
// Reads are lock-free: the map is never modified once published, and writers
// publish a modified copy. Writes are rare (one per variant per version). An
// entry is removed by its own timer when its TTL ends. That is why the hit
// path reads no clock: on a VM, time.Now costs about twice the rest of the
// hit.
type generation struct {
	version int64
	mu      sync.Mutex // serialises writers; guards closed and the timers
	closed  bool
	entries atomic.Pointer[map[string]*entry]
}

type entry struct {
	*Entry
	timer *time.Timer // removes the entry when its TTL ends
}

func newGeneration(version int64) *generation {
	g := &generation{version: version}
	empty := map[string]*entry{}
	g.entries.Store(&empty)
	return g
}

func (g *generation) lookup(variant string) (*Entry, bool) {
	if e := (*g.entries.Load())[variant]; e != nil {
		return e.Entry, true
	}
	return nil, false
}

// store keeps body for variant for ttl, unless the generation is closed.
func (g *generation) store(variant string, body *Entry, ttl time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	old := *g.entries.Load()
	if prev := old[variant]; prev != nil {
		prev.timer.Stop()
	}
	m := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &entry{Entry: body}
	m[variant] = e
	g.entries.Store(&m)
	e.timer = time.AfterFunc(ttl, func() { g.expire(variant, e) })
}

// expire removes e, if it is still the entry of variant.
func (g *generation) expire(variant string, e *entry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.entries.Load()
	if old[variant] != e {
		return
	}
	m := make(map[string]*entry, len(old))
	for k, v := range old {
		if k != variant {
			m[k] = v
		}
	}
	g.entries.Store(&m)
}

// close stops the generation's timers and refuses further writes. A Get that
// loaded g just before the Advance may still read it: serving the old version
// to a request concurrent with the Advance is fine.
func (g *generation) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, e := range *g.entries.Load() {
		e.timer.Stop()
	}
}

// New returns a cache at version 0. The app should call [Cache.Advance] with
// the newest event id before it serves requests.
func New(opts Options) *Cache {
	if opts.Name == "" {
		opts.Name = "fragment"
	}
	c := &Cache{
		rdb:     opts.Redis,
		prefix:  opts.Prefix + opts.Name + ":",
		ttl:     opts.TTL,
		timeout: opts.Timeout,
		log:     opts.Logger,
		met:     newMetrics(opts.Name, opts.Registerer),
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.health = redisguard.NewHealth(c.log, "cache: redis unavailable, rendering directly", "cache: redis answers again")
	c.gen.Store(newGeneration(0))
	return c
}

// Advance raises the current version to version and ignores a lower or equal
// one. The in-process entries of older versions are dropped. From now on, Get
// reads and fills only keys of the new version.
func (c *Cache) Advance(version int64) {
	for {
		cur := c.gen.Load()
		if version <= cur.version {
			return
		}
		if c.gen.CompareAndSwap(cur, newGeneration(version)) {
			cur.close()
			return
		}
	}
}

// Version returns the current version.
func (c *Cache) Version() int64 {
	return c.gen.Load().version
}

// Get returns the fragment variant for the current version, and whether it
// was a Hit or a Miss. The returned entry is shared with other callers and
// must not be modified.
//
// On a miss, render runs at most once per (version, variant) in this
// instance, however many Gets are waiting for it. Render gets a context that
// carries the values of the Get that started the flight, but not its
// cancellation: the other waiters still need the result. So render should
// bound its own work (e.g. with the database's statement timeout). A Get
// whose ctx ends while it waits returns ctx.Err(). An error from render is
// returned and nothing is cached. Redis failures are never returned.
func (c *Cache) Get(ctx context.Context, variant string, render RenderFunc) (*Entry, Status, error) {
	g := c.gen.Load()
	if body, ok := g.lookup(variant); ok {
		c.met.hitMemory.Inc()
		return body, Hit, nil
	}
	return c.miss(ctx, g, variant, render)
}

type tier int

const (
	tierRender tier = iota
	tierMemory
	tierRedis
)

type fetched struct {
	body *Entry
	from tier
}

func (c *Cache) miss(ctx context.Context, g *generation, variant string, render RenderFunc) (*Entry, Status, error) {
	key := c.key(g.version, variant)
	flightCtx := context.WithoutCancel(ctx)
	ch := c.flights.DoChan(key, func() (any, error) {
		return c.fetch(flightCtx, g, key, variant, render)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			c.met.misses.Inc()
			return nil, Miss, res.Err
		}
		f := res.Val.(*fetched)
		switch f.from {
		case tierMemory:
			c.met.hitMemory.Inc()
			return f.body, Hit, nil
		case tierRedis:
			c.met.hitRedis.Inc()
			return f.body, Hit, nil
		default:
			c.met.misses.Inc()
			return f.body, Miss, nil
		}
	case <-ctx.Done():
		c.met.misses.Inc()
		return nil, Miss, ctx.Err()
	}
}

// fetch is the body of a flight: it runs once per (version, variant) at a time.
func (c *Cache) fetch(ctx context.Context, g *generation, key, variant string, render RenderFunc) (*fetched, error) {
	// A flight that finished just before this one started has already filled
	// the in-process copy.
	if body, ok := g.lookup(variant); ok {
		return &fetched{body: body, from: tierMemory}, nil
	}
	redisUp := c.rdb != nil
	if redisUp {
		body, ttl, found, err := c.redisGet(ctx, key)
		if found {
			c.keep(g, variant, body, ttl)
			return &fetched{body: body, from: tierRedis}, nil
		}
		// Redis just failed: don't make this flight wait a second Timeout
		// for the SET.
		redisUp = err == nil
	}
	plain, err := c.render(ctx, render)
	if err != nil {
		return nil, err
	}
	body, err := newEntry(plain)
	if err != nil {
		return nil, fmt.Errorf("cache: compress: %w", err)
	}
	if c.afterRenderHook != nil {
		c.afterRenderHook()
	}
	// Fill only the version the render started from. g is that version's
	// generation. If Advance has closed it, keep does nothing, and the key
	// below names the old version, which no newer Get reads.
	c.keep(g, variant, body, c.ttl)
	if redisUp {
		c.redisSet(ctx, key, body)
	}
	return &fetched{body: body, from: tierRender}, nil
}

// keep stores body as the in-process copy of (g.version, variant) for ttl. It
// does nothing if ttl <= 0 or if Advance has closed g.
func (c *Cache) keep(g *generation, variant string, body *Entry, ttl time.Duration) {
	if ttl > 0 {
		g.store(variant, body, ttl)
	}
}

func (c *Cache) render(ctx context.Context, fn RenderFunc) (body []byte, err error) {
	c.met.renders.Inc()
	start := time.Now()
	defer func() {
		// A panic inside a singleflight.DoChan flight would crash the
		// process, so it becomes this Get's error instead (net/http would
		// have recovered it in a handler).
		if r := recover(); r != nil {
			c.log.Error("cache: render panicked", "panic", r, "stack", string(debug.Stack()))
			body, err = nil, fmt.Errorf("cache: render panicked: %v", r)
		}
		c.met.renderSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			c.met.renderErrors.Inc()
		}
	}()
	return fn(ctx)
}

// key returns the Redis key (and singleflight key) of (version, variant).
func (c *Cache) key(version int64, variant string) string {
	return c.prefix + "v" + strconv.FormatInt(version, 10) + ":" + variant
}

type redisValue struct {
	body *Entry
	ttl  time.Duration
}

// redisGet reads key and its remaining TTL in one round trip. found is false
// on a miss (err == nil) and on a Redis failure (err != nil; already counted
// and logged). An entry that is not in this package's form counts as a
// failure: it is rendered again, and the SET replaces it.
func (c *Cache) redisGet(ctx context.Context, key string) (body *Entry, ttl time.Duration, found bool, err error) {
	v, err := redisguard.Bounded(ctx, c.timeout, func(ctx context.Context) (redisValue, error) {
		var get *redis.StringCmd
		var pttl *redis.DurationCmd
		_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, key)
			pttl = p.PTTL(ctx, key)
			return nil
		})
		b, err := get.Bytes()
		if err != nil {
			return redisValue{}, err
		}
		ttl, err := pttl.Result()
		if err != nil {
			return redisValue{}, err
		}
		body, err := unmarshalEntry(b)
		if err != nil {
			return redisValue{}, err
		}
		return redisValue{body: body, ttl: ttl}, nil
	})
	switch {
	case errors.Is(err, redis.Nil):
		c.redisAnswered()
		return nil, 0, false, nil
	case errors.Is(err, errEntry):
		c.redisFailed("get", key, err)
		return nil, 0, false, nil
	case err != nil:
		c.redisFailed("get", key, err)
		return nil, 0, false, err
	}
	c.redisAnswered()
	switch {
	case v.ttl == -2: // The key expired between GET and PTTL: serve it, don't keep it.
		v.ttl = 0
	case v.ttl < 0 || v.ttl > c.ttl: // No expiry (not written by this package), or a longer TTL.
		v.ttl = c.ttl
	}
	return v.body, v.ttl, true, nil
}

func (c *Cache) redisSet(ctx context.Context, key string, body *Entry) {
	_, err := redisguard.Bounded(ctx, c.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.rdb.Set(ctx, key, body.marshal(), c.ttl).Err()
	})
	if err != nil {
		c.redisFailed("set", key, err)
		return
	}
	c.redisAnswered()
}

// redisFailed counts a Redis error and logs it, at most every so often.
func (c *Cache) redisFailed(op, key string, err error) {
	if op == "get" {
		c.met.redisGetErrors.Inc()
	} else {
		c.met.redisSetErrors.Inc()
	}
	c.health.Failed(op, key, err)
}

func (c *Cache) redisAnswered() { c.health.Answered() }
