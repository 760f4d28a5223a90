package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hostelhub/store/redisguard"
	"hostelhub/store/redistest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// recorder is a go-redis hook that counts the commands the cache sends, fails
// the test on KEYS or SCAN, and remembers the keys written so that cleanup can
// delete exactly those keys.
type recorder struct {
	t       testing.TB
	mu      sync.Mutex
	counts  map[string]int
	setKeys map[string]bool
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, counts: map[string]int{}, setKeys: map[string]bool{}}
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.note(cmd)
		return next(ctx, cmd)
	}
}

func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			r.note(cmd)
		}
		return next(ctx, cmds)
	}
}

func (r *recorder) note(cmd redis.Cmder) {
	name := strings.ToLower(cmd.Name())
	if name == "keys" || name == "scan" {
		r.t.Errorf("the cache sent %s: %v", name, cmd.Args())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[name]++
	if name == "set" && len(cmd.Args()) > 1 {
		r.setKeys[fmt.Sprint(cmd.Args()[1])] = true
	}
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[name]
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.counts)
}

// newClient connects to opt with a recorder. It skips the test (fails it on
// CI) if the server does not answer. If cleanupKeys is set, the keys the test
// wrote are deleted by name at the end of the test.
func newClient(t testing.TB, opt *redis.Options, cleanupKeys bool) (*redis.Client, *recorder) {
	t.Helper()
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := redisguard.Bounded(ctx, 2*time.Second, func(ctx context.Context) (string, error) {
		return rdb.Ping(ctx).Result()
	}); err != nil {
		_ = rdb.Close()
		redistest.SkipOrFatal(t, "cache: no Redis at %s: %v", opt.Addr, err)
	}
	rec := newRecorder(t)
	rdb.AddHook(rec)
	t.Cleanup(func() {
		if cleanupKeys {
			rec.mu.Lock()
			keys := make([]string, 0, len(rec.setKeys))
			for k := range rec.setKeys {
				keys = append(keys, k)
			}
			rec.mu.Unlock()
			if len(keys) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = rdb.Del(ctx, keys...).Err()
				cancel()
			}
		}
		_ = rdb.Close()
	})
	return rdb, rec
}

// sharedRedis connects to the shared Redis (redistest.URL: REDIS_URL, else
// the local default), with a recorder whose cleanup deletes the keys the test
// wrote. Where that Redis does not answer, the test skips (fails under CI=true).
func sharedRedis(t testing.TB) (*redis.Client, *recorder) {
	t.Helper()
	u := redistest.URL(t)
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("Redis URL %q: %v", u, err)
	}
	return newClient(t, opt, true)
}

// env is one test's setup: shared Redis or none, a random prefix
// (redistest.Prefix), a metrics registry and a counting logger. Its caches
// are named "dashboard", as the app's is.
type env struct {
	t      *testing.T
	rdb    *redis.Client // nil in in-process mode
	rec    *recorder     // nil in in-process mode
	prefix string
	reg    *prometheus.Registry
	logs   *countingHandler
}

func newEnv(t *testing.T, withRedis bool) *env {
	e := &env{t: t, prefix: redistest.Prefix(t), reg: prometheus.NewRegistry(), logs: &countingHandler{}}
	if withRedis {
		e.rdb, e.rec = sharedRedis(t)
	}
	return e
}

// cache returns a new Cache on e's Redis, prefix, registry and logger; mod may
// change the options. The shared Redis is healthy, so its calls get a
// generous time limit: a busy test machine must not be taken for a Redis
// that does not answer (the tests of a slow or absent Redis use the default).
func (e *env) cache(mod func(*Options)) *Cache {
	opts := Options{Name: "dashboard", Prefix: e.prefix, Registerer: e.reg, Logger: slog.New(e.logs), Timeout: 2 * time.Second}
	if e.rdb != nil {
		opts.Redis = e.rdb
	}
	if mod != nil {
		mod(&opts)
	}
	return New(opts)
}

// redisGet returns the stored value of key, as stored, or nil if there is none.
func (e *env) redisGet(key string) []byte {
	e.t.Helper()
	b, err := e.rdb.Get(context.Background(), key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("GET %s: %v", key, err)
	}
	return b
}

// redisPlain returns the plain bytes of the entry stored at key, or nil if
// there is none. A value that is not an entry fails the test.
func (e *env) redisPlain(key string) []byte {
	e.t.Helper()
	b := e.redisGet(key)
	if b == nil {
		return nil
	}
	ent, err := unmarshalEntry(b)
	if err != nil {
		e.t.Fatalf("Redis %s = %q: %v", key, b, err)
	}
	return ent.Plain
}

// metric returns the value of a counter (or the sample count of a histogram)
// in reg, with the given label pairs.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// forModes runs f against the in-process mode and against the shared Redis.
func forModes(t *testing.T, f func(t *testing.T, e *env)) {
	for _, mode := range []struct {
		name  string
		redis bool
	}{{"in-process", false}, {"redis", true}} {
		t.Run(mode.name, func(t *testing.T) {
			f(t, newEnv(t, mode.redis))
		})
	}
}

// renderer renders numbered fragments and counts its renders.
type renderer struct {
	name  string
	delay time.Duration
	n     atomic.Int64
}

func (r *renderer) render(ctx context.Context) ([]byte, error) {
	n := r.n.Add(1)
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	return r.want(n), nil
}

// want is the body of the renderer's nth render.
func (r *renderer) want(n int64) []byte {
	return []byte(fmt.Sprintf("<section>%s render %d</section>", r.name, n))
}

func (r *renderer) renders() int64 { return r.n.Load() }

// countingHandler is a slog handler that counts records.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h *countingHandler) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h *countingHandler) WithGroup(string) slog.Handler             { return h }

// plain is ent's plain bytes, or nil for no entry.
func plain(ent *Entry) []byte {
	if ent == nil {
		return nil
	}
	return ent.Plain
}

// expectGet calls c.Get, checks the result and returns the entry.
func expectGet(t *testing.T, c *Cache, variant string, render RenderFunc, wantBody []byte, wantStatus Status) *Entry {
	t.Helper()
	ent, st, err := c.Get(context.Background(), variant, render)
	if err != nil {
		t.Fatalf("Get(%q) at v%d: error %v", variant, c.Version(), err)
	}
	if ent == nil || !bytes.Equal(ent.Plain, wantBody) || st != wantStatus {
		t.Fatalf("Get(%q) at v%d = %q, %s; want %q, %s", variant, c.Version(), plain(ent), st, wantBody, wantStatus)
	}
	return ent
}
