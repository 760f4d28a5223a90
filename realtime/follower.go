package realtime

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"hostelhub/store"
)

// Source is the committed event table, read in id order: a *store.Store.
type Source interface {
	// Log returns up to limit events with an id greater than afterID, in
	// increasing id order.
	Log(ctx context.Context, afterID int64, limit int) ([]store.Event, error)
	// LatestEventID returns the greatest committed event id, or 0 if there is none.
	LatestEventID(ctx context.Context) (int64, error)
}

// FollowerOptions configures a Follower; the zero value is usable.
type FollowerOptions struct {
	// PollInterval is the safety-net read of the event table that covers
	// lost notifications (default 1s).
	PollInterval time.Duration
	// BatchSize is the limit passed to Source.Log (default 256).
	BatchSize int
	// OnStart, if set, hears the id Run starts after, before any event:
	// every event up to it is in the log already (Hub.Seen).
	OnStart func(id int64)
	// Logger receives source and transport errors (default slog.Default()).
	Logger *slog.Logger
}

// Follower tails the event table and hands every new event, in id order and
// exactly once, to one function. It reads on every wake-up (from the
// Transport or Wake) and on a poll ticker, so notifications that arrive out
// of order, late or never cannot reorder or lose events. Run it once per
// instance.
type Follower struct {
	src  Source
	each func(context.Context, store.Event)
	tr   Transport
	opts FollowerOptions

	lastID       atomic.Int64
	sourceErrors atomic.Uint64
	wake         chan struct{}
}

// NewFollower returns a Follower that calls each with every event of src,
// this instance's and others', on its own goroutine; each should be quick.
// tr may be nil, leaving Wake and the poll ticker.
func NewFollower(src Source, each func(context.Context, store.Event), tr Transport, opts FollowerOptions) *Follower {
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Follower{src: src, each: each, tr: tr, opts: opts, wake: make(chan struct{}, 1)}
}

// LastID returns the id of the last event handed on (or, before any, the
// latest id when Run started).
func (f *Follower) LastID() int64 { return f.lastID.Load() }

// SourceErrors returns how many reads of the Source have failed so far.
func (f *Follower) SourceErrors() uint64 { return f.sourceErrors.Load() }

// Wake asks the follower to read the event table now. id is the newest
// event id known to the caller, or 0 if unknown; an id already delivered is
// ignored. Wake never blocks: wake-ups that arrive while one is pending
// merge into it. The app calls it after its own commits, so local streams
// never depend on the Transport.
func (f *Follower) Wake(id int64) {
	if id > 0 && id <= f.lastID.Load() {
		return
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run starts from Source.LatestEventID and follows the event table until ctx ends,
// then returns nil once its transport listener has stopped. Source and
// Transport errors are logged and retried with backoff, never returned.
func (f *Follower) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if f.tr != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.listen(ctx)
		}()
	}

	var bo backoff
	for {
		latest, err := f.src.LatestEventID(ctx)
		if err == nil {
			f.lastID.Store(latest)
			if f.opts.OnStart != nil {
				f.opts.OnStart(latest)
			}
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		f.sourceErrors.Add(1)
		f.opts.Logger.ErrorContext(ctx, "realtime: follower: latest event id", "err", err)
		if !sleep(ctx, bo.next()) {
			return nil
		}
	}

	ticker := time.NewTicker(f.opts.PollInterval)
	defer ticker.Stop()
	for {
		if !f.catchUp(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-ticker.C:
		}
	}
}

// catchUp delivers every event after lastID, retrying a failing Source with
// backoff; it returns false when ctx ends.
func (f *Follower) catchUp(ctx context.Context) bool {
	var bo backoff
	for {
		last := f.lastID.Load()
		evs, err := f.src.Log(ctx, last, f.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			f.sourceErrors.Add(1)
			f.opts.Logger.ErrorContext(ctx, "realtime: follower: read events", "after_id", last, "err", err)
			if !sleep(ctx, bo.next()) {
				return false
			}
			continue
		}
		bo = backoff{}
		if len(evs) == 0 {
			return true
		}
		for _, e := range evs {
			if e.ID <= last {
				continue // a Source that repeats itself must not repeat deliveries
			}
			f.each(ctx, e)
			last = e.ID
			f.lastID.Store(last)
		}
		if ctx.Err() != nil {
			return false
		}
	}
}

func (f *Follower) listen(ctx context.Context) {
	var bo backoff
	for {
		err := f.tr.Listen(ctx, f.Wake)
		if ctx.Err() != nil {
			return
		}
		f.opts.Logger.ErrorContext(ctx, "realtime: follower: transport listen", "err", err)
		f.Wake(0) // whatever was notified meanwhile is in the event table
		if !sleep(ctx, bo.next()) {
			return
		}
	}
}

// backoff yields 100ms, 200ms, … up to 5s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else {
		b.d = min(2*b.d, 5*time.Second)
	}
	return b.d
}

// sleep waits for d or until ctx ends, reporting whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
