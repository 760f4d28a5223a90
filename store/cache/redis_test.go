package cache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
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
	opts := Options{Name: "dashboard", Redis: rdb, Prefix: redistest.Prefix(t), Registerer: reg, Logger: slog.New(logs)}
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
		if st == Hit && bytes.Equal(body.Plain, r.want(r.renders())) {
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
	opts := Options{Name: "dashboard", Redis: rdb, Prefix: redistest.Prefix(t), Registerer: reg, Logger: slog.New(&countingHandler{})}
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
	opts := Options{Name: "dashboard", Redis: rdb, Prefix: redistest.Prefix(t), TTL: 100 * time.Millisecond}
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

// An entry that one instance wrote to Redis is read by a second instance as a
// Redis hit: the same plain bytes, read back from Redis (not shared in
// memory), with the deflate stream as the first instance compressed it (the
// second neither renders nor compresses), so AppendGzip works on it.
func TestEntryRoundTripThroughRedis(t *testing.T) {
	e := newEnv(t, true)
	a := e.cache(nil)
	regB := prometheus.NewRegistry()
	b := e.cache(func(o *Options) { o.Registerer = regB })
	body := bytes.Repeat([]byte("<tr><td>Hostel 7</td><td>42 beds</td></tr>\n"), 2000) // over 64 KiB
	renderA := func(context.Context) ([]byte, error) { return body, nil }
	var rendersB atomic.Int64
	renderB := func(context.Context) ([]byte, error) {
		rendersB.Add(1)
		return []byte("B's own render"), nil
	}

	a.Advance(3)
	b.Advance(3)
	entA := expectGet(t, a, "html", renderA, body, Miss)
	key := a.key(3, "html")
	if got := e.redisGet(key); !bytes.Equal(got, entA.marshal()) {
		t.Fatalf("Redis %s holds %d bytes, want A's marshalled entry (%d bytes)", key, len(got), len(entA.marshal()))
	}

	entB := expectGet(t, b, "html", renderB, body, Hit)
	if entB == entA || &entB.Plain[0] == &entA.Plain[0] {
		t.Fatal("B got A's in-process entry, not one read from Redis")
	}
	if !bytes.Equal(entB.deflated, entA.deflated) {
		t.Error("B's deflate stream differs from the one A cached")
	}
	if n := rendersB.Load(); n != 0 {
		t.Errorf("B rendered %d times; want it to use A's entry", n)
	}
	if got := metric(t, regB, "hostelhub_dashboard_cache_hits_total", "tier", "redis"); got != 1 {
		t.Errorf("B redis hits = %v, want 1", got)
	}
	if got := metric(t, regB, "hostelhub_dashboard_cache_redis_errors_total", "op", "get"); got != 0 {
		t.Errorf("B redis get errors = %v, want 0", got)
	}

	prefix, suffix := []byte("<html><body><h1>Dashboard</h1>"), []byte("</body></html>\n")
	want := append(append(append([]byte{}, prefix...), body...), suffix...)
	zA := entA.AppendGzip(nil, prefix, suffix)
	zB := entB.AppendGzip([]byte("kept"), prefix, suffix)
	if !bytes.HasPrefix(zB, []byte("kept")) || !bytes.Equal(zB[4:], zA) {
		t.Error("B's gzip differs from A's")
	}
	got, err := gunzip(t, zB[4:])
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gunzip of B's AppendGzip: %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
	if len(zA) >= len(want)/4 {
		t.Errorf("AppendGzip: %d bytes for %d plain; the entry is not compressed", len(zA), len(want))
	}

	// B keeps the entry read from Redis in process.
	if again := expectGet(t, b, "html", renderB, body, Hit); again != entB {
		t.Error("B's second Get did not return the entry it kept")
	}
}

// A value under the key that is not an entry (a plain body, as cached before
// entries, or a malformed one) is a failed Redis GET: it is counted and
// logged, the fragment is rendered again (a MISS), and the SET replaces the
// value with an entry, which another instance then reads as a hit.
func TestNonEntryInRedis(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"plain", "<section>dashboard cached before entries</section>"},
		{"malformed", entryMagic + "\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true)
			ctx := context.Background()
			a := e.cache(nil)
			r := &renderer{name: "a"}
			a.Advance(1)
			key := a.key(1, "html")
			if err := e.rdb.Set(ctx, key, tc.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			e.rec.reset()

			expectGet(t, a, "html", r.render, r.want(1), Miss)
			if n := r.renders(); n != 1 {
				t.Fatalf("%d renders, want 1", n)
			}
			if got := metric(t, e.reg, "hostelhub_dashboard_cache_redis_errors_total", "op", "get"); got != 1 {
				t.Errorf("redis get errors = %v, want 1", got)
			}
			if got := metric(t, e.reg, "hostelhub_dashboard_cache_redis_errors_total", "op", "set"); got != 0 {
				t.Errorf("redis set errors = %v, want 0", got)
			}
			if got := metric(t, e.reg, "hostelhub_dashboard_cache_hits_total", "tier", "redis"); got != 0 {
				t.Errorf("redis hits = %v, want 0", got)
			}
			if n := e.logs.n.Load(); n < 1 {
				t.Error("the value that is not an entry was not logged")
			}
			if n := e.rec.count("set"); n != 1 {
				t.Fatalf("SET sent %d times, want 1 (to replace the value)", n)
			}
			if got := e.redisPlain(key); !bytes.Equal(got, r.want(1)) {
				t.Fatalf("Redis %s = %q after the SET, want an entry of %q", key, got, r.want(1))
			}
			if ttl, err := e.rdb.TTL(ctx, key).Result(); err != nil || ttl < 299*time.Second {
				t.Errorf("TTL %s = %v, %v; want the cache's 300s", key, ttl, err)
			}
			expectGet(t, a, "html", r.render, r.want(1), Hit)

			b := e.cache(func(o *Options) { o.Registerer = prometheus.NewRegistry() })
			b.Advance(1)
			rb := &renderer{name: "b"}
			expectGet(t, b, "html", rb.render, r.want(1), Hit) // the replacement, from Redis
			if n := rb.renders(); n != 0 {
				t.Errorf("B rendered %d times; want it to read the replacement", n)
			}
		})
	}
}
