package realtime

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"hostelhub/store"
)

var (
	// ErrSlow ends a subscription whose queue was full when an event came:
	// the client is disconnected rather than allowed to slow the others,
	// and catches up by reconnecting with its Last-Event-ID.
	ErrSlow = errors.New("realtime: subscriber too slow")
	// ErrClosed ends a subscription closed by its owner or by Hub.Close.
	ErrClosed = errors.New("realtime: subscription closed")
)

// Renderer returns the frames one audience receives for e; nil or empty
// means nothing for that audience. The hub calls it once per audience that
// has subscribers, never once per subscriber, and shares the returned
// frames (read-only) among that audience's subscriptions.
type Renderer func(ctx context.Context, e store.Event, audience string) ([]Frame, error)

// Delivery is what one subscription receives for one event: the frames
// rendered for its audience. Frames are shared and must not be modified.
type Delivery struct {
	ID     int64   // the event's id; Serve writes it on every frame
	Frames []Frame // what the Renderer returned for the subscription's audience
}

// HubOptions configures a Hub; the zero value is usable.
type HubOptions struct {
	// QueueSize bounds each subscription's queue of undelivered messages
	// (default 64). A subscription whose queue is full is dropped.
	QueueSize int
	// Logger receives render errors and drops (default slog.Default()).
	Logger *slog.Logger
}

// HubStats is a snapshot of a hub's counters.
type HubStats struct {
	Subscribers  int    // open subscriptions now
	Events       uint64 // events passed to Deliver that streams show
	Delivered    uint64 // deliveries queued, one per subscription per event
	Dropped      uint64 // subscriptions dropped for a full queue (ErrSlow)
	RenderErrors uint64 // Renderer calls that failed; those audiences missed the event
}

// Hub fans events out to subscriptions by hostel and audience. Its methods
// are safe for concurrent use.
type Hub struct {
	queueSize int
	log       *slog.Logger

	// mu guards the subscription maps. Deliver iterates snapshots of their lists
	// without holding mu, so subscribing and unsubscribing never wait for a
	// fan-out, nor a fan-out for them. That is safe because no element of a
	// list is ever overwritten: Subscribe only appends (in place or into a
	// copy) and remove always builds a new list.
	mu      sync.RWMutex
	hostels map[int64]audiences // subscriptions to one hostel's events
	every   audiences           // subscriptions to every hostel's events
	subs    int
	closed  bool

	// deliverMu serialises Deliver, so that every queue receives events
	// in the order Deliver was called even if two goroutines call it.
	deliverMu sync.Mutex
	rendered  []audienceFrames
	slow      []*Subscription

	events       atomic.Uint64
	delivered    atomic.Uint64
	dropped      atomic.Uint64
	renderErrors atomic.Uint64
}

// audiences lists subscriptions by audience.
type audiences map[string][]subEntry

type audienceFrames struct {
	audience string
	lists    [2][]subEntry // the audience's subscriptions to the event's hostel and to every hostel
}

// subEntry keeps the queue next to its subscription, so a fan-out touches
// only the channel unless the queue is full.
type subEntry struct {
	ch chan Delivery
	s  *Subscription
}

// NewHub returns a Hub.
func NewHub(opts HubOptions) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Hub{
		queueSize: opts.QueueSize,
		log:       opts.Logger,
		hostels:   make(map[int64]audiences),
		every:     make(audiences),
	}
}

// Subscribe opens a subscription to the events of hostelIDs (nil for every
// hostel) for one audience. Listing a hostel twice still delivers each event
// once. On a closed hub the subscription is already done, with ErrClosed.
// The caller must Close it when finished.
func (h *Hub) Subscribe(hostelIDs []int64, audience string) *Subscription {
	s := &Subscription{
		hub:      h,
		audience: audience,
		every:    hostelIDs == nil,
		ch:       make(chan Delivery, h.queueSize),
		done:     make(chan struct{}),
	}
	for _, id := range hostelIDs {
		if !slices.Contains(s.hostels, id) {
			s.hostels = append(s.hostels, id)
		}
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.finish(ErrClosed)
		return s
	}
	e := subEntry{s.ch, s}
	if s.every {
		h.every[audience] = append(h.every[audience], e)
	}
	for _, id := range s.hostels {
		byAud := h.hostels[id]
		if byAud == nil {
			byAud = make(audiences)
			h.hostels[id] = byAud
		}
		byAud[audience] = append(byAud[audience], e)
	}
	s.registered = true
	h.subs++
	h.mu.Unlock()
	return s
}

// Deliver renders e once for each audience subscribed to e's hostel (or to
// every hostel) and queues the frames to those subscriptions. It never waits
// for a subscriber: one whose queue is full is dropped with ErrSlow. Render
// errors are logged and that audience misses e. Calls are serialised, and
// each subscription receives events in the order Deliver was called. An
// event of no hostel is for no stream: Deliver ignores it.
func (h *Hub) Deliver(ctx context.Context, e store.Event, render Renderer) {
	if e.HostelID == 0 {
		return
	}
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	h.events.Add(1)

	// Snapshot the audiences present; render outside the lock, and only for
	// them. A subscription added after this snapshot misses e live, but it
	// subscribed after e was committed, so its replay includes e.
	h.rendered = h.rendered[:0]
	h.mu.RLock()
	for i, byAud := range [2]audiences{h.hostels[e.HostelID], h.every} {
		for aud, list := range byAud {
			j := h.audienceIndex(aud)
			if j < 0 {
				j = len(h.rendered)
				h.rendered = append(h.rendered, audienceFrames{audience: aud})
			}
			h.rendered[j].lists[i] = list
		}
	}
	h.mu.RUnlock()

	var n uint64
	h.slow = h.slow[:0]
	for i := range h.rendered {
		r := &h.rendered[i]
		frames, err := render(ctx, e, r.audience)
		if err != nil {
			h.renderErrors.Add(1)
			h.log.ErrorContext(ctx, "realtime: render", "event_id", e.ID, "hostel_id", e.HostelID,
				"kind", e.Kind, "audience", r.audience, "err", err)
		}
		if len(frames) > 0 && err == nil {
			d := Delivery{ID: e.ID, Frames: frames}
			for _, list := range r.lists {
				for _, se := range list {
					select {
					case se.ch <- d:
						n++
					default:
						h.slow = append(h.slow, se.s)
					}
				}
			}
		}
		*r = audienceFrames{} // do not keep lists alive until the next event
	}
	h.delivered.Add(n)

	for i, s := range h.slow {
		// A subscription removed since the snapshot may still have been
		// sent to; its queue is simply never read.
		if h.remove(s) {
			h.dropped.Add(1)
			h.log.WarnContext(ctx, "realtime: dropped slow subscriber", "event_id", e.ID,
				"hostels", s.hostels, "audience", s.audience, "queue", cap(s.ch))
		}
		s.finish(ErrSlow)
		h.slow[i] = nil
	}
}

func (h *Hub) audienceIndex(aud string) int {
	for i := range h.rendered {
		if h.rendered[i].audience == aud {
			return i
		}
	}
	return -1
}

// remove unregisters s and reports whether it was still registered.
func (h *Hub) remove(s *Subscription) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.registered {
		return false
	}
	s.registered = false
	h.subs--
	if s.every {
		without(h.every, s)
	}
	for _, id := range s.hostels {
		if byAud := h.hostels[id]; without(byAud, s) {
			delete(h.hostels, id)
		}
	}
	return true
}

// without takes s out of its audience's list, building a new list (see
// Hub.mu), and reports whether no audience is left.
func without(byAud audiences, s *Subscription) bool {
	old := byAud[s.audience]
	list := make([]subEntry, 0, len(old))
	for _, e := range old {
		if e.s != s {
			list = append(list, e)
		}
	}
	if len(list) > 0 {
		byAud[s.audience] = list
	} else {
		delete(byAud, s.audience)
	}
	return len(byAud) == 0
}

// Close ends every subscription with ErrClosed, so that streams return and
// browsers reconnect (to another instance during a shutdown). Later
// subscriptions are closed from the start. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Subscription
	for _, byAud := range append(slices.Collect(maps.Values(h.hostels)), h.every) {
		for _, list := range byAud {
			for _, e := range list {
				if e.s.registered {
					e.s.registered = false
					all = append(all, e.s)
				}
			}
		}
	}
	h.hostels = make(map[int64]audiences)
	h.every = make(audiences)
	h.subs = 0
	h.mu.Unlock()
	for _, s := range all {
		s.finish(ErrClosed)
	}
}

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.RLock()
	subs := h.subs
	h.mu.RUnlock()
	return HubStats{
		Subscribers:  subs,
		Events:       h.events.Load(),
		Delivered:    h.delivered.Load(),
		Dropped:      h.dropped.Load(),
		RenderErrors: h.renderErrors.Load(),
	}
}
