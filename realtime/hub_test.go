package realtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hostelhub/store"
)

func TestHubFanOut(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	const subs, msgs = 1000, 20
	all := make([]*Subscription, subs)
	for i := range all {
		all[i] = subscribe(hub, []int64{1}, "student")
	}
	for id := int64(1); id <= msgs; id++ {
		hub.Deliver(context.Background(), store.Event{ID: id, HostelID: 1, Kind: store.EventNewIssue}, renderText)
	}
	for i, s := range all {
		for id := int64(1); id <= msgs; id++ {
			d := receive(t, s, time.Second)
			if d.ID != id {
				t.Fatalf("subscriber %d: got id %d, want %d", i, d.ID, id)
			}
		}
	}
	st := hub.Stats()
	if st.Subscribers != subs || st.Events != msgs || st.Delivered != subs*msgs || st.Dropped != 0 {
		t.Errorf("got stats %+v, want %d subscribers, %d events, %d delivered, 0 dropped", st, subs, msgs, subs*msgs)
	}
}

func TestHubRendersOncePerAudience(t *testing.T) {
	var cr countingRenderer
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	type sub struct {
		s        *Subscription
		audience string
	}
	var subs []sub
	add := func(n int, hostelIDs []int64, audience string) {
		for range n {
			subs = append(subs, sub{subscribe(hub, hostelIDs, audience), audience})
		}
	}
	add(300, []int64{1}, "student")
	add(20, []int64{1}, "warden")
	add(5, nil, "management")     // every hostel
	add(50, []int64{2}, "porter") // another hostel: never rendered for hostel 1

	hub.Deliver(context.Background(), store.Event{ID: 1, HostelID: 1, Kind: store.EventNewIssue}, cr.render)
	for aud, want := range map[string]int{"student": 1, "warden": 1, "management": 1, "porter": 0} {
		if got := cr.count(aud); got != want {
			t.Errorf("renders for %s: got %d, want %d", aud, got, want)
		}
	}
	for _, s := range subs {
		if s.audience == "porter" {
			expectNone(t, s.s, 0)
			continue
		}
		d := receive(t, s.s, time.Second)
		if want := s.audience + " hostel:1 1"; string(d.Frames[0].Data) != want {
			t.Fatalf("got %q, want %q", d.Frames[0].Data, want)
		}
	}

	// An audience the renderer has nothing for gets nothing, and no queue slot.
	hub2 := NewHub(HubOptions{Logger: quietLog})
	defer hub2.Close()
	st, wa := subscribe(hub2, []int64{1}, "student"), subscribe(hub2, []int64{1}, "warden")
	hub2.Deliver(context.Background(), store.Event{ID: 1, HostelID: 1}, func(ctx context.Context, e store.Event, aud string) ([]Frame, error) {
		if aud == "student" {
			return nil, nil
		}
		return renderText(ctx, e, aud)
	})
	receive(t, wa, time.Second)
	expectNone(t, st, 10*time.Millisecond)
}

func TestHubHostelIsolation(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	h1 := subscribe(hub, []int64{1}, "warden")
	h2 := subscribe(hub, []int64{2}, "warden")
	all := subscribe(hub, nil, "management") // every hostel
	both := subscribe(hub, []int64{1, 2, 1}, "warden")
	dup := subscribe(hub, []int64{1, 2, 3, 1, 3, 3}, "warden") // each hostel listed again: no double delivery

	ctx := context.Background()
	hub.Deliver(ctx, store.Event{ID: 1, HostelID: 1}, renderText)
	hub.Deliver(ctx, store.Event{ID: 2, HostelID: 2}, renderText)
	hub.Deliver(ctx, store.Event{ID: 3, HostelID: 3}, renderText)
	hub.Deliver(ctx, store.Event{ID: 4, Kind: store.EventSession}, renderText) // no hostel: for no stream, not even every hostel's

	if d := receive(t, h1, time.Second); d.ID != 1 {
		t.Errorf("hostel 1 subscriber: got %d, want 1", d.ID)
	}
	expectNone(t, h1, 10*time.Millisecond)
	if d := receive(t, h2, time.Second); d.ID != 2 {
		t.Errorf("hostel 2 subscriber: got %d, want 2", d.ID)
	}
	expectNone(t, h2, 0)
	for name, s := range map[string]*Subscription{"all": all, "dup": dup} {
		for want := int64(1); want <= 3; want++ {
			if d := receive(t, s, time.Second); d.ID != want {
				t.Errorf("%s: got %d, want %d", name, d.ID, want)
			}
		}
		expectNone(t, s, 0)
	}
	for want := int64(1); want <= 2; want++ {
		if d := receive(t, both, time.Second); d.ID != want {
			t.Errorf("both: got %d, want %d", d.ID, want)
		}
	}
	expectNone(t, both, 0)
}

// A subscriber that never reads is dropped when its queue fills; Deliver
// never waits for it and the others receive everything.
func TestHubDropsStuckSubscriber(t *testing.T) {
	const queue, msgs, readers = 8, 200, 20
	hub := NewHub(HubOptions{QueueSize: queue, Logger: quietLog})
	defer hub.Close()
	stuck := subscribe(hub, []int64{1}, "student")

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	progress := make([]atomic.Int64, readers)
	for i := range readers {
		s := subscribe(hub, []int64{1}, "student")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			for want := int64(1); want <= msgs; want++ {
				select {
				case d := <-s.Deliveries():
					if d.ID != want {
						errs <- fmt.Errorf("got %d, want %d", d.ID, want)
						return
					}
					progress[i].Store(d.ID)
				case <-s.Done():
					errs <- fmt.Errorf("reader dropped at %d: %v", want, s.Err())
					return
				case <-time.After(5 * time.Second):
					errs <- fmt.Errorf("reader starved at %d", want)
					return
				}
			}
		}()
	}

	var slowest time.Duration
	for id := int64(1); id <= msgs; id++ {
		start := time.Now()
		hub.Deliver(context.Background(), store.Event{ID: id, HostelID: 1}, renderText)
		slowest = max(slowest, time.Since(start))
		if id%(queue/2) == 0 {
			// Readers that keep up get everything promptly (here: before
			// their queues could fill); the stuck one never reads.
			eventually(t, 5*time.Second, "readers to keep up", func() bool {
				for i := range progress {
					if progress[i].Load() < id {
						return false
					}
				}
				return true
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	select {
	case <-stuck.Done():
	default:
		t.Fatal("stuck subscriber was not dropped")
	}
	if !errors.Is(stuck.Err(), ErrSlow) {
		t.Errorf("stuck: got err %v, want ErrSlow", stuck.Err())
	}
	if n := len(stuck.Deliveries()); n != queue {
		t.Errorf("stuck queue: got %d deliveries, want the %d that fitted", n, queue)
	}
	if st := hub.Stats(); st.Dropped != 1 {
		t.Errorf("dropped: got %d, want 1", st.Dropped)
	}
	// Generous for -race on a busy machine; a blocking Deliver would take
	// the readers' 5 s timeout or forever.
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest Deliver took %v", slowest)
	}
}

func TestHubRenderErrorSkipsOnlyThatAudience(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	st := subscribe(hub, []int64{1}, "student")
	wa := subscribe(hub, []int64{1}, "warden")
	hub.Deliver(context.Background(), store.Event{ID: 1, HostelID: 1}, func(ctx context.Context, e store.Event, aud string) ([]Frame, error) {
		if aud == "warden" {
			return nil, errors.New("template broke")
		}
		return renderText(ctx, e, aud)
	})
	receive(t, st, time.Second)
	expectNone(t, wa, 10*time.Millisecond)
	if got := hub.Stats().RenderErrors; got != 1 {
		t.Errorf("render errors: got %d, want 1", got)
	}
}

func TestSubscriptionCloseAndHubClose(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	a := subscribe(hub, []int64{1, 2}, "student")
	b := subscribe(hub, []int64{1}, "student")
	if got := hub.Stats().Subscribers; got != 2 {
		t.Fatalf("subscribers: got %d, want 2", got)
	}
	if a.Err() != nil {
		t.Fatalf("open subscription: got err %v, want nil", a.Err())
	}
	a.Close()
	a.Close() // idempotent
	if !errors.Is(a.Err(), ErrClosed) {
		t.Errorf("closed: got %v, want ErrClosed", a.Err())
	}
	hub.Deliver(context.Background(), store.Event{ID: 1, HostelID: 1}, renderText)
	expectNone(t, a, 0)
	receive(t, b, time.Second)
	if got := hub.Stats().Subscribers; got != 1 {
		t.Errorf("subscribers: got %d, want 1", got)
	}

	hub.Close()
	select {
	case <-b.Done():
	default:
		t.Fatal("Close did not end the subscription")
	}
	if !errors.Is(b.Err(), ErrClosed) {
		t.Errorf("after hub close: got %v, want ErrClosed", b.Err())
	}
	late := subscribe(hub, []int64{1}, "student")
	select {
	case <-late.Done():
	default:
		t.Fatal("subscription on a closed hub is open")
	}
	hub.Deliver(context.Background(), store.Event{ID: 2, HostelID: 1}, renderText) // no panic, no one to deliver to
	hub.Close()
	if got := hub.Stats().Subscribers; got != 0 {
		t.Errorf("subscribers: got %d, want 0", got)
	}
}

// Subscribing, closing and delivering at once must be race-free and must
// never deliver out of order.
func TestHubConcurrentChurn(t *testing.T) {
	hub := NewHub(HubOptions{QueueSize: 1024, Logger: quietLog})
	defer hub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostel := int64(w%3 + 1)
			for ctx.Err() == nil {
				s := subscribe(hub, []int64{hostel}, []string{"student", "warden"}[w%2])
				last := int64(0)
				for range 5 {
					select {
					case d := <-s.Deliveries():
						if d.ID <= last {
							t.Errorf("out of order: %d after %d", d.ID, last)
						}
						last = d.ID
					case <-time.After(time.Millisecond):
					}
				}
				s.Close()
			}
		}()
	}
	for id := int64(1); id <= 2000; id++ {
		hub.Deliver(ctx, store.Event{ID: id, HostelID: id%3 + 1}, renderText)
	}
	cancel()
	wg.Wait()
	if got := hub.Stats().Subscribers; got != 0 {
		t.Errorf("subscribers after churn: got %d, want 0", got)
	}
}

// BenchmarkDeliver fans one event out to 1,000 of 10,000 subscriptions
// (10 hostels, 3 audiences). "readers": every subscription has a goroutine
// parked on its queue, as Serve has, and the time includes waking them.
// "queued": nobody is waiting, so each send only lands in a buffer (the
// queues are emptied with the timer stopped).
func BenchmarkDeliver(b *testing.B) {
	render := func(_ context.Context, e store.Event, aud string) ([]Frame, error) {
		return []Frame{{Event: "new_issue", Data: []byte(strings.Repeat("x", 512))}}, nil
	}
	audiences := []string{"student", "warden", "management"}
	const subs, hostels = 10_000, 10
	ctx := context.Background()

	b.Run("readers", func(b *testing.B) {
		hub := NewHub(HubOptions{QueueSize: 256, Logger: quietLog})
		var wg sync.WaitGroup
		for i := range subs {
			s := subscribe(hub, []int64{int64(i%hostels + 1)}, audiences[i%3])
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-s.Deliveries():
					case <-s.Done():
						return
					}
				}
			}()
		}
		b.ResetTimer()
		for i := range b.N {
			hub.Deliver(ctx, store.Event{ID: int64(i + 1), HostelID: int64(i%hostels + 1)}, render)
		}
		b.StopTimer()
		if d := hub.Stats().Dropped; d != 0 {
			b.Errorf("dropped %d", d)
		}
		hub.Close()
		wg.Wait()
	})

	b.Run("queued", func(b *testing.B) {
		const queue = 64
		hub := NewHub(HubOptions{QueueSize: queue, Logger: quietLog})
		defer hub.Close()
		all := make([]*Subscription, subs)
		for i := range all {
			all[i] = subscribe(hub, []int64{int64(i%hostels + 1)}, audiences[i%3])
		}
		b.ResetTimer()
		for i := range b.N {
			if i > 0 && i%(queue*hostels) == 0 {
				b.StopTimer()
				for _, s := range all {
					for len(s.ch) > 0 {
						<-s.ch
					}
				}
				b.StartTimer()
			}
			hub.Deliver(ctx, store.Event{ID: int64(i + 1), HostelID: int64(i%hostels + 1)}, render)
		}
		b.StopTimer()
		if d := hub.Stats().Dropped; d != 0 {
			b.Errorf("dropped %d", d)
		}
	})
}
