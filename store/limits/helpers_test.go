package limits

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"hostelhub/store/redistest"
)

// env is one Redis and one key prefix that a test's "instances" share.
type env struct {
	t       testing.TB
	rdb     redis.UniversalClient // nil: memory only
	prefix  string
	timeout time.Duration // each Redis call's bound; 0: the default
}

// memoryEnv counts in memory: each backend on its own, as instances without Redis.
func memoryEnv(t testing.TB) *env { return &env{t: t} }

// redisEnv counts in the shared test Redis, under a prefix of the test's
// own. Its calls are bounded by a second, not 50 ms: these tests are about
// counting, and a machine busy with other tests must not turn them into
// tests of the fallback.
func redisEnv(t testing.TB) *env {
	return &env{t: t, rdb: redistest.Client(t), prefix: redistest.Prefix(t), timeout: time.Second}
}

// privateEnv counts in a private redis-server that the test may kill and restart.
func privateEnv(t testing.TB) (*env, *redistest.Server) {
	s := redistest.Start(t)
	opts, _ := redis.ParseURL(s.URL())
	opts.ContextTimeoutEnabled = true // as the app builds its client
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return &env{t: t, rdb: c, prefix: redistest.Prefix(t)}, s
}

// hungEnv is a "Redis" that accepts connections and never answers.
func hungEnv(t testing.TB) *env {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return &env{t: t, rdb: c, prefix: "hung:"}
}

// backend is one instance's backend, closed when the test ends.
func (e *env) backend(opts ...func(*Options)) *Backend {
	reg := prometheus.NewRegistry()
	o := Options{Redis: e.rdb, Prefix: e.prefix, Timeout: e.timeout, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Registerer: reg}
	for _, f := range opts {
		f(&o)
	}
	b := New(o)
	registries.Store(b, reg)
	e.t.Cleanup(b.Close)
	return b
}

// logTo sends a backend's log lines to w.
func logTo(w *syncBuffer) func(*Options) {
	return func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(w, nil)) }
}

func redisErrors(b *Backend, op string) float64 {
	return metric(b, "hostelhub_limits_redis_errors_total", op)
}

func refused(b *Backend, name string) float64 {
	return metric(b, "hostelhub_limits_refused_total", name)
}

// registries are the test backends' own.
var registries sync.Map // *Backend -> *prometheus.Registry

// metric is the value of the backend's counter called name whose one label is value.
func metric(b *Backend, name, value string) float64 {
	reg, _ := registries.Load(b)
	mfs, err := reg.(*prometheus.Registry).Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
