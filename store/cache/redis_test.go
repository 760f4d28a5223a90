package cache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hostelhub/store/redistest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Two instances on one Redis with one prefix: B gets A's render from Redis
// without rendering. After both Advance, B misses and renders.
func TestTwoInstances(t *testing.T) {
	e := newEnv(t, true)
	a := e.cache(nil)
	regB := prometheus.NewRegistry()
	b := e.cache(func(o *Options) { o.Registerer = regB })
	ra, rb := &renderer{name: "a"}, &renderer{name: "b"}

	a.Advance(1)
	b.Advance(1)
	expectGet(t, a, "html", ra.render, ra.want(1), Miss)
	expectGet(t, b, "html", rb.render, ra.want(1), Hit) // from Redis
	expectGet(t, b, "html", rb.render, ra.want(1), Hit) // from B's memory
	if n := rb.renders(); n != 0 {
		t.Fatalf("B rendered %d times; want it to use A's render", n)
	}
	if got := metric(t, regB, "hostelhub_dashboard_cache_hits_total", "tier", "redis"); got != 1 {
		t.Errorf("B redis hits = %v, want 1", got)
	}
	if got := metric(t, regB, "hostelhub_dashboard_cache_hits_total", "tier", "memory"); got != 1 {
		t.Errorf("B memory hits = %v, want 1", got)
	}

	a.Advance(2)
	b.Advance(2)
	expectGet(t, b, "html", rb.render, rb.want(1), Miss)
	expectGet(t, a, "html", ra.render, rb.want(1), Hit) // and now A uses B's
	if n := ra.renders(); n != 1 {
		t.Fatalf("A rendered %d times, want 1", n)
	}
}

// An in-process copy read from Redis lives no longer than the Redis key, so
// the TTL bounds the age of what any instance serves.
func TestCopyFromRedisKeepsRemainingTTL(t *testing.T) {
	e := newEnv(t, true)
	short := func(o *Options) { o.TTL = 400 * time.Millisecond }
	a, b := e.cache(short), e.cache(short)
	ra, rb := &renderer{name: "a"}, &renderer{name: "b"}
	a.Advance(1)
	b.Advance(1)
	expectGet(t, a, "html", ra.render, ra.want(1), Miss)
	time.Sleep(200 * time.Millisecond)
	expectGet(t, b, "html", rb.render, ra.want(1), Hit) // ~200ms left on the key
	time.Sleep(250 * time.Millisecond)                  // the key has expired
	expectGet(t, b, "html", rb.render, rb.want(1), Miss)
}

// Redis dies mid-test. Gets keep serving rendered bytes with no error, each in
// well under 200 ms, and the in-process tier keeps working. The errors are
// counted and the log is rate-limited. When the server comes back on the same
// port, Redis hits resume by themselves.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb, _ := newClient(t, &redis.Options{Addr: srv.Addr()}, false)
	logs := &countingHandler{}
	reg := prometheus.NewRegistry()
	opts := Options{Redis: rdb, Prefix: randomPrefix(t), Registerer: reg, Logger: slog.New(logs)}
	a := New(opts)
	r := &renderer{name: "a"}
	v := int64(1)
	a.Advance(v)
	expectGet(t, a, "html", r.render, r.want(1), Miss)

	srv.Kill()
	const rounds = 10
	var worst time.Duration
	for range rounds {
		v++
		a.Advance(v)
		t0 := time.Now()
		expectGet(t, a, "html", r.render, r.want(r.renders()+1), Miss)
		worst = max(worst, time.Since(t0))
		expectGet(t, a, "html", r.render, r.want(r.renders()), Hit)
	}
	if worst >= 200*time.Millisecond {
		t.Fatalf("with Redis down, the slowest Get took %v; want well under 200ms", worst)
	}
	getErrs := metric(t, reg, "hostelhub_dashboard_cache_redis_errors_total", "op", "get")
	setErrs := metric(t, reg, "hostelhub_dashboard_cache_redis_errors_total", "op", "set")
	if getErrs < rounds {
		t.Errorf("redis get errors = %v, want >= %d", getErrs, rounds)
	}
	if n := logs.n.Load(); n < 1 || n > 2 {
		t.Errorf("%d log lines for %v Redis errors; want 1 or 2 (rate-limited)", n, getErrs+setErrs)
	}
	t.Logf("Redis down: slowest Get %v; redis errors get=%v set=%v; %d log line(s)", worst, getErrs, setErrs, logs.n.Load())

	srv.Restart()
	logsWhileDown := logs.n.Load()
	b := New(opts)
	rb := &renderer{name: "b"}
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		v++
		a.Advance(v)
		b.Advance(v)
		if _, _, err := a.Get(context.Background(), "html", r.render); err != nil {
			t.Fatal(err)
		}
		body, st, err := b.Get(context.Background(), "html", rb.render)
		if err != nil {
			t.Fatal(err)
		}
		if st == Hit && bytes.Equal(body, r.want(r.renders())) {
			t.Logf("Redis back: hits from Redis resumed after %d attempt(s)", attempt)
			if logs.n.Load() == logsWhileDown {
				t.Error("no log line says that Redis answers again")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis answers again but hits from Redis did not resume within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis is slow: every command blocks (CLIENT PAUSE). Each call is cut at
// Timeout even though the client has ContextTimeoutEnabled off, so a Get
// still serves quickly, with no error.
func TestRedisSlow(t *testing.T) {
	srv := redistest.Start(t)
	rdb, _ := newClient(t, &redis.Options{Addr: srv.Addr()}, false)
	admin, _ := newClient(t, &redis.Options{Addr: srv.Addr()}, false)
	reg := prometheus.NewRegistry()
	opts := Options{Redis: rdb, Prefix: randomPrefix(t), Registerer: reg, Logger: slog.New(&countingHandler{})}
	a := New(opts)
	r := &renderer{name: "a"}
	v := int64(1)
	a.Advance(v)
	expectGet(t, a, "html", r.render, r.want(1), Miss)

	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "800", "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	var worst time.Duration
	for range 4 {
		v++
		a.Advance(v)
		t0 := time.Now()
		expectGet(t, a, "html", r.render, r.want(r.renders()+1), Miss)
		worst = max(worst, time.Since(t0))
	}
	if worst >= 200*time.Millisecond {
		t.Fatalf("with Redis paused, the slowest Get took %v; want well under 200ms", worst)
	}
	if got := metric(t, reg, "hostelhub_dashboard_cache_redis_errors_total", "op", "get"); got < 4 {
		t.Errorf("redis get errors = %v, want >= 4", got)
	}
	t.Logf("Redis paused: slowest Get %v (Timeout %v)", worst, DefaultTimeout)

	b := New(opts)
	rb := &renderer{name: "b"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v++
		a.Advance(v)
		b.Advance(v)
		_, _, _ = a.Get(context.Background(), "html", r.render)
		if _, st, _ := b.Get(context.Background(), "html", rb.render); st == Hit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hits from Redis did not resume after the pause")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The server's own statistics show that the package's whole workload (misses,
// hits, Advance, two instances, expiry) uses no KEYS and no SCAN. On the
// shared Redis, every test's client hook fails the test on either command.
func TestNoKeysOrScan(t *testing.T) {
	srv := redistest.Start(t)
	rdb, _ := newClient(t, &redis.Options{Addr: srv.Addr()}, false)
	opts := Options{Redis: rdb, Prefix: randomPrefix(t), TTL: 100 * time.Millisecond}
	a, b := New(opts), New(opts)
	r := &renderer{name: "dash"}
	for v := int64(1); v <= 5; v++ {
		a.Advance(v)
		b.Advance(v)
		for _, variant := range []string{"html", "json"} {
			for _, c := range []*Cache{a, b, a, b} {
				if _, _, err := c.Get(context.Background(), variant, r.render); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	time.Sleep(150 * time.Millisecond)
	if _, _, err := a.Get(context.Background(), "html", r.render); err != nil {
		t.Fatal(err)
	}

	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cmdstat_get:") || !strings.Contains(info, "cmdstat_set:") {
		t.Fatalf("INFO commandstats shows no GET/SET; the check would prove nothing:\n%s", info)
	}
	for _, bad := range []string{"cmdstat_keys:", "cmdstat_scan:"} {
		if strings.Contains(info, bad) {
			t.Fatalf("INFO commandstats shows %s:\n%s", strings.TrimSuffix(bad, ":"), info)
		}
	}
	var lines []string
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "cmdstat_") {
			lines = append(lines, strings.Fields(strings.SplitN(l, ",", 2)[0])...)
		}
	}
	t.Logf("commands seen by the private server: %s", strings.Join(lines, " "))
}
