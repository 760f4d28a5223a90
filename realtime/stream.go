package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StreamOptions describes one client's stream.
type StreamOptions struct {
	// HostelIDs (nil for every hostel) and Audience are what the client was
	// authorised for; the caller decides them, never the client.
	HostelIDs []int64
	Audience  string
	// UserID, Session and Expires are what the stream belongs to (see
	// Subscriber): their change or end ends the stream, with Revoked.
	UserID  int64
	Session int64
	Expires time.Time
	// Check, if set, says whether the client may still have the stream,
	// asked once the stream is subscribed: a change committed while the
	// request was being authorised (and heard before the subscription)
	// then ends it as one heard later would.
	Check func(ctx context.Context) bool
	// Done, if set, runs once when the stream ends, however it ends: when
	// Serve returns, or, for a stream taken over (Detach), when its own
	// goroutine ends after Serve has returned.
	Done func()
	// Revoked is sent, last, to a stream ended because its session or
	// account changed or its session expired: e.g. an event that makes
	// the page reload, and so ask the server what it may show now.
	Revoked Frame
	// LastEventID is the newest event the client already has (see
	// LastEventID); NoLastEventID means it has none, so nothing is
	// replayed. 0 is an id like any other: a page rendered before the first
	// event is replayed everything from the first one.
	LastEventID int64
	// Replay returns the deliveries after afterID and up to upTo, rendered
	// for this audience and in id order; the events after upTo arrive
	// live. tooOld means they are no longer all available (or too many),
	// and the client gets Reload instead.
	Replay func(ctx context.Context, afterID, upTo int64) (ds []Delivery, tooOld bool, err error)
	// Reload is sent once instead of a replay that is too old, e.g. an event
	// that makes the page reload itself. Without one (no Event, no Data) the
	// stream logs the gap and goes live.
	Reload Frame
	// Heartbeat is the longest silence before a comment line (default 20s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to the client once (default 3s).
	Retry time.Duration
	// Detach takes an HTTP/1.x connection over once the stream's head and
	// replay are written, and serves the rest from a goroutine of its own,
	// so that Serve returns at once: the request's goroutine, net/http's
	// buffers and the middleware's state are freed, which is most of what
	// an open stream costs. A client that leaves is noticed at once (a
	// small goroutine waits on the connection). HTTP/2 streams, and
	// connections that cannot be taken over, are served in place.
	Detach bool
}

// detachedWriteTimeout bounds one write to a detached stream: a client
// that stops reading is cut off, as its full queue would have it anyway.
const detachedWriteTimeout = 10 * time.Second

// Serve streams the events of opts.HostelIDs to one client until the
// client goes away (nil), the subscription is dropped for slowness
// (ErrSlow), revoked (ErrRevoked, after the Revoked frame), the hub closes
// (ErrClosed), or a write or replay fails. It subscribes before replaying,
// and skips live deliveries that the replay already wrote, so the client sees
// every event once, in order. Every frame carries its delivery's id. A
// server WriteTimeout does not apply to the stream. The response must not be
// compressed or buffered by middleware: Serve flushes after every write.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, opts StreamOptions) error {
	done := opts.Done
	opts.Done = nil
	handedOff := false
	defer func() {
		if done != nil && !handedOff {
			done()
		}
	}()
	if opts.HostelIDs != nil && len(opts.HostelIDs) == 0 {
		return errors.New("realtime: serve: no hostels")
	}
	opts.Done = func() { // the taken-over stream's own end
		if done != nil {
			done()
		}
	}
	err := h.serve(w, r, opts, &handedOff)
	if r.Context().Err() != nil {
		return nil // the client left: whatever failed on the way out is no error
	}
	return err
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request, opts StreamOptions, handedOff *bool) error {
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
	sub := h.Subscribe(Subscriber{HostelIDs: opts.HostelIDs, Audience: opts.Audience,
		UserID: opts.UserID, Session: opts.Session, Expires: opts.Expires})
	if opts.Check != nil && !opts.Check(ctx) {
		h.revoke([]*Subscription{sub})
	}
	var sw *streamWriter
	var conn net.Conn
	if opts.Detach && r.ProtoMajor == 1 {
		conn, sw = takeOver(rc, hd)
	}
	if conn == nil {
		sw = &streamWriter{w: w, flush: rc.Flush}
		w.WriteHeader(http.StatusOK)
	}
	written, err := h.start(ctx, sw, sub, opts)
	if err != nil {
		sub.Close()
		if conn != nil {
			conn.Close()
		}
		return err
	}
	if conn == nil {
		defer sub.Close()
		return h.pump(ctx.Done(), sub, sw, written, opts)
	}

	gone := make(chan struct{})
	go func() {
		// The client sends nothing more: a read returns when it hangs up.
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				close(gone)
				return
			}
		}
	}()
	*handedOff = true
	go func() {
		defer opts.Done()
		defer conn.Close()
		defer sub.Close()
		if err := h.pump(gone, sub, sw, written, opts); err != nil && !errors.Is(err, ErrSlow) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrRevoked) {
			select {
			case <-gone:
			default:
				h.log.Debug("realtime: detached stream ended", "err", err, "hostels", opts.HostelIDs)
			}
		}
	}()
	return nil
}

// takeOver hijacks the connection and writes the response head by hand:
// the headers set so far, and a body that ends when the connection does.
// It returns a nil conn where the connection cannot be taken over.
func takeOver(rc *http.ResponseController, hd http.Header) (net.Conn, *streamWriter) {
	conn, brw, err := rc.Hijack()
	if err != nil {
		return nil, nil
	}
	_ = brw                           // a GET sends nothing after its head
	conn.SetReadDeadline(time.Time{}) // the server's ReadTimeout must not end the stream
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	hd.Set("Connection", "close")
	hd.Write(&head)
	head.WriteString("\r\n")
	sw := &streamWriter{w: deadlineWriter{conn}}
	if err := sw.write(head.Bytes()); err != nil {
		conn.Close()
		return nil, nil
	}
	return conn, sw
}

// deadlineWriter bounds every write to a taken-over connection.
type deadlineWriter struct{ conn net.Conn }

func (d deadlineWriter) Write(b []byte) (int, error) {
	d.conn.SetWriteDeadline(time.Now().Add(detachedWriteTimeout))
	return d.conn.Write(b)
}

// start writes the retry line and the replay, and returns the highest
// event id the client now has. A stream revoked already gets nothing but
// the Revoked frame.
func (h *Hub) start(ctx context.Context, sw *streamWriter, sub *Subscription, opts StreamOptions) (int64, error) {
	if err := sw.write(appendRetry(sw.buf[:0], opts.Retry)); err != nil {
		return 0, err
	}
	if errors.Is(sub.Err(), ErrRevoked) {
		return 0, sw.revoked(opts)
	}
	written := max(opts.LastEventID, 0) // highest event id the client has been sent
	if opts.LastEventID < 0 || opts.Replay == nil {
		return written, nil
	}
	ds, tooOld, err := opts.Replay(ctx, opts.LastEventID, sub.From())
	if err != nil {
		return 0, fmt.Errorf("realtime: serve: replay after %d: %w", opts.LastEventID, err)
	}
	if tooOld {
		if opts.Reload.Event == "" && len(opts.Reload.Data) == 0 {
			h.log.WarnContext(ctx, "realtime: replay too old and no reload frame; going live with a gap",
				"last_event_id", opts.LastEventID, "hostels", opts.HostelIDs)
			return written, nil
		}
		return written, sw.write(appendFrame(sw.buf[:0], opts.Reload))
	}
	for _, d := range ds {
		if d.ID <= written {
			continue
		}
		if err := sw.delivery(d); err != nil {
			return 0, err
		}
		written = d.ID
	}
	return written, nil
}

// pump is the stream's one loop: deliveries, heartbeats, and the end, by
// done (the client left), the subscription ending, or a failed write.
func (h *Hub) pump(done <-chan struct{}, sub *Subscription, sw *streamWriter, written int64, opts StreamOptions) error {
	every := opts.Heartbeat
	heartbeat := time.NewTicker(every)
	defer heartbeat.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-sub.Done():
			err := sub.Err()
			if errors.Is(err, ErrRevoked) {
				if werr := sw.revoked(opts); werr != nil {
					return werr
				}
			}
			if errors.Is(err, ErrClosed) {
				// Shutdown: what is already rendered and queued is still
				// worth sending before the client moves elsewhere.
				if werr := sw.drain(sub, &written); werr != nil {
					return werr
				}
			}
			return err
		case <-heartbeat.C:
			if err := sw.write(appendComment(sw.buf[:0], "heartbeat")); err != nil {
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
			heartbeat.Reset(every)
		}
	}
}

// revoked writes the last frame of a revoked stream, and says it was revoked.
func (sw *streamWriter) revoked(opts StreamOptions) error {
	if opts.Revoked.Event != "" || len(opts.Revoked.Data) > 0 {
		if err := sw.write(appendFrame(sw.buf[:0], opts.Revoked)); err != nil {
			return err
		}
	}
	return ErrRevoked
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
	w     io.Writer
	flush func() error // nil where writes go straight out
	buf   []byte
}

func (sw *streamWriter) delivery(d Delivery) error {
	b := sw.buf[:0]
	for _, f := range d.Frames {
		f.ID = d.ID
		b = appendFrame(b, f)
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
	if sw.flush == nil {
		return nil
	}
	if err := sw.flush(); err != nil {
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
