package cache

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A second Get is a hit. After Advance the next Get misses and renders again.
// A lower Advance is ignored. Each variant is its own key. In Redis the key
// lives 300 s.
func TestHitMissAdvance(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		c := e.cache(nil)
		html := &renderer{name: "html"}
		c.Advance(1)
		expectGet(t, c, "html", html.render, html.want(1), Miss)
		expectGet(t, c, "html", html.render, html.want(1), Hit)

		// Another variant is another key: no sharing between inputs.
		json := &renderer{name: "json"}
		expectGet(t, c, "json", json.render, json.want(1), Miss)
		expectGet(t, c, "html", html.render, html.want(1), Hit)

		c.Advance(2)
		if v := c.Version(); v != 2 {
			t.Fatalf("Version() = %d, want 2", v)
		}
		expectGet(t, c, "html", html.render, html.want(2), Miss)
		expectGet(t, c, "html", html.render, html.want(2), Hit)

		c.Advance(1) // older: ignored
		if v := c.Version(); v != 2 {
			t.Fatalf("Version() after Advance(1) = %d, want 2", v)
		}
		expectGet(t, c, "html", html.render, html.want(2), Hit)
		if n := html.renders(); n != 2 {
			t.Fatalf("html rendered %d times, want 2", n)
		}

		if got := metric(t, e.reg, "hostelhub_dashboard_cache_hits_total", "tier", "memory"); got != 4 {
			t.Errorf("memory hits = %v, want 4", got)
		}
		if got := metric(t, e.reg, "hostelhub_dashboard_cache_misses_total"); got != 3 {
			t.Errorf("misses = %v, want 3", got)
		}
		if got := metric(t, e.reg, "hostelhub_dashboard_cache_renders_total"); got != 3 {
			t.Errorf("renders = %v, want 3", got)
		}
		if got := metric(t, e.reg, "hostelhub_dashboard_cache_render_seconds"); got != 3 {
			t.Errorf("render_seconds count = %v, want 3", got)
		}

		if e.rdb == nil {
			return
		}
		key := c.key(2, "html")
		if want := e.prefix + "dashboard:v2:html"; key != want {
			t.Fatalf("key = %q, want %q", key, want)
		}
		if got := e.redisPlain(key); !bytes.Equal(got, html.want(2)) {
			t.Fatalf("Redis %s = %q, want %q", key, got, html.want(2))
		}
		ttl, err := e.rdb.TTL(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < 299*time.Second || ttl > 300*time.Second {
			t.Fatalf("TTL %s = %v, want 300s within a second", key, ttl)
		}
		if n := e.rec.count("set"); n != 3 {
			t.Errorf("SET sent %d times, want 3", n)
		}
	})
}

// A render that started before an Advance never fills the new version. The
// waiters that joined it before the Advance get its bytes. Any Get after the
// Advance renders fresh bytes.
func TestRenderFillsOnlyItsVersion(t *testing.T) {
	t.Run("advance-in-hook", func(t *testing.T) {
		forModes(t, func(t *testing.T, e *env) {
			c := e.cache(nil)
			r := &renderer{name: "dash"}
			c.Advance(1)
			var once sync.Once
			c.afterRenderHook = func() { once.Do(func() { c.Advance(2) }) }

			expectGet(t, c, "html", r.render, r.want(1), Miss)
			if _, ok := c.gen.Load().lookup("html"); ok {
				t.Fatal("the in-process copy of v2 received a render that started at v1")
			}
			if e.rdb != nil {
				if got := e.redisGet(c.key(2, "html")); got != nil {
					t.Fatalf("Redis v2 key received a render that started at v1: %q", got)
				}
			}
			expectGet(t, c, "html", r.render, r.want(2), Miss)
			expectGet(t, c, "html", r.render, r.want(2), Hit)
		})
	})

	t.Run("concurrent", func(t *testing.T) {
		forModes(t, func(t *testing.T, e *env) {
			c := e.cache(nil)
			r := &renderer{name: "dash"}
			c.Advance(1)
			inHook, proceed := make(chan struct{}), make(chan struct{})
			var held atomic.Bool // hold the first render only (sync.Once would block the second)
			c.afterRenderHook = func() {
				if held.CompareAndSwap(false, true) {
					close(inHook)
					<-proceed
				}
			}

			type result struct {
				body *Entry
				st   Status
				err  error
			}
			first := make(chan result, 1)
			go func() {
				b, st, err := c.Get(context.Background(), "html", r.render)
				first <- result{b, st, err}
			}()
			<-inHook // render 1 has finished and has not filled yet
			c.Advance(2)

			// This Get must not join v1's flight (which is held in the hook).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			b2, st2, err := c.Get(ctx, "html", r.render)
			if err != nil || !bytes.Equal(plain(b2), r.want(2)) || st2 != Miss {
				t.Fatalf("Get after Advance = %q, %s, %v; want %q, MISS", plain(b2), st2, err, r.want(2))
			}

			close(proceed) // let v1's late fill happen
			r1 := <-first
			if r1.err != nil || !bytes.Equal(plain(r1.body), r.want(1)) || r1.st != Miss {
				t.Fatalf("Get begun before Advance = %q, %s, %v; want %q, MISS", plain(r1.body), r1.st, r1.err, r.want(1))
			}
			expectGet(t, c, "html", r.render, r.want(2), Hit)
			if e.rdb != nil {
				if got := e.redisPlain(c.key(2, "html")); !bytes.Equal(got, r.want(2)) {
					t.Fatalf("Redis v2 key = %q, want %q", got, r.want(2))
				}
			}
			if n := r.renders(); n != 2 {
				t.Fatalf("%d renders, want 2", n)
			}
		})
	})
}

// 200 concurrent Gets of a cold key cause one render (and, with Redis, one
// Redis GET) and all get the same bytes.
func TestStampede(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		c := e.cache(nil)
		r := &renderer{name: "dash", delay: 20 * time.Millisecond}
		c.Advance(7)
		const n = 200
		start := make(chan struct{})
		bodies := make([]*Entry, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				bodies[i], _, errs[i] = c.Get(context.Background(), "html", r.render)
			}()
		}
		close(start)
		wg.Wait()
		if got := r.renders(); got != 1 {
			t.Fatalf("%d renders for %d concurrent misses, want 1", got, n)
		}
		for i := range n {
			if errs[i] != nil || !bytes.Equal(plain(bodies[i]), r.want(1)) {
				t.Fatalf("goroutine %d got %q, %v; want %q", i, plain(bodies[i]), errs[i], r.want(1))
			}
		}
		hits := metric(t, e.reg, "hostelhub_dashboard_cache_hits_total", "tier", "memory")
		misses := metric(t, e.reg, "hostelhub_dashboard_cache_misses_total")
		if hits+misses != n {
			t.Errorf("hits %v + misses %v != %d", hits, misses, n)
		}
		if e.rec != nil {
			if got := e.rec.count("get"); got != 1 {
				t.Errorf("%d Redis GETs for %d concurrent misses, want 1", got, n)
			}
			if got := e.rec.count("set"); got != 1 {
				t.Errorf("%d Redis SETs, want 1", got)
			}
		}
	})
}

// A render error (or panic) goes to the caller and nothing is cached.
func TestRenderError(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		c := e.cache(nil)
		c.Advance(1)
		boom := errors.New("database is down")
		body, st, err := c.Get(context.Background(), "html", func(context.Context) ([]byte, error) {
			return nil, boom
		})
		if !errors.Is(err, boom) || body != nil || st != Miss {
			t.Fatalf("Get with a failing render = %q, %s, %v; want nil, MISS, %v", plain(body), st, err, boom)
		}
		if e.rdb != nil {
			if got := e.redisGet(c.key(1, "html")); got != nil {
				t.Fatalf("a failed render was written to Redis: %q", got)
			}
		}
		_, _, err = c.Get(context.Background(), "html", func(context.Context) ([]byte, error) {
			panic("template bug")
		})
		if err == nil || !strings.Contains(err.Error(), "template bug") {
			t.Fatalf("Get with a panicking render: error %v, want one naming the panic", err)
		}
		r := &renderer{name: "dash"}
		expectGet(t, c, "html", r.render, r.want(1), Miss)
		expectGet(t, c, "html", r.render, r.want(1), Hit)
		if got := metric(t, e.reg, "hostelhub_dashboard_cache_render_errors_total"); got != 2 {
			t.Errorf("render_errors = %v, want 2", got)
		}
	})
}

// A waiter whose context ends stops waiting. The render goes on for the
// others even when the Get that started it is cancelled, and it fills the
// cache.
func TestContextCancel(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		c := e.cache(nil)
		c.Advance(1)
		started, release := make(chan struct{}), make(chan struct{})
		var renders int
		render := func(ctx context.Context) ([]byte, error) {
			renders++ // only one flight runs at a time
			close(started)
			<-release
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return []byte("slow dashboard"), nil
		}

		leaderCtx, cancelLeader := context.WithCancel(context.Background())
		leader := make(chan error, 1)
		go func() {
			_, _, err := c.Get(leaderCtx, "html", render)
			leader <- err
		}()
		<-started

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		if _, st, err := c.Get(ctx, "html", render); !errors.Is(err, context.DeadlineExceeded) || st != Miss {
			t.Fatalf("waiter with a 30ms deadline: %s, %v; want MISS, deadline exceeded", st, err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("waiter returned after %v", d)
		}

		cancelLeader()
		if err := <-leader; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled leader: %v, want context.Canceled", err)
		}

		other := make(chan []byte, 1)
		go func() {
			b, _, _ := c.Get(context.Background(), "html", render)
			other <- plain(b)
		}()
		close(release)
		if b := <-other; string(b) != "slow dashboard" {
			t.Fatalf("waiter got %q", b)
		}
		expectGet(t, c, "html", render, []byte("slow dashboard"), Hit)
		if renders != 1 {
			t.Fatalf("%d renders, want 1", renders)
		}
	})
}

// Entries expire after TTL in both tiers.
func TestExpiry(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		c := e.cache(func(o *Options) { o.TTL = 300 * time.Millisecond })
		r := &renderer{name: "dash"}
		c.Advance(1)
		expectGet(t, c, "html", r.render, r.want(1), Miss)
		expectGet(t, c, "html", r.render, r.want(1), Hit)
		time.Sleep(350 * time.Millisecond)
		expectGet(t, c, "html", r.render, r.want(2), Miss)
	})
}

// Several caches can register on one Registerer and share its metrics.
// Registerer nil registers nothing.
func TestMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := New(Options{Name: "dashboard", Registerer: reg})
	b := New(Options{Name: "dashboard", Registerer: reg})
	_ = New(Options{Name: "dashboard"})
	r := &renderer{name: "dash"}
	for _, c := range []*Cache{a, b} {
		c.Advance(1)
		expectGet(t, c, "html", r.render, r.want(r.renders()+1), Miss)
		expectGet(t, c, "html", r.render, r.want(r.renders()), Hit)
	}
	if got := metric(t, reg, "hostelhub_dashboard_cache_renders_total"); got != 2 {
		t.Errorf("renders = %v, want 2", got)
	}
	if got := metric(t, reg, "hostelhub_dashboard_cache_hits_total", "tier", "memory"); got != 2 {
		t.Errorf("memory hits = %v, want 2", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"hits_total", "misses_total", "renders_total", "render_errors_total", "render_seconds", "redis_errors_total"} {
		if !names["hostelhub_dashboard_cache_"+want] {
			t.Errorf("metric hostelhub_dashboard_cache_%s not registered (have %v)", want, names)
		}
	}
}

// Options.Name names the keys and the metrics, "fragment" by default. Caches
// of different names on one Redis, prefix and registry share neither entries
// nor counters.
func TestName(t *testing.T) {
	forModes(t, func(t *testing.T, e *env) {
		frag := e.cache(func(o *Options) { o.Name = "" })
		dash := e.cache(nil) // "dashboard"
		if got, want := frag.key(1, "html"), e.prefix+"fragment:v1:html"; got != want {
			t.Errorf("default key = %q, want %q", got, want)
		}
		if got, want := dash.key(1, "html"), e.prefix+"dashboard:v1:html"; got != want {
			t.Errorf("dashboard key = %q, want %q", got, want)
		}
		rf, rd := &renderer{name: "fragment"}, &renderer{name: "dashboard"}
		frag.Advance(1)
		dash.Advance(1)
		expectGet(t, frag, "html", rf.render, rf.want(1), Miss)
		expectGet(t, dash, "html", rd.render, rd.want(1), Miss)
		expectGet(t, frag, "html", rf.render, rf.want(1), Hit)
		for _, name := range []string{"fragment", "dashboard"} {
			if got := metric(t, e.reg, "hostelhub_"+name+"_cache_renders_total"); got != 1 {
				t.Errorf("%s renders = %v, want 1", name, got)
			}
		}
		if got := metric(t, e.reg, "hostelhub_fragment_cache_hits_total", "tier", "memory"); got != 1 {
			t.Errorf("fragment memory hits = %v, want 1", got)
		}
		if got := metric(t, e.reg, "hostelhub_dashboard_cache_hits_total", "tier", "memory"); got != 0 {
			t.Errorf("dashboard memory hits = %v, want 0", got)
		}
		if e.rdb == nil {
			return
		}
		if got := e.redisPlain(e.prefix + "fragment:v1:html"); !bytes.Equal(got, rf.want(1)) {
			t.Errorf("Redis fragment key = %q, want %q", got, rf.want(1))
		}
		if got := e.redisPlain(e.prefix + "dashboard:v1:html"); !bytes.Equal(got, rd.want(1)) {
			t.Errorf("Redis dashboard key = %q, want %q", got, rd.want(1))
		}
	})
}
