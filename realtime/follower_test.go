package realtime

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"hostelhub/realtime/realtimetest"
	"hostelhub/store"
)

// runFollower starts f and stops it when the test ends.
func runFollower(t *testing.T, f *Follower) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// expectIDs reads want from s, in order, then nothing more.
func expectIDs(t *testing.T, s *Subscription, want []int64) {
	t.Helper()
	for _, id := range want {
		if d := receive(t, s, 5*time.Second); d.ID != id {
			t.Fatalf("got id %d, want %d", d.ID, id)
		}
	}
	expectNone(t, s, 20*time.Millisecond)
}

// Notifications arrive shuffled, stale and duplicated; only the event table
// decides what is delivered and in which order.
func TestFollowerOrderDespiteShuffledNotifications(t *testing.T) {
	src := &memSource{}
	src.Append(1, "old", 0) // before the follower starts: not delivered
	hub := NewHub(HubOptions{QueueSize: 1024, Logger: quietLog})
	defer hub.Close()
	sub := subscribe(hub, nil, "warden")
	tr := realtimetest.NewLocalTransport()
	var seen []int64
	var mu sync.Mutex
	deliver := deliverTo(hub, renderText)
	f := NewFollower(src, func(ctx context.Context, e store.Event) {
		mu.Lock()
		seen = append(seen, e.ID)
		mu.Unlock()
		deliver(ctx, e)
	}, tr, FollowerOptions{
		PollInterval: time.Hour, // wake-ups only
		Logger:       quietLog,
	})
	runFollower(t, f)
	eventually(t, 5*time.Second, "follower start", func() bool { return f.LastID() == 1 })

	rng := rand.New(rand.NewPCG(1, 2))
	var want []int64
	ctx := context.Background()
	for batch := 0; batch < 50; batch++ {
		var ids []int64
		for range 1 + rng.IntN(5) {
			m := src.Append(int64(1+rng.IntN(2)), "new_issue", 0)
			ids = append(ids, m.ID)
			want = append(want, m.ID)
		}
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for _, id := range ids {
			if err := tr.Notify(ctx, id); err != nil {
				t.Fatal(err)
			}
			tr.Notify(ctx, max(1, id-3)) // a stale one
		}
		if batch%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// Wait for the follower to be listening, and make sure the last batch is noticed.
	eventually(t, 5*time.Second, "delivery of the last event", func() bool {
		tr.Notify(ctx, want[len(want)-1])
		return f.LastID() == want[len(want)-1]
	})
	expectIDs(t, sub, want)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("each saw %d events, want %d", len(seen), len(want))
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("each %d: got %d, want %d", i, seen[i], want[i])
		}
	}
}

// With every notification lost, the poll ticker still delivers everything.
func TestFollowerPollsWhenNotificationsAreLost(t *testing.T) {
	src := &memSource{}
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	sub := subscribe(hub, []int64{1}, "student")
	f := NewFollower(src, deliverTo(hub, renderText), nil, FollowerOptions{PollInterval: 20 * time.Millisecond, BatchSize: 3, Logger: quietLog})
	runFollower(t, f)
	eventually(t, time.Second, "follower start", func() bool { return f.LastID() == 0 })
	time.Sleep(30 * time.Millisecond) // let it read the empty table once

	var want []int64
	for i := range 10 { // more than one batch per read
		m := src.Append(1, "new_issue", int64(i))
		want = append(want, m.ID)
	}
	expectIDs(t, sub, want)
}

// Wake reads at once, without waiting for the poll.
func TestFollowerWake(t *testing.T) {
	src := &memSource{}
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	sub := subscribe(hub, []int64{1}, "student")
	f := NewFollower(src, deliverTo(hub, renderText), nil, FollowerOptions{PollInterval: time.Hour, Logger: quietLog})
	runFollower(t, f)
	time.Sleep(20 * time.Millisecond)
	m := src.Append(1, "new_issue", 0)
	f.Wake(m.ID)
	if d := receive(t, sub, time.Second); d.ID != m.ID {
		t.Fatalf("got %d, want %d", d.ID, m.ID)
	}
}

// A failing Source is retried with backoff; nothing is skipped.
func TestFollowerRetriesSourceErrors(t *testing.T) {
	src := &memSource{}
	src.Append(1, "old", 0)
	src.failNext = 2 // LatestEventID fails twice at start
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	sub := subscribe(hub, []int64{1}, "student")
	f := NewFollower(src, deliverTo(hub, renderText), nil, FollowerOptions{PollInterval: 10 * time.Millisecond, Logger: quietLog})
	runFollower(t, f)
	eventually(t, 5*time.Second, "start despite errors", func() bool { return f.LastID() == 1 })
	if got := f.SourceErrors(); got != 2 {
		t.Errorf("source errors at start: got %d, want 2", got)
	}

	a := src.Append(1, "new_issue", 0)
	if d := receive(t, sub, 5*time.Second); d.ID != a.ID {
		t.Fatalf("got %d, want %d", d.ID, a.ID)
	}
	src.mu.Lock()
	src.failNext = 3
	src.mu.Unlock()
	b := src.Append(1, "new_issue", 0)
	c := src.Append(1, "new_issue", 0)
	expectIDs(t, sub, []int64{b.ID, c.ID})
	if got := f.SourceErrors(); got != 5 {
		t.Errorf("source errors: got %d, want 5", got)
	}
}
