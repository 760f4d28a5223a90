package realtime

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"hostelhub/store"
)

var (
	// ErrSlow ends a subscription whose queue was full when an event came:
	// the client is disconnected rather than allowed to slow the others,
	// and catches up by reconnecting with its Last-Event-ID.
	ErrSlow = errors.New("realtime: subscriber too slow")
	// ErrClosed ends a subscription closed by its owner or by Hub.Close.
	ErrClosed = errors.New("realtime: subscription closed")
	// ErrRevoked ends a subscription whose right to exist has ended: its
	// session signed out, expired or changed, or its account changed.
	ErrRevoked = errors.New("realtime: subscription revoked")
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
	Revoked      uint64 // subscriptions ended by their session's or account's change or expiry (ErrRevoked)
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
	mu        sync.RWMutex
	hostels   map[int64]audiences // subscriptions to one hostel's events
	every     audiences           // subscriptions to every hostel's events
	all       audiences           // every subscription, once: for events to every hostel
	byUser    map[int64][]*Subscription
	bySession map[int64][]*Subscription
	subs      int
	closed    bool
	seen      int64 // the newest event passed to Deliver (or Seen)

	// deliverMu serialises Deliver, so that every queue receives events
	// in the order Deliver was called even if two goroutines call it.
	deliverMu sync.Mutex
	rendered  []audienceFrames
	slow      []*Subscription

	events       atomic.Uint64
	delivered    atomic.Uint64
	dropped      atomic.Uint64
	revoked      atomic.Uint64
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
		all:       make(audiences),
		byUser:    make(map[int64][]*Subscription),
		bySession: make(map[int64][]*Subscription),
	}
}

// Subscriber is who a subscription is for, as the caller authorised it:
// never the client's to say.
type Subscriber struct {
	HostelIDs []int64 // the hostels whose events it receives; nil: every hostel
	Audience  string  // who it renders for
	// The account and session it belongs to: a change to either ends it
	// (events of kind store.EventUser and store.EventSession), as does
	// the session's expiry. Zero for none.
	UserID  int64
	Session int64 // the session's reference (store.Session.Ref)
	Expires time.Time
}

// Subscribe opens a subscription for sub. Listing a hostel twice still
// delivers each event once. On a closed hub the subscription is already
// done, with ErrClosed. The caller must Close it when finished.
func (h *Hub) Subscribe(sub Subscriber) *Subscription {
	s := &Subscription{
		hub:      h,
		audience: sub.Audience,
		every:    sub.HostelIDs == nil,
		user:     sub.UserID,
		session:  sub.Session,
		ch:       make(chan Delivery, h.queueSize),
		done:     make(chan struct{}),
	}
	for _, id := range sub.HostelIDs {
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
	h.all[s.audience] = append(h.all[s.audience], e)
	if s.every {
		h.every[s.audience] = append(h.every[s.audience], e)
	}
	for _, id := range s.hostels {
		byAud := h.hostels[id]
		if byAud == nil {
			byAud = make(audiences)
			h.hostels[id] = byAud
		}
		byAud[s.audience] = append(byAud[s.audience], e)
	}
	if s.user != 0 {
		h.byUser[s.user] = append(h.byUser[s.user], s)
	}
	if s.session != 0 {
		h.bySession[s.session] = append(h.bySession[s.session], s)
	}
	s.from = h.seen
	if !sub.Expires.IsZero() {
		s.expiry = time.AfterFunc(time.Until(sub.Expires), func() { h.revoke([]*Subscription{s}) })
	}
	s.registered = true
	h.subs++
	h.mu.Unlock()
	return s
}

// Deliver renders e once for each audience subscribed to e's hostel (or to
// every hostel) and queues the frames to those subscriptions; an event of
// no hostel that streams show goes to every subscription, once. It never
// waits for a subscriber: one whose queue is full is dropped with ErrSlow.
// Render errors are logged and that audience misses e. Calls are
// serialised, and each subscription receives events in the order Deliver
// was called. An event about an account (store.EventSession,
// store.EventUser) ends that session's or account's subscriptions with
// ErrRevoked, before any event delivered after it.
func (h *Hub) Deliver(ctx context.Context, e store.Event, render Renderer) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	if !e.Kind.Streamed() {
		h.mu.Lock()
		h.seen = max(h.seen, e.ID)
		h.mu.Unlock()
		h.revokeFor(e)
		return
	}
	h.events.Add(1)

	// Snapshot the audiences present; render outside the lock, and only for
	// them. A subscription added after this snapshot misses e live, but it
	// subscribed after e was seen, so its replay includes e (see Seen).
	h.rendered = h.rendered[:0]
	h.mu.Lock()
	h.seen = max(h.seen, e.ID)
	targets := [2]audiences{h.hostels[e.HostelID], h.every}
	if e.HostelID == 0 {
		targets = [2]audiences{h.all}
	}
	for i, byAud := range targets {
		for aud, list := range byAud {
			j := h.audienceIndex(aud)
			if j < 0 {
				j = len(h.rendered)
				h.rendered = append(h.rendered, audienceFrames{audience: aud})
			}
			h.rendered[j].lists[i] = list
		}
	}
	h.mu.Unlock()

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

// Seen tells the hub that every event up to id has been passed to it, or
// never will be: the follower's starting point. A subscription's replay
// covers the events the hub had seen when it subscribed (Subscription.From).
func (h *Hub) Seen(id int64) {
	h.mu.Lock()
	h.seen = max(h.seen, id)
	h.mu.Unlock()
}

// revokeFor ends the subscriptions of the session or account e is about.
func (h *Hub) revokeFor(e store.Event) {
	h.mu.RLock()
	var subs []*Subscription
	switch e.Kind {
	case store.EventSession:
		subs = slices.Clone(h.bySession[e.RefID])
	case store.EventUser:
		subs = slices.Clone(h.byUser[e.RefID])
	}
	h.mu.RUnlock()
	h.revoke(subs)
}

// revoke ends subs with ErrRevoked.
func (h *Hub) revoke(subs []*Subscription) {
	for _, s := range subs {
		if h.remove(s) {
			h.revoked.Add(1)
		}
		s.finish(ErrRevoked)
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
	without(h.all, s)
	if s.every {
		without(h.every, s)
	}
	for _, id := range s.hostels {
		if byAud := h.hostels[id]; without(byAud, s) {
			delete(h.hostels, id)
		}
	}
	if s.user != 0 {
		if h.byUser[s.user] = slices.DeleteFunc(slices.Clone(h.byUser[s.user]), s.is); len(h.byUser[s.user]) == 0 {
			delete(h.byUser, s.user)
		}
	}
	if s.session != 0 {
		if h.bySession[s.session] = slices.DeleteFunc(slices.Clone(h.bySession[s.session]), s.is); len(h.bySession[s.session]) == 0 {
			delete(h.bySession, s.session)
		}
	}
	if s.expiry != nil {
		s.expiry.Stop()
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
	for _, list := range h.all {
		for _, e := range list {
			e.s.registered = false
			if e.s.expiry != nil {
				e.s.expiry.Stop()
			}
			all = append(all, e.s)
		}
	}
	h.hostels = make(map[int64]audiences)
	h.every = make(audiences)
	h.all = make(audiences)
	h.byUser = make(map[int64][]*Subscription)
	h.bySession = make(map[int64][]*Subscription)
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
		Revoked:      h.revoked.Load(),
		RenderErrors: h.renderErrors.Load(),
	}
}
