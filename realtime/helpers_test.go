package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"hostelhub/store"
)

var quietLog = slog.New(slog.DiscardHandler)

// memSource is an in-memory event table: ids 1, 2, 3, … in commit order.
type memSource struct {
	mu       sync.Mutex
	events   []store.Event
	failNext int   // fail this many upcoming calls
	pruned   int64 // events up to this id are no longer available for replay
}

var errSourceDown = errors.New("source down")

func (s *memSource) Append(hostelID int64, kind string, ref int64) store.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := store.Event{
		ID:        int64(len(s.events)) + 1,
		HostelID:  hostelID,
		Kind:      store.EventKind(kind),
		RefID:     ref,
		CreatedAt: time.Now().Unix(),
	}
	s.events = append(s.events, e)
	return e
}

func (s *memSource) Log(_ context.Context, afterID int64, limit int) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return nil, errSourceDown
	}
	i := sort.Search(len(s.events), func(i int) bool { return s.events[i].ID > afterID })
	j := min(len(s.events), i+limit)
	return append([]store.Event(nil), s.events[i:j]...), nil
}

func (s *memSource) LatestEventID(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return 0, errSourceDown
	}
	return int64(len(s.events)), nil
}

var _ Source = (*memSource)(nil)

// replay builds a StreamOptions.Replay from the source, the way the app does
// from its event table: the events of hostelIDs (nil for every hostel), never
// those of no hostel, up to upTo.
func (s *memSource) replay(hostelIDs []int64, audience string, render Renderer) func(context.Context, int64, int64) ([]Delivery, bool, error) {
	return func(ctx context.Context, afterID, upTo int64) ([]Delivery, bool, error) {
		s.mu.Lock()
		tooOld := afterID < s.pruned
		s.mu.Unlock()
		if tooOld {
			return nil, true, nil
		}
		evs, err := s.Log(ctx, afterID, 1<<30)
		if err != nil {
			return nil, false, err
		}
		var ds []Delivery
		for _, e := range evs {
			if e.ID > upTo {
				break
			}
			if e.HostelID == 0 || hostelIDs != nil && !slices.Contains(hostelIDs, e.HostelID) {
				continue
			}
			frames, err := render(ctx, e, audience)
			if err != nil {
				return nil, false, err
			}
			if len(frames) > 0 {
				ds = append(ds, Delivery{ID: e.ID, Frames: frames})
			}
		}
		return ds, false, nil
	}
}

// deliverTo is a Follower's each that hands every event to hub, rendered
// with render: how the app wires the two.
func deliverTo(hub *Hub, render Renderer) func(context.Context, store.Event) {
	return func(ctx context.Context, e store.Event) { hub.Deliver(ctx, e, render) }
}

// renderText renders one frame naming the audience and the hostel, so tests
// can tell what each audience got, e.g. "student hostel:1 7".
func renderText(_ context.Context, e store.Event, audience string) ([]Frame, error) {
	return []Frame{{Event: string(e.Kind), Data: fmt.Appendf(nil, "%s hostel:%d %d", audience, e.HostelID, e.ID)}}, nil
}

// countingRenderer counts calls per audience.
type countingRenderer struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingRenderer) render(ctx context.Context, e store.Event, audience string) ([]Frame, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[audience]++
	c.mu.Unlock()
	return renderText(ctx, e, audience)
}

func (c *countingRenderer) count(audience string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[audience]
}

// receive reads one delivery or fails after timeout.
func receive(t *testing.T, s *Subscription, timeout time.Duration) Delivery {
	t.Helper()
	select {
	case d := <-s.Deliveries():
		return d
	case <-s.Done():
		t.Fatalf("subscription ended: %v", s.Err())
	case <-time.After(timeout):
		t.Fatalf("no delivery within %v", timeout)
	}
	return Delivery{}
}

// expectNone fails if s receives anything within d.
func expectNone(t *testing.T, s *Subscription, d time.Duration) {
	t.Helper()
	select {
	case got := <-s.Deliveries():
		t.Fatalf("got delivery %d (%q), want none", got.ID, got.Frames[0].Data)
	case <-time.After(d):
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

// subscribe opens a subscription of no account: what most tests need.
func subscribe(h *Hub, hostelIDs []int64, audience string) *Subscription {
	return h.Subscribe(Subscriber{HostelIDs: hostelIDs, Audience: audience})
}
