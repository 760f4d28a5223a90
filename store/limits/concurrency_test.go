package limits

import (
	"context"
	"testing"
	"time"
)

// At most max holds per key; a release frees one (once, however often it
// is called); keys are independent. In memory and in Redis alike.
func TestConcurrencyAcquireAndRelease(t *testing.T) {
	for name, newEnv := range map[string]func(testing.TB) *env{"memory": memoryEnv, "redis": redisEnv} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newEnv(t).backend().Concurrency("streams", 2)
			r1, ok1, _ := c.Acquire(ctx, "user:1")
			_, ok2, _ := c.Acquire(ctx, "user:1")
			if !ok1 || !ok2 {
				t.Fatalf("two streams of two: %v %v, want both allowed", ok1, ok2)
			}
			r3, ok, retry := c.Acquire(ctx, "user:1")
			if ok || r3 != nil || retry < time.Second {
				t.Fatalf("a third: ok %v, retry %v; want refused with a retry of at least 1s", ok, retry)
			}
			if _, ok, _ := c.Acquire(ctx, "user:2"); !ok {
				t.Error("another user's first stream: refused")
			}
			r1()
			r1() // harmless
			if _, ok, _ := c.Acquire(ctx, "user:1"); !ok {
				t.Fatal("after a release: refused, want allowed")
			}
			if _, ok, _ := c.Acquire(ctx, "user:1"); ok {
				t.Fatal("a double release freed two streams")
			}
			if got := c.Held("user:1"); got != 2 {
				t.Errorf("held on this instance: %d, want 2", got)
			}
		})
	}
}

// Two instances on one Redis: the holds of both count.
func TestConcurrencySharedByInstances(t *testing.T) {
	ctx := context.Background()
	e := redisEnv(t)
	a := e.backend().Concurrency("streams", 3)
	b := e.backend().Concurrency("streams", 3)
	a.Acquire(ctx, "user:5")
	a.Acquire(ctx, "user:5")
	releaseB, ok, _ := b.Acquire(ctx, "user:5")
	if !ok {
		t.Fatal("the third stream, on B: refused")
	}
	if _, ok, _ := b.Acquire(ctx, "user:5"); ok {
		t.Error("a fourth on B: allowed, want refused (A holds two)")
	}
	if _, ok, _ := a.Acquire(ctx, "user:5"); ok {
		t.Error("a fourth on A: allowed, want refused (B holds one)")
	}
	releaseB()
	if _, ok, _ := a.Acquire(ctx, "user:5"); !ok {
		t.Error("after B released one, A's third: refused")
	}
}

// An instance that crashed neither releases nor refreshes: its holds stop
// counting within the TTL, while a live instance's, refreshed, go on.
func TestConcurrencyCrashedInstanceExpires(t *testing.T) {
	ctx := context.Background()
	e := redisEnv(t)
	short := func(o *Options) { o.HoldTTL, o.RefreshEvery = 400*time.Millisecond, 100*time.Millisecond }
	crashed := e.backend(short)
	cc := crashed.Concurrency("streams", 3)
	cc.Acquire(ctx, "user:9")
	cc.Acquire(ctx, "user:9")
	crashed.Close() // it stops refreshing, and never releases

	live := e.backend(short).Concurrency("streams", 3)
	if _, ok, _ := live.Acquire(ctx, "user:9"); !ok {
		t.Fatal("the third stream: refused")
	}
	_, ok, retry := live.Acquire(ctx, "user:9")
	if ok {
		t.Fatal("a fourth while the crashed instance's count: allowed")
	}
	if retry < time.Second {
		t.Errorf("retry after %v, want at least 1s", retry)
	}

	time.Sleep(600 * time.Millisecond) // past the TTL of the crashed holds, and of the live one unless refreshed
	for i := range 2 {
		if _, ok, _ := live.Acquire(ctx, "user:9"); !ok {
			t.Fatalf("after the crashed instance's holds expired, stream %d of 2 more: refused", i+1)
		}
	}
	if _, ok, _ := live.Acquire(ctx, "user:9"); ok {
		t.Error("a fourth: allowed; the live instance's first stream stopped counting (not refreshed)")
	}
}

// Redis killed: acquires are decided by this instance's own holds, answered
// at once, and released correctly either way. Redis restarted (empty):
// the refresh writes this instance's holds back, so other instances count
// them again.
func TestConcurrencyRedisKilledFallsBackToMemory(t *testing.T) {
	ctx := context.Background()
	e, srv := privateEnv(t)
	short := func(o *Options) { o.HoldTTL, o.RefreshEvery = 2*time.Second, 100*time.Millisecond }
	ba := e.backend(short)
	a := ba.Concurrency("streams", 2)
	b := e.backend(short).Concurrency("streams", 2)
	viaRedis, ok, _ := a.Acquire(ctx, "user:3")
	if !ok {
		t.Fatal("the first stream: refused")
	}

	srv.Kill()
	start := time.Now()
	viaMemory, ok, _ := a.Acquire(ctx, "user:3")
	if !ok {
		t.Fatal("Redis down, the second stream: refused")
	}
	if _, ok, _ := a.Acquire(ctx, "user:3"); ok {
		t.Fatal("Redis down, a third: allowed")
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("two acquires with Redis down took %v", d)
	}
	if redisErrors(ba, "acquire") == 0 {
		t.Error("no Redis error counted")
	}
	viaRedis() // Redis down: released here; in Redis it expires
	again, ok, _ := a.Acquire(ctx, "user:3")
	if !ok {
		t.Fatal("Redis down, after a release: refused")
	}

	srv.Restart() // empty: no holds at all
	// Within a refresh or two, A's two holds are in Redis again.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r, ok, _ := b.Acquire(ctx, "user:3")
		if !ok {
			break
		}
		r()
		if time.Now().After(deadline) {
			t.Fatal("after Redis restarted, B still does not count A's streams")
		}
		time.Sleep(50 * time.Millisecond)
	}
	viaMemory()
	again()
	for i := range 2 {
		if _, ok, _ := b.Acquire(ctx, "user:3"); !ok {
			t.Fatalf("after A released both, B's stream %d of 2: refused", i+1)
		}
	}
	if a.Held("user:3") != 0 {
		t.Errorf("A still holds %d", a.Held("user:3"))
	}
}
