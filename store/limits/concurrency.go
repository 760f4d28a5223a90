package limits

import (
	"context"
	"errors"
	"fmt"
	"hostelhub/store/redisguard"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// acquireScript trims a key's expired holds, and adds one unless the key
// holds max already. It reads the time from Redis, so that instances'
// clocks need not agree. KEYS[1]: the key's set; ARGV: the hold, max, the
// hold's TTL in ms. It returns {1, count} when added, or {0, count, ms
// until the soonest hold expires} when not.
//
// Every write of a hold sets the set's own expiry to the TTL: a hold's
// score is the time of its last write plus the TTL, so the set outlives
// every hold in it, and a set nobody refreshes goes away by itself.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, tonumber(first[2]) - now}
end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, n + 1}
`)

// refreshScript moves a hold's expiry to TTL from now, writing the hold
// back if Redis lost it (a restart). KEYS[1]: the set; ARGV: the hold, the TTL in ms.
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// Concurrency allows at most max holds per key at once, across instances.
// Make one with [Backend.Concurrency].
type Concurrency struct {
	b    *Backend
	name string
	max  int

	mu         sync.Mutex
	seq        uint64
	local      map[string]int     // this instance's holds per key
	held       map[*hold]struct{} // this instance's holds, refreshed in Redis
	refreshing bool               // the refresh goroutine runs
}

type hold struct {
	key, member string
	released    bool // guarded by Concurrency.mu
}

// Concurrency returns the limiter of max holds per key, called name in
// Redis keys and metrics. It panics unless max >= 1.
func (b *Backend) Concurrency(name string, max int) *Concurrency {
	if max < 1 {
		panic(fmt.Sprintf("limits: concurrency %q needs max >= 1, not %d", name, max))
	}
	return &Concurrency{b: b, name: name, max: max, local: make(map[string]int), held: make(map[*hold]struct{})}
}

// Acquire takes one of key's holds, if key holds fewer than max. Then
// release gives it back; call it exactly once, when what was held ends (it
// is safe to call again, and from any goroutine). Otherwise ok is false
// and retryAfter is how long to wait before asking again. Acquire never
// fails: where Redis does not answer within the backend's Timeout (or did
// not, within its Pause), this instance's own holds decide.
func (c *Concurrency) Acquire(ctx context.Context, key string) (release func(), ok bool, retryAfter time.Duration) {
	c.mu.Lock()
	if c.local[key] >= c.max { // this instance alone holds max: no need to ask
		c.mu.Unlock()
		return c.refuse(c.b.refreshEvery)
	}
	c.seq++
	h := &hold{key: key, member: c.b.instance + ":" + strconv.FormatUint(c.seq, 10)}
	c.mu.Unlock()

	if c.b.askRedis() {
		rkey := c.redisKey(key)
		res, err := redisguard.Bounded(ctx, c.b.timeout, func(ctx context.Context) ([]int64, error) {
			return acquireScript.Run(ctx, c.b.rdb, []string{rkey}, h.member, c.max, c.b.holdTTL.Milliseconds()).Int64Slice()
		})
		if err == nil && len(res) < 2 {
			err = fmt.Errorf("limits: acquire answered %v", res)
		}
		if err == nil {
			c.b.redisAnswered()
			if res[0] == 0 {
				retry := c.b.refreshEvery
				if len(res) > 2 && res[2] > 0 {
					retry = min(retry, time.Duration(res[2])*time.Millisecond)
				}
				return c.refuse(retry)
			}
			c.mu.Lock()
			c.keep(h)
			c.mu.Unlock()
			return c.releaser(h), true, 0
		}
		c.b.redisFailed("acquire", rkey, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local[key] >= c.max {
		return c.refuse(c.b.refreshEvery)
	}
	c.keep(h)
	return c.releaser(h), true, 0
}

func (c *Concurrency) refuse(retry time.Duration) (func(), bool, time.Duration) {
	c.b.met.refused.WithLabelValues(c.name).Inc()
	return nil, false, max(retry, time.Second)
}

func (c *Concurrency) redisKey(key string) string { return c.b.prefix + c.name + ":" + key }

// keep counts h as this instance's, and (with Redis) makes sure it is
// refreshed, also when it was counted in memory only: once Redis answers
// again the refresh writes it there. c.mu must be held.
func (c *Concurrency) keep(h *hold) {
	c.local[h.key]++
	c.held[h] = struct{}{}
	if c.b.rdb != nil && !c.refreshing {
		select {
		case <-c.b.done:
		default:
			c.refreshing = true
			go c.refreshLoop()
		}
	}
}

func (c *Concurrency) releaser(h *hold) func() {
	var once sync.Once
	return func() { once.Do(func() { c.release(h) }) }
}

func (c *Concurrency) release(h *hold) {
	c.mu.Lock()
	h.released = true
	delete(c.held, h)
	if c.local[h.key]--; c.local[h.key] <= 0 {
		delete(c.local, h.key)
	}
	c.mu.Unlock()
	if c.b.rdb != nil {
		// Whether Redis or memory counted it: a refresh may have written it
		// to Redis since. Where this fails, the hold expires within the TTL.
		c.remove(context.Background(), []*hold{h})
	}
}

// remove takes holds out of Redis.
func (c *Concurrency) remove(ctx context.Context, hs []*hold) {
	_, err := redisguard.Bounded(ctx, c.b.timeout, func(ctx context.Context) (struct{}, error) {
		_, err := c.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, h := range hs {
				p.ZRem(ctx, c.redisKey(h.key), h.member)
			}
			return nil
		})
		return struct{}{}, err
	})
	if err != nil {
		c.b.redisFailed("release", c.redisKey(hs[0].key), err)
	}
}

// refreshLoop refreshes this instance's holds every RefreshEvery while it
// has any, until the backend is closed.
func (c *Concurrency) refreshLoop() {
	t := time.NewTicker(c.b.refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-c.b.done:
			c.mu.Lock()
			c.refreshing = false
			c.mu.Unlock()
			return
		case <-t.C:
		}
		c.mu.Lock()
		if len(c.held) == 0 {
			c.refreshing = false
			c.mu.Unlock()
			return
		}
		hs := make([]*hold, 0, len(c.held))
		for h := range c.held {
			hs = append(hs, h)
		}
		c.mu.Unlock()
		c.refresh(hs)
	}
}

// refresh moves the expiry of hs on, in one pipeline.
func (c *Concurrency) refresh(hs []*hold) {
	ctx := context.Background()
	// Off any request's path: as long as half a refresh interval, so that
	// a slow refresh never overlaps the next.
	_, err := redisguard.Bounded(ctx, max(c.b.timeout, c.b.refreshEvery/2), func(ctx context.Context) (struct{}, error) {
		err := c.refreshPipeline(ctx, hs, true)
		if noScript(err) {
			err = c.refreshPipeline(ctx, hs, false)
		}
		return struct{}{}, err
	})
	if err != nil {
		c.b.redisFailed("refresh", c.redisKey(hs[0].key), err)
	} else {
		c.b.redisAnswered()
	}
	// A hold released while the refresh was on its way may have been
	// written back after its release removed it: remove it again.
	var gone []*hold
	c.mu.Lock()
	for _, h := range hs {
		if h.released {
			gone = append(gone, h)
		}
	}
	c.mu.Unlock()
	if len(gone) > 0 {
		c.remove(ctx, gone)
	}
}

// refreshPipeline sends the refresh script for each hold, by its hash
// (sha) or in full (once Redis has said it does not know the hash).
func (c *Concurrency) refreshPipeline(ctx context.Context, hs []*hold, sha bool) error {
	ttl := c.b.holdTTL.Milliseconds()
	cmds, err := c.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range hs {
			keys := []string{c.redisKey(h.key)}
			if sha {
				refreshScript.EvalSha(ctx, p, keys, h.member, ttl)
			} else {
				refreshScript.Eval(ctx, p, keys, h.member, ttl)
			}
		}
		return nil
	})
	for _, cmd := range cmds {
		if e := cmd.Err(); noScript(e) {
			return e
		}
	}
	return err
}

// noScript reports whether err is Redis not knowing a script by its hash
// (after a restart, say).
func noScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// Held is how many holds key has on this instance.
func (c *Concurrency) Held(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local[key]
}
