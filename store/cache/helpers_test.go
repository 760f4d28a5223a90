package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hostelhub/store/redistest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisURL is the shared Redis that the tests use.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// skipOrFatal skips the test when something it needs is missing, unless
// CI=true, where a missing dependency fails the test.
var skipOrFatal = redistest.SkipOrFatal

func randomPrefix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "hostelhub-test:" + hex.EncodeToString(b[:]) + ":"
}

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
	if _, err := bounded(ctx, 2*time.Second, func(ctx context.Context) (string, error) {
		return rdb.Ping(ctx).Result()
	}); err != nil {
		_ = rdb.Close()
		skipOrFatal(t, "cache: no Redis at %s: %v", opt.Addr, err)
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

var (
	probeOnce sync.Once
	probeErr  error
)

// sharedRedis connects to REDIS_URL (or the local default). Whether it
// answers is probed once per test binary, without retries, so that a missing
// Redis costs one connection attempt, not one per test.
func sharedRedis(t testing.TB) (*redis.Client, *recorder) {
	t.Helper()
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("REDIS_URL %q: %v", redisURL(), err)
	}
	probeOnce.Do(func() {
		probeOpt := *opt
		probeOpt.MaxRetries = -1
		probeOpt.DialTimeout = time.Second
		probe := redis.NewClient(&probeOpt)
		defer probe.Close()
		_, probeErr = bounded(context.Background(), 2*time.Second, func(ctx context.Context) (string, error) {
			return probe.Ping(ctx).Result()
		})
	})
	if probeErr != nil {
		skipOrFatal(t, "cache: no Redis at %s: %v", opt.Addr, probeErr)
	}
	return newClient(t, opt, true)
}

// env is one test's setup: shared Redis or none, a random prefix, a metrics
// registry and a counting logger.
type env struct {
	t      *testing.T
	rdb    *redis.Client // nil in in-process mode
	rec    *recorder     // nil in in-process mode
	prefix string
	reg    *prometheus.Registry
	logs   *countingHandler
}

func newEnv(t *testing.T, withRedis bool) *env {
	e := &env{t: t, prefix: randomPrefix(t), reg: prometheus.NewRegistry(), logs: &countingHandler{}}
	if withRedis {
		e.rdb, e.rec = sharedRedis(t)
	}
	return e
}

// cache returns a new Cache on e's Redis, prefix, registry and logger; mod may
// change the options.
func (e *env) cache(mod func(*Options)) *Cache {
	opts := Options{Prefix: e.prefix, Registerer: e.reg, Logger: slog.New(e.logs)}
	if e.rdb != nil {
		opts.Redis = e.rdb
	}
	if mod != nil {
		mod(&opts)
	}
	return New(opts)
}

// redisGet returns the stored value of key, or nil if there is none.
func (e *env) redisGet(key string) []byte {
	e.t.Helper()
	b, err := e.rdb.Get(context.Background(), key).Bytes()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		e.t.Fatalf("GET %s: %v", key, err)
	}
	return b
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

// expectGet calls c.Get and checks the result.
func expectGet(t *testing.T, c *Cache, variant string, render RenderFunc, wantBody []byte, wantStatus Status) {
	t.Helper()
	body, st, err := c.Get(context.Background(), variant, render)
	if err != nil {
		t.Fatalf("Get(%q) at v%d: error %v", variant, c.Version(), err)
	}
	if !bytes.Equal(body, wantBody) || st != wantStatus {
		t.Fatalf("Get(%q) at v%d = %q, %s; want %q, %s", variant, c.Version(), body, st, wantBody, wantStatus)
	}
}
