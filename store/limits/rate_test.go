package limits

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A rate is its budget at once, then one more every Per/N; keys are
// independent; Retry-After says when the next is allowed. In memory and
// in Redis alike.
func TestRateBudgetAndRetryAfter(t *testing.T) {
	for name, newEnv := range map[string]func(testing.TB) *env{"memory": memoryEnv, "redis": redisEnv} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := newEnv(t).backend().Rate("reports", Rate{N: 30, Per: time.Hour})
			for i := range 30 {
				if ok, _ := l.Allow(ctx, "user:1"); !ok {
					t.Fatalf("report %d of 30: refused", i+1)
				}
			}
			ok, retry := l.Allow(ctx, "user:1")
			if ok {
				t.Fatal("report 31 in a moment: allowed, want refused")
			}
			// One more every 2 minutes: the next is 2 minutes (less the
			// moment the first 30 took) away.
			if retry < 110*time.Second || retry > 2*time.Minute {
				t.Errorf("retry after %v, want about 2m", retry)
			}
			if ok, _ := l.Allow(ctx, "user:2"); !ok {
				t.Error("another user's first report: refused, want allowed")
			}
			other := l.b.Rate("comments", Rate{N: 1, Per: time.Hour})
			if ok, _ := other.Allow(ctx, "user:1"); !ok {
				t.Error("the same user's first comment: refused, want allowed (another kind, another budget)")
			}
			if got := refused(l.b, "reports"); got != 1 {
				t.Errorf("refusals counted: %v, want 1", got)
			}
		})
	}
}

// After the budget is spent, one more is allowed every Per/N.
func TestRateRefills(t *testing.T) {
	for name, newEnv := range map[string]func(testing.TB) *env{"memory": memoryEnv, "redis": redisEnv} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			l := newEnv(t).backend().Rate("metoo", Rate{N: 2, Per: 400 * time.Millisecond})
			l.Allow(ctx, "k")
			l.Allow(ctx, "k")
			ok, retry := l.Allow(ctx, "k")
			if ok || retry <= 0 || retry > 200*time.Millisecond {
				t.Fatalf("third at once: ok %v, retry %v; want refused, retry within 200ms", ok, retry)
			}
			time.Sleep(retry + 20*time.Millisecond)
			if ok, _ := l.Allow(ctx, "k"); !ok {
				t.Fatal("after Retry-After: refused, want allowed")
			}
			if ok, _ := l.Allow(ctx, "k"); ok {
				t.Fatal("the one after: allowed, want refused (one more per 200ms)")
			}
		})
	}
}

// Two instances on one Redis share one budget; without Redis each has its own.
func TestRateSharedByInstances(t *testing.T) {
	ctx := context.Background()
	e := redisEnv(t)
	a := e.backend().Rate("reports", Rate{N: 4, Per: time.Hour})
	b := e.backend().Rate("reports", Rate{N: 4, Per: time.Hour})
	for i, l := range []*RateLimiter{a, b, a, b} {
		if ok, _ := l.Allow(ctx, "user:7"); !ok {
			t.Fatalf("report %d of 4 across two instances: refused", i+1)
		}
	}
	for name, l := range map[string]*RateLimiter{"A": a, "B": b} {
		if ok, retry := l.Allow(ctx, "user:7"); ok || retry <= 0 {
			t.Errorf("the 5th report on %s: ok %v, retry %v; want refused: the budget is shared", name, ok, retry)
		}
	}

	m := memoryEnv(t)
	ma := m.backend().Rate("reports", Rate{N: 4, Per: time.Hour})
	mb := m.backend().Rate("reports", Rate{N: 4, Per: time.Hour})
	for range 4 {
		ma.Allow(ctx, "user:7")
	}
	if ok, _ := mb.Allow(ctx, "user:7"); !ok {
		t.Error("without Redis, B refused a report made on A's budget")
	}
}

// Redis killed: each instance goes on from its own memory (what it let
// through itself, not a fresh budget), answering at once; Redis back:
// the budget is shared again.
func TestRateRedisKilledFallsBackToMemory(t *testing.T) {
	ctx := context.Background()
	e, srv := privateEnv(t)
	var logs syncBuffer
	ba := e.backend(logTo(&logs))
	a := ba.Rate("reports", Rate{N: 5, Per: time.Hour})
	bb := e.backend()
	b := bb.Rate("reports", Rate{N: 5, Per: time.Hour})
	a.Allow(ctx, "user:1")
	a.Allow(ctx, "user:1")
	b.Allow(ctx, "user:1")

	srv.Kill()
	count := func(l *RateLimiter, key string) (allowed int, slowest time.Duration) {
		for range 10 {
			start := time.Now()
			ok, _ := l.Allow(ctx, key)
			slowest = max(slowest, time.Since(start))
			if ok {
				allowed++
			}
		}
		return allowed, slowest
	}
	gotA, slowA := count(a, "user:1")
	gotB, slowB := count(b, "user:1")
	t.Logf("Redis killed: A allowed %d more (slowest %v), B %d more (slowest %v)", gotA, slowA, gotB, slowB)
	if gotA != 3 || gotB != 4 {
		t.Errorf("with Redis down: A allowed %d more, B %d; want 3 and 4 (each its budget less what it let through)", gotA, gotB)
	}
	if slow := max(slowA, slowB); slow > 200*time.Millisecond {
		t.Errorf("an answer with Redis down took %v", slow)
	}
	if redisErrors(ba, "allow") == 0 {
		t.Error("no Redis error counted")
	}
	if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
		t.Errorf("%d log lines about Redis for 10 failures, want 1:\n%s", n, logs.String())
	}

	srv.Restart()
	// Each instance's first answer from Redis again, on a key of its own.
	waitBack := func(l *RateLimiter, key string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if l.b.askRedis() {
				before := redisErrors(l.b, "allow")
				l.Allow(ctx, key)
				if redisErrors(l.b, "allow") == before {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("Redis restarted, but the limiter does not use it")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBack(a, "probe:a")
	waitBack(b, "probe:b")
	for i, l := range []*RateLimiter{a, b, a, b, a} {
		if ok, _ := l.Allow(ctx, "user:2"); !ok {
			t.Fatalf("after the restart, report %d of 5: refused", i+1)
		}
	}
	if ok, _ := b.Allow(ctx, "user:2"); ok {
		t.Error("after the restart, the 6th report on B was allowed: the budget is not shared again")
	}
	if !strings.Contains(logs.String(), "redis answers again") {
		t.Errorf("no log line saying Redis answers again:\n%s", logs.String())
	}
}

// A Redis that accepts connections and never answers costs one request the
// timeout; for the pause after it, requests do not ask Redis and memory
// decides at once; then Redis is asked again.
func TestRateRedisHungCostsOneTimeout(t *testing.T) {
	ctx := context.Background()
	b := hungEnv(t).backend(func(o *Options) { o.Timeout, o.Pause = 30*time.Millisecond, 300*time.Millisecond })
	l := b.Rate("reports", Rate{N: 2, Per: time.Hour})
	var got []bool
	var took []time.Duration
	for range 3 {
		start := time.Now()
		ok, _ := l.Allow(ctx, "k")
		got = append(got, ok)
		took = append(took, time.Since(start))
	}
	if fmt.Sprint(got) != "[true true false]" {
		t.Errorf("decisions %v, want [true true false] from memory", got)
	}
	if took[0] < 30*time.Millisecond || took[0] > 150*time.Millisecond {
		t.Errorf("the first answer took %v, want about the 30ms timeout", took[0])
	}
	if slow := max(took[1], took[2]); slow > 10*time.Millisecond {
		t.Errorf("an answer in the pause took %v, want at once", slow)
	}
	if got := redisErrors(b, "allow"); got != 1 {
		t.Errorf("Redis errors counted: %v, want 1 (then paused)", got)
	}
	time.Sleep(300 * time.Millisecond)
	l.Allow(ctx, "k")
	if got := redisErrors(b, "allow"); got != 2 {
		t.Errorf("after the pause: Redis errors counted %v, want 2 (asked again)", got)
	}
}

// Memory forgets a key once its bucket is full again: guessing many keys
// costs memory for a period at most.
func TestRateMemoryForgetsIdleKeys(t *testing.T) {
	m := newMemoryRates(Rate{N: 3, Per: 50 * time.Millisecond})
	now := time.Now()
	for i := range 1000 {
		m.take(fmt.Sprint(i), now)
	}
	if m.size() != 1000 {
		t.Fatalf("%d buckets, want 1000", m.size())
	}
	m.take("0", now.Add(20*time.Millisecond))
	m.take("late", now.Add(60*time.Millisecond))
	if got := m.size(); got != 2 {
		t.Errorf("after a period, %d buckets kept, want 2 (those used within it)", got)
	}
}
