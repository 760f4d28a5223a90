package realtimetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of notifications to a listener that is busy costs one pending
// wake-up carrying the highest id, not a queue; Notify never blocks.
func TestLocalTransportCoalesces(t *testing.T) {
	tr := NewLocalTransport()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	release := make(chan struct{})
	var calls atomic.Int64
	var mu sync.Mutex
	var ids []int64
	listening := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- tr.Listen(ctx, func(id int64) {
			if id == 0 {
				once.Do(func() { close(listening) })
				return
			}
			calls.Add(1)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			<-release // a slow consumer
		})
	}()
	eventually(t, time.Second, "listener", func() bool {
		tr.Notify(ctx, 0)
		select {
		case <-listening:
			return true
		default:
			return false
		}
	})

	tr.Notify(ctx, 1) // taken by the listener, which then blocks
	eventually(t, time.Second, "first wake", func() bool { return calls.Load() >= 1 })
	start := time.Now()
	for id := int64(2); id <= 100_000; id++ {
		tr.Notify(ctx, id)
	}
	tr.Notify(ctx, 5) // late and stale: does not lower the pending id
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100,000 notifications to a blocked listener took %v", d)
	}
	close(release)
	eventually(t, time.Second, "coalesced wake", func() bool { return calls.Load() >= 2 })
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Listen: got %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	last := ids[len(ids)-1]
	if len(ids) != 2 || last != 100_000 {
		t.Errorf("got wake-ups %v, want [1 100000]", ids[:min(len(ids), 10)])
	}
}

// Every listener hears every instance's notifications.
func TestLocalTransportFansOut(t *testing.T) {
	tr := NewLocalTransport()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make([]chan int64, 3)
	for i := range got {
		ch := make(chan int64, 16)
		got[i] = ch
		go tr.Listen(ctx, func(id int64) { ch <- id })
	}
	eventually(t, time.Second, "listeners", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.listeners) == 3
	})
	tr.Notify(ctx, 9)
	for i, ch := range got {
		select {
		case id := <-ch:
			if id != 9 {
				t.Errorf("listener %d: got %d, want 9", i, id)
			}
		case <-time.After(time.Second):
			t.Errorf("listener %d: no wake-up", i)
		}
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
