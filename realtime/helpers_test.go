package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"
)

var quietLog = slog.New(slog.DiscardHandler)

// memSource is an in-memory event table: ids 1, 2, 3, … in commit order.
type memSource struct {
	mu       sync.Mutex
	msgs     []Message
	failNext int   // fail this many upcoming calls
	pruned   int64 // events up to this id are no longer available for replay
}

var errSourceDown = errors.New("source down")

func (s *memSource) Append(topic, kind string, ref int64) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Message{ID: int64(len(s.msgs)) + 1, Topic: topic, Kind: kind, Ref: ref}
	s.msgs = append(s.msgs, m)
	return m
}

func (s *memSource) After(_ context.Context, afterID int64, limit int) ([]Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return nil, errSourceDown
	}
	i := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].ID > afterID })
	j := min(len(s.msgs), i+limit)
	return append([]Message(nil), s.msgs[i:j]...), nil
}

func (s *memSource) Latest(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return 0, errSourceDown
	}
	return int64(len(s.msgs)), nil
}

// replay builds a StreamOptions.Replay from the source, the way the app does
// from its event table.
func (s *memSource) replay(topics []string, audience string, render Renderer) func(context.Context, int64) ([]Delivery, bool, error) {
	return func(ctx context.Context, afterID int64) ([]Delivery, bool, error) {
		s.mu.Lock()
		tooOld := afterID < s.pruned
		s.mu.Unlock()
		if tooOld {
			return nil, true, nil
		}
		msgs, err := s.After(ctx, afterID, 1<<30)
		if err != nil {
			return nil, false, err
		}
		var ds []Delivery
		for _, m := range msgs {
			if !contains(topics, m.Topic) && !contains(topics, AllTopics) {
				continue
			}
			frames, err := render(ctx, m, audience)
			if err != nil {
				return nil, false, err
			}
			if len(frames) > 0 {
				ds = append(ds, Delivery{ID: m.ID, Frames: frames})
			}
		}
		return ds, false, nil
	}
}

// renderText renders one frame naming the audience, so tests can tell what
// each audience got.
func renderText(_ context.Context, m Message, audience string) ([]Frame, error) {
	return []Frame{{Event: m.Kind, Data: fmt.Appendf(nil, "%s %s %d", audience, m.Topic, m.ID)}}, nil
}

// countingRenderer counts calls per audience.
type countingRenderer struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingRenderer) render(ctx context.Context, m Message, audience string) ([]Frame, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[audience]++
	c.mu.Unlock()
	return renderText(ctx, m, audience)
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
