package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// AllTopics, as a subscription topic, receives the messages of every topic.
const AllTopics = "*"

var (
	// ErrSlow ends a subscription whose queue was full when a message came:
	// the client is disconnected rather than allowed to slow the others,
	// and catches up by reconnecting with its Last-Event-ID.
	ErrSlow = errors.New("realtime: subscriber too slow")
	// ErrClosed ends a subscription closed by its owner or by Hub.Close.
	ErrClosed = errors.New("realtime: subscription closed")
)

// Message is one committed event, as the follower reads it from the store.
type Message struct {
	ID    int64  // the event row's id; ids increase in commit order
	Topic string // e.g. "hostel:3"; "" is for the follower's OnMessage only, never a stream
	Kind  string // e.g. "new_issue"
	Ref   int64  // what it refers to (issue id, announcement id)
}

// Renderer returns the frames one audience receives for m; nil or empty
// means nothing for that audience. The hub calls it once per audience that
// has subscribers, never once per subscriber, and shares the returned
// frames (read-only) among that audience's subscriptions.
type Renderer func(ctx context.Context, m Message, audience string) ([]Frame, error)

// Delivery is what one subscription receives for one message: the frames
// rendered for its audience. Frames are shared and must not be modified.
type Delivery struct {
	ID     int64   // the message's id; Serve writes it on every frame
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
	Messages     uint64 // messages passed to Deliver
	Delivered    uint64 // deliveries queued, one per subscription per message
	Dropped      uint64 // subscriptions dropped for a full queue (ErrSlow)
	RenderErrors uint64 // Renderer calls that failed; those audiences missed the message
}

// Hub fans messages out to subscriptions by topic and audience. Its methods
// are safe for concurrent use.
type Hub struct {
	render    Renderer
	queueSize int
	log       *slog.Logger

	// mu guards the topic map. Deliver iterates snapshots of its lists
	// without holding mu, so subscribing and unsubscribing never wait for a
	// fan-out, nor a fan-out for them. That is safe because no element of a
	// list is ever overwritten: Subscribe only appends (in place or into a
	// copy) and remove always builds a new list.
	mu     sync.RWMutex
	topics map[string]map[string][]subEntry // topic → audience → subscriptions
	subs   int
	closed bool

	// deliverMu serialises Deliver, so that every queue receives messages
	// in the order Deliver was called even if two goroutines call it.
	deliverMu sync.Mutex
	rendered  []audienceFrames
	slow      []*Subscription

	messages     atomic.Uint64
	delivered    atomic.Uint64
	dropped      atomic.Uint64
	renderErrors atomic.Uint64
}

type audienceFrames struct {
	audience string
	frames   []Frame
	lists    [2][]subEntry // the audience's subscriptions to the topic and to AllTopics
}

// subEntry keeps the queue next to its subscription, so a fan-out touches
// only the channel unless the queue is full.
type subEntry struct {
	ch chan Delivery
	s  *Subscription
}

// NewHub returns a Hub that renders messages with render, which must not be nil.
func NewHub(render Renderer, opts HubOptions) *Hub {
	if render == nil {
		panic("realtime: NewHub with nil Renderer")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Hub{
		render:    render,
		queueSize: opts.QueueSize,
		log:       opts.Logger,
		topics:    make(map[string]map[string][]subEntry),
	}
}

// Subscribe opens a subscription to topics (AllTopics for every topic) for
// one audience. Listing a topic twice, or a topic next to AllTopics, still
// delivers each message once. On a closed hub the subscription is already
// done, with ErrClosed. The caller must Close it when finished.
func (h *Hub) Subscribe(topics []string, audience string) *Subscription {
	s := &Subscription{
		hub:      h,
		audience: audience,
		ch:       make(chan Delivery, h.queueSize),
		done:     make(chan struct{}),
	}
	for _, t := range topics {
		if t == AllTopics {
			s.topics = []string{AllTopics}
			break
		}
		if !contains(s.topics, t) {
			s.topics = append(s.topics, t)
		}
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.finish(ErrClosed)
		return s
	}
	for _, t := range s.topics {
		byAud := h.topics[t]
		if byAud == nil {
			byAud = make(map[string][]subEntry)
			h.topics[t] = byAud
		}
		byAud[audience] = append(byAud[audience], subEntry{s.ch, s})
	}
	s.registered = true
	h.subs++
	h.mu.Unlock()
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Deliver renders m once for each audience subscribed to m.Topic (or to
// AllTopics) and queues the frames to those subscriptions. It never waits
// for a subscriber: one whose queue is full is dropped with ErrSlow. Render
// errors are logged and that audience misses m. Calls are serialised, and
// each subscription receives messages in the order Deliver was called.
// A message with no topic is for no stream: Deliver ignores it.
func (h *Hub) Deliver(ctx context.Context, m Message) {
	if m.Topic == "" {
		return
	}
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	h.messages.Add(1)

	// Snapshot the audiences present; render outside the lock, and only for
	// them. A subscription added after this snapshot misses m live, but it
	// subscribed after m was committed, so its replay includes m.
	h.rendered = h.rendered[:0]
	h.mu.RLock()
	for i, t := range [2]string{m.Topic, AllTopics} {
		if i == 1 && m.Topic == AllTopics {
			break
		}
		for aud, list := range h.topics[t] {
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
		frames, err := h.render(ctx, m, r.audience)
		if err != nil {
			h.renderErrors.Add(1)
			h.log.ErrorContext(ctx, "realtime: render", "event_id", m.ID, "topic", m.Topic,
				"kind", m.Kind, "audience", r.audience, "err", err)
		}
		if len(frames) > 0 && err == nil {
			d := Delivery{ID: m.ID, Frames: frames}
			for _, list := range r.lists {
				for _, e := range list {
					select {
					case e.ch <- d:
						n++
					default:
						h.slow = append(h.slow, e.s)
					}
				}
			}
		}
		*r = audienceFrames{} // do not keep lists or frames alive until the next message
	}
	h.delivered.Add(n)

	for i, s := range h.slow {
		// A subscription removed since the snapshot may still have been
		// sent to; its queue is simply never read.
		if h.remove(s) {
			h.dropped.Add(1)
			h.log.WarnContext(ctx, "realtime: dropped slow subscriber", "event_id", m.ID,
				"topics", s.topics, "audience", s.audience, "queue", cap(s.ch))
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
	for _, t := range s.topics {
		byAud := h.topics[t]
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
		if len(byAud) == 0 {
			delete(h.topics, t)
		}
	}
	return true
}

// Close ends every subscription with ErrClosed, so that streams return and
// browsers reconnect (to another instance during a shutdown). Later
// subscriptions are closed from the start. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Subscription
	for _, byAud := range h.topics {
		for _, list := range byAud {
			for _, e := range list {
				if e.s.registered {
					e.s.registered = false
					all = append(all, e.s)
				}
			}
		}
	}
	h.topics = make(map[string]map[string][]subEntry)
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
		Messages:     h.messages.Load(),
		Delivered:    h.delivered.Load(),
		Dropped:      h.dropped.Load(),
		RenderErrors: h.renderErrors.Load(),
	}
}
