package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hostelhub/store/redistest"
)

// testRedis is a client of the shared Redis, or a skip (a failure in CI).
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	c := redistest.Client(t)
	c.Options().ContextTimeoutEnabled = false
	return c
}

// randomChannel keeps concurrent test runs on one Redis apart.
func randomChannel(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "hostelhub:test:" + t.Name() + ":" + hex.EncodeToString(b)
}

// wakeRecorder collects wake-up ids.
type wakeRecorder chan int64

func (w wakeRecorder) wake(id int64) {
	select {
	case w <- id:
	default: // the test only needs the ones it waits for
	}
}

// waitFor waits for wake-up id, skipping others.
func (w wakeRecorder) waitFor(t *testing.T, id int64, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-w:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("no wake-up %d within %v", id, timeout)
		}
	}
}

func listen(t *testing.T, tr Transport) wakeRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := make(wakeRecorder, 64)
	done := make(chan error, 1)
	go func() { done <- tr.Listen(ctx, w.wake) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return after cancel")
		}
	})
	return w
}

// Two instances on one Redis: a Notify on A wakes B, and A itself.
func TestRedisTransportNotifyWakesOtherInstance(t *testing.T) {
	channel := randomChannel(t)
	a := NewRedisTransport(testRedis(t), channel, quietLog)
	b := NewRedisTransport(testRedis(t), channel, quietLog)
	wa, wb := listen(t, a), listen(t, b)
	// Each (re)subscription announces itself with wake(0).
	wa.waitFor(t, 0, 5*time.Second)
	wb.waitFor(t, 0, 5*time.Second)

	ctx := context.Background()
	if err := a.Notify(ctx, 42); err != nil {
		t.Fatal(err)
	}
	wb.waitFor(t, 42, 5*time.Second)
	wa.waitFor(t, 42, 5*time.Second)
	if err := b.Notify(ctx, 43); err != nil {
		t.Fatal(err)
	}
	wa.waitFor(t, 43, 5*time.Second)
}

// Two instances, each with its own hub and follower over one event table:
// an event committed and notified on A reaches B's streams through Redis
// alone (B's poll is an hour).
func TestRedisTransportBetweenFollowers(t *testing.T) {
	channel := randomChannel(t)
	src := &memSource{}
	src.Append(1, "old", 0)
	var subs []*Subscription
	var trs []*RedisTransport
	var followers []*Follower
	for range 2 {
		hub := NewHub(HubOptions{Logger: quietLog})
		t.Cleanup(hub.Close)
		subs = append(subs, subscribe(hub, []int64{1}, "student"))
		tr := NewRedisTransport(testRedis(t), channel, quietLog)
		trs = append(trs, tr)
		f := NewFollower(src, deliverTo(hub, renderText), tr, FollowerOptions{PollInterval: time.Hour, Logger: quietLog})
		followers = append(followers, f)
		runFollower(t, f)
	}
	for i, f := range followers {
		eventually(t, 5*time.Second, fmt.Sprint("follower ", i, " start"), func() bool { return f.LastID() == 1 })
	}
	m := src.Append(1, "new_issue", 1)
	// Until B has subscribed, a publish reaches no one; keep notifying.
	eventually(t, 5*time.Second, "B's follower", func() bool {
		trs[0].Notify(context.Background(), m.ID)
		return followers[1].LastID() == m.ID
	})
	for i, s := range subs {
		if d := receive(t, s, 5*time.Second); d.ID != m.ID {
			t.Errorf("instance %d: got %d, want %d", i, d.ID, m.ID)
		}
	}
}

// Redis goes away and comes back on the same port: Notify fails fast while
// it is down, and Listen resubscribes by itself (go-redis's PubSub does it;
// nothing in Listen retries) and delivers again.
func TestRedisTransportReconnects(t *testing.T) {
	srv := redistest.Start(t)
	newClient := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 500 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		return c
	}
	channel := randomChannel(t)
	listener := NewRedisTransport(newClient(), channel, quietLog)
	notifier := NewRedisTransport(newClient(), channel, quietLog)
	w := listen(t, listener)
	w.waitFor(t, 0, 5*time.Second)
	ctx := context.Background()
	if err := notifier.Notify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, 1, 5*time.Second)

	srv.Kill()

	start := time.Now()
	err := notifier.Notify(ctx, 2)
	if err == nil {
		t.Error("Notify with Redis down: got nil error")
	}
	t.Logf("Notify with Redis down: %v after %v", err, time.Since(start))
	if d := time.Since(start); d > time.Second {
		t.Errorf("Notify with Redis down took %v, want at most about half a second", d)
	}
	// Right after a failure Notify does not even try.
	start = time.Now()
	if err := notifier.Notify(ctx, 2); err == nil {
		t.Error("second Notify with Redis down: got nil error")
	}
	if d := time.Since(start); d > redisNotifyTimeout/2 { // trying would take the whole timeout
		t.Errorf("second Notify with Redis down took %v, want no wait", d)
	}

	// An instance that starts while Redis is down subscribes once it is back.
	late := listen(t, NewRedisTransport(newClient(), channel, quietLog))
	time.Sleep(200 * time.Millisecond)

	srv.Restart()
	// The subscriptions come back without any help: wake(0) marks them …
	w.waitFor(t, 0, 10*time.Second)
	late.waitFor(t, 0, 10*time.Second)
	// … and notifications flow again (the notifier's pool reconnects too).
	eventually(t, 5*time.Second, "a notification after the restart", func() bool {
		if err := notifier.Notify(ctx, 3); err != nil {
			return false
		}
		select {
		case id := <-w:
			return id == 3
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	late.waitFor(t, 3, 5*time.Second)
}
