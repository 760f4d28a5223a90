package realtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StreamOptions describes one client's stream.
type StreamOptions struct {
	// Topics and Audience are what the client was authorised for; the
	// caller decides them, never the client.
	Topics   []string
	Audience string
	// LastEventID is the newest event the client already has (see
	// LastEventID); NoLastEventID means it has none, so nothing is
	// replayed. 0 is an id like any other: a page rendered before the first
	// event is replayed everything from the first one.
	LastEventID int64
	// Replay returns the deliveries after afterID, rendered for this
	// audience and in id order; tooOld means they are no longer all
	// available (or too many), and the client gets Reload instead.
	Replay func(ctx context.Context, afterID int64) (ds []Delivery, tooOld bool, err error)
	// Reload is sent once instead of a replay that is too old, e.g. an event
	// that makes the page reload itself. Without one (no Event, no Data) the
	// stream logs the gap and goes live.
	Reload Frame
	// Heartbeat is the longest silence before a comment line (default 20s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to the client once (default 3s).
	Retry time.Duration
}

// Serve streams opts.Topics to one client until the client goes away (nil),
// the subscription is dropped for slowness (ErrSlow), the hub closes
// (ErrClosed), or a write or replay fails. It subscribes before replaying,
// and skips live deliveries that the replay already wrote, so the client sees
// every event once, in order. Every frame carries its delivery's id. A
// server WriteTimeout does not apply to the stream. The response must not be
// compressed or buffered by middleware: Serve flushes after every write.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, opts StreamOptions) error {
	if len(opts.Topics) == 0 {
		return errors.New("realtime: serve: no topics")
	}
	err := h.serve(w, r, opts)
	if r.Context().Err() != nil {
		return nil // the client left: whatever failed on the way out is no error
	}
	return err
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, opts StreamOptions) error {
	ctx := r.Context()
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 20 * time.Second
	}
	if opts.Retry <= 0 {
		opts.Retry = 3 * time.Second
	}
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("realtime: serve: clear write deadline: %w", err)
	}

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	hd.Del("Content-Length")

	// Subscribe before reading the replay: an event committed in between is
	// then both replayed and queued, and the queued copy is skipped below.
	sub := h.Subscribe(opts.Topics, opts.Audience)
	defer sub.Close()

	sw := streamWriter{w: w, rc: rc}
	w.WriteHeader(http.StatusOK)
	if err := sw.write(AppendRetry(sw.buf[:0], opts.Retry)); err != nil {
		return err
	}

	written := max(opts.LastEventID, 0) // highest event id the client has been sent
	if opts.LastEventID >= 0 && opts.Replay != nil {
		ds, tooOld, err := opts.Replay(ctx, opts.LastEventID)
		if err != nil {
			return fmt.Errorf("realtime: serve: replay after %d: %w", opts.LastEventID, err)
		}
		if tooOld {
			if opts.Reload.Event == "" && len(opts.Reload.Data) == 0 {
				h.log.WarnContext(ctx, "realtime: replay too old and no reload frame; going live with a gap",
					"last_event_id", opts.LastEventID, "topics", opts.Topics)
			} else if err := sw.write(AppendFrame(sw.buf[:0], opts.Reload)); err != nil {
				return err
			}
		} else {
			for _, d := range ds {
				if d.ID <= written {
					continue
				}
				if err := sw.delivery(d); err != nil {
					return err
				}
				written = d.ID
			}
		}
	}

	heartbeat := time.NewTicker(opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			err := sub.Err()
			if errors.Is(err, ErrClosed) {
				// Shutdown: what is already rendered and queued is still
				// worth sending before the client moves elsewhere.
				if werr := sw.drain(sub, &written); werr != nil {
					return werr
				}
			}
			return err
		case <-heartbeat.C:
			if err := sw.write(AppendComment(sw.buf[:0], "heartbeat")); err != nil {
				return err
			}
		case d := <-sub.Deliveries():
			if d.ID <= written {
				continue // already sent by the replay
			}
			if err := sw.delivery(d); err != nil {
				return err
			}
			written = d.ID
			heartbeat.Reset(opts.Heartbeat)
		}
	}
}

// drain writes the deliveries still queued in sub.
func (sw *streamWriter) drain(sub *Subscription, written *int64) error {
	for {
		select {
		case d := <-sub.Deliveries():
			if d.ID <= *written {
				continue
			}
			if err := sw.delivery(d); err != nil {
				return err
			}
			*written = d.ID
		default:
			return nil
		}
	}
}

// streamWriter writes and flushes, reusing one buffer.
type streamWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

func (sw *streamWriter) delivery(d Delivery) error {
	b := sw.buf[:0]
	for _, f := range d.Frames {
		f.ID = d.ID
		b = AppendFrame(b, f)
	}
	return sw.write(b)
}

func (sw *streamWriter) write(b []byte) error {
	sw.buf = b
	if len(b) == 0 {
		return nil
	}
	if _, err := sw.w.Write(b); err != nil {
		return fmt.Errorf("realtime: serve: write: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("realtime: serve: flush: %w", err)
	}
	return nil
}

// NoLastEventID is a client that has no event yet: it is not replayed anything.
const NoLastEventID = -1

// LastEventID returns the newest event id a client reports having: the
// greater of its Last-Event-ID header (sent by the browser's own reconnects)
// and the query parameter named param (set in the page, which covers the
// first connection and reconnects that drop the header). Missing or
// malformed values count as none: NoLastEventID when both are.
func LastEventID(r *http.Request, param string) int64 {
	id := parseEventID(r.Header.Get("Last-Event-ID"))
	if param != "" {
		id = max(id, parseEventID(r.URL.Query().Get(param)))
	}
	return id
}

func parseEventID(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return NoLastEventID
	}
	return n
}
