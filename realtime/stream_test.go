package realtime

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hostelhub/realtime/realtimetest"
	"hostelhub/store"
)

// streamServer serves hub streams of hostel 1 to the "student" audience,
// replaying from src, and records what each Serve call returned.
type streamServer struct {
	*httptest.Server
	hub    *Hub
	src    *memSource
	mu     sync.Mutex
	opts   func(*StreamOptions) // adjusts the options per test
	served chan error
}

func newStreamServer(t *testing.T, hub *Hub, src *memSource, adjust func(*StreamOptions)) *streamServer {
	t.Helper()
	s := &streamServer{hub: hub, src: src, opts: adjust, served: make(chan error, 1024)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	// Server timeouts must not cut streams: Serve clears the deadlines.
	s.Server.Config.WriteTimeout = 100 * time.Millisecond
	s.Server.Config.ReadTimeout = 100 * time.Millisecond
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *streamServer) handle(w http.ResponseWriter, r *http.Request) {
	hostels := []int64{1}
	opts := StreamOptions{
		HostelIDs:   hostels,
		Audience:    "student",
		LastEventID: LastEventID(r, "last_event_id"),
		Replay:      s.src.replay(hostels, "student", renderText),
		Reload:      Frame{Event: "reload", Data: []byte("please reload")},
	}
	if s.opts != nil {
		s.opts(&opts)
	}
	// As in the app, the hub has seen every event of the log so far: the
	// follower passed each to it (or started after it).
	s.src.mu.Lock()
	s.hub.Seen(int64(len(s.src.events)))
	s.src.mu.Unlock()
	err := s.hub.Serve(w, r, opts)
	s.served <- err
}

// connect opens a stream; the returned cancel disconnects.
func connect(t *testing.T, url string, lastID int64) (*http.Response, *realtimetest.Decoder, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, realtimetest.NewDecoder(resp.Body), func() { cancel(); resp.Body.Close() }
}

// next reads one frame or fails after timeout.
func next(t *testing.T, d *realtimetest.Decoder, timeout time.Duration) realtimetest.Frame {
	t.Helper()
	type result struct {
		f   realtimetest.Frame
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := d.Next()
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Next: %v", r.err)
		}
		return r.f
	case <-time.After(timeout):
		t.Fatalf("no frame within %v", timeout)
	}
	return realtimetest.Frame{}
}

// waitSubscribers waits until the hub has n subscriptions.
func waitSubscribers(t *testing.T, hub *Hub, n int) {
	t.Helper()
	eventually(t, 5*time.Second, strconv.Itoa(n)+" subscribers", func() bool { return hub.Stats().Subscribers == n })
}

// publish commits an event of hostelID and delivers it, as the follower would.
func publish(hub *Hub, src *memSource, hostelID int64) store.Event {
	e := src.Append(hostelID, "new_issue", 0)
	hub.Deliver(context.Background(), e, renderText)
	return e
}

func TestServeHeadersRetryAndLive(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) { o.Retry = 1500 * time.Millisecond })

	resp, dec, _ := connect(t, srv.URL, 0)
	for name, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	waitSubscribers(t, hub, 1)
	publish(hub, src, 2) // another hostel: never seen
	m := publish(hub, src, 1)
	f := next(t, dec, 2*time.Second)
	if f.ID != m.ID || f.Event != "new_issue" || string(f.Data) != "student hostel:1 2" {
		t.Errorf("got %s, want id 2, new_issue, %q", f, "student hostel:1 2")
	}
	if dec.Retry() != 1500*time.Millisecond {
		t.Errorf("retry: got %v, want 1.5s", dec.Retry())
	}
	// Longer than the server's Read and WriteTimeout: the stream is still alive.
	time.Sleep(250 * time.Millisecond)
	m = publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Errorf("after the server timeouts: got id %d, want %d", f.ID, m.ID)
	}
}

// A reconnecting client gets exactly the events it missed, then live ones;
// an event both replayed and queued live is written once.
func TestServeReplayThenLiveWithoutDuplicates(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	for i := range 10 {
		src.Append(int64(1+i%3/2), "new_issue", 0) // ids 3, 6, 9 are hostel 2's
	}
	var overlap, after store.Event
	var once sync.Once
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		replay := o.Replay
		o.Replay = func(ctx context.Context, afterID, upTo int64) (ds []Delivery, tooOld bool, err error) {
			once.Do(func() {
				// An event commits while the replay runs: the subscription
				// (already open) queues it and the replay reads it too.
				overlap = publish(hub, src, 1)
				ds, tooOld, err = replay(ctx, afterID, upTo)
				// One commits after the replay has read the table: only the
				// subscription, opened before, can have it.
				after = publish(hub, src, 1)
			})
			if ds == nil && err == nil {
				ds, tooOld, err = replay(ctx, afterID, upTo)
			}
			return ds, tooOld, err
		}
	})

	_, dec, _ := connect(t, srv.URL, 4)
	var got []int64
	for range 6 {
		f := next(t, dec, 2*time.Second)
		got = append(got, f.ID)
	}
	want := []int64{5, 7, 8, 10, overlap.ID, after.ID}
	if !equalIDs(got, want) {
		t.Fatalf("replay: got %v, want %v", got, want)
	}
	live := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != live.ID {
		t.Fatalf("live: got id %d, want %d (a duplicate of the overlap would be %d)", f.ID, live.ID, overlap.ID)
	}
	// The query parameter counts as well as the header; the greater wins.
	_, dec2, _ := connect(t, srv.URL+"?last_event_id=8", 0)
	if f := next(t, dec2, 2*time.Second); f.ID != 10 {
		t.Errorf("replay from the query parameter: got first id %d, want 10", f.ID)
	}
	if f := next(t, dec2, 2*time.Second); f.ID != overlap.ID {
		t.Errorf("replay from the query parameter: got second id %d, want %d", f.ID, overlap.ID)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestServeHeartbeat(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) { o.Heartbeat = 20 * time.Millisecond })
	_, dec, _ := connect(t, srv.URL, 0)
	var beats atomic.Int64
	dec.OnComment = func(text string) {
		if text == "heartbeat" {
			beats.Add(1)
		}
	}
	waitSubscribers(t, hub, 1)
	frame := make(chan realtimetest.Frame, 1)
	go func() {
		f, _ := dec.Next()
		frame <- f
	}()
	eventually(t, 5*time.Second, "three heartbeats", func() bool { return beats.Load() >= 3 })
	m := publish(hub, src, 1)
	select {
	case f := <-frame:
		if f.ID != m.ID {
			t.Errorf("got id %d, want %d", f.ID, m.ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no frame after the heartbeats")
	}
}

func TestServeTooOldSendsReload(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	for range 5 {
		src.Append(1, "new_issue", 0)
	}
	src.pruned = 3
	srv := newStreamServer(t, hub, src, nil)
	_, dec, _ := connect(t, srv.URL, 2)
	f := next(t, dec, 2*time.Second)
	if f.Event != "reload" || string(f.Data) != "please reload" {
		t.Fatalf("got %s, want the reload frame", f)
	}
	// Then live, and nothing of the unavailable backlog.
	m := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Errorf("got id %d, want %d", f.ID, m.ID)
	}
}

func TestServeReplayErrorEndsStream(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	src.Append(1, "new_issue", 0)
	src.failNext = 1
	srv := newStreamServer(t, hub, src, nil)
	_, dec, _ := connect(t, srv.URL, 1)
	if f, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("got %s, %v, want EOF", f, err)
	}
	if err := <-srv.served; !errors.Is(err, errSourceDown) {
		t.Errorf("Serve: got %v, want the replay error", err)
	}
}

func TestServeEndsOnHubClose(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	src := &memSource{}
	srv := newStreamServer(t, hub, src, nil)
	_, dec, _ := connect(t, srv.URL, 0)
	waitSubscribers(t, hub, 1)
	m := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Fatalf("got id %d, want %d", f.ID, m.ID)
	}
	hub.Close()
	if f, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after Close: got %s, %v, want EOF", f, err)
	}
	if err := <-srv.served; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve: got %v, want ErrClosed", err)
	}
}

func TestServeEndsWhenClientLeaves(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	srv := newStreamServer(t, hub, &memSource{}, nil)
	_, _, disconnect := connect(t, srv.URL, 0)
	waitSubscribers(t, hub, 1)
	disconnect()
	select {
	case err := <-srv.served:
		if err != nil {
			t.Errorf("Serve: got %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the client left")
	}
	waitSubscribers(t, hub, 0)
}

// A stream whose queue overflows (here while its replay is slow: the events
// committed meanwhile are queued to be sent live) is dropped with ErrSlow
// after writing what it had; reconnecting from the last id it received, the
// client gets the rest.
func TestServeSlowClientIsDroppedAndCatchesUp(t *testing.T) {
	hub := NewHub(HubOptions{QueueSize: 2, Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	src.Append(1, "start", 0)
	var once sync.Once
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		replay := o.Replay
		o.Replay = func(ctx context.Context, after, upTo int64) ([]Delivery, bool, error) {
			once.Do(func() {
				for range 5 { // more than the queue holds, while nobody reads it
					publish(hub, src, 1)
				}
			})
			return replay(ctx, after, upTo)
		}
	})
	_, dec, _ := connect(t, srv.URL, 1)
	var got []int64
	for {
		f, err := dec.Next()
		if err != nil {
			break
		}
		got = append(got, f.ID)
	}
	if err := <-srv.served; !errors.Is(err, ErrSlow) {
		t.Fatalf("Serve: got %v, want ErrSlow", err)
	}
	all := []int64{2, 3, 4, 5, 6}
	if len(got) > len(all) || !equalIDs(got, all[:len(got)]) {
		t.Fatalf("before the drop: got %v, want the first of %v, in order", got, all)
	}
	m := publish(hub, src, 1)
	last := int64(1)
	if len(got) > 0 {
		last = got[len(got)-1]
	}
	_, dec, _ = connect(t, srv.URL, last)
	publish(hub, src, 2)
	for _, want := range append(all[len(got):], m.ID) {
		if f := next(t, dec, 2*time.Second); f.ID != want {
			t.Fatalf("after reconnecting: got %d, want %d (the rest of %v, then %d)", f.ID, want, all, m.ID)
		}
	}
}

func TestLastEventID(t *testing.T) {
	tests := []struct {
		header, query string
		want          int64
	}{
		{"", "", NoLastEventID},
		{"0", "", 0},
		{"", "0", 0},
		{"12", "", 12},
		{"", "7", 7},
		{"12", "7", 12},
		{"7", "12", 12},
		{" 5 ", "x", 5},
		{"-3", "", NoLastEventID},
		{"abc", "", NoLastEventID},
		{"99999999999999999999", "", NoLastEventID},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/events?last_event_id="+tt.query, nil)
		if tt.header != "" {
			r.Header.Set("Last-Event-ID", tt.header)
		}
		if got := LastEventID(r, "last_event_id"); got != tt.want {
			t.Errorf("header %q, query %q: got %d, want %d", tt.header, tt.query, got, tt.want)
		}
	}
}

// A publisher commits 1,000 events while a client keeps disconnecting and
// reconnecting with Last-Event-ID, sometimes mid-frame; with a small queue
// it is also dropped for slowness now and then. In the end it has seen every
// event of its hostel exactly once, in order.
func TestServeReconnectsRandomly(t *testing.T) {
	for _, detached := range []bool{false, true} {
		t.Run(map[bool]string{false: "in place", true: "detached"}[detached], func(t *testing.T) {
			serveReconnectsRandomly(t, detached)
		})
	}
}

func serveReconnectsRandomly(t *testing.T, detached bool) {
	src := &memSource{}
	src.Append(1, "start", 0) // the page was rendered at event 1
	hub := NewHub(HubOptions{QueueSize: 16, Logger: quietLog})
	defer hub.Close()
	f := NewFollower(src, deliverTo(hub, renderText), nil, FollowerOptions{PollInterval: 5 * time.Millisecond, Logger: quietLog})
	runFollower(t, f)
	eventually(t, 5*time.Second, "follower start", func() bool { return f.LastID() == 1 })
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		o.Detach = detached
		replay := o.Replay
		o.Replay = func(ctx context.Context, after, upTo int64) ([]Delivery, bool, error) {
			if rand.IntN(4) == 0 {
				// A slow replay: the queue (16) overflows meanwhile, the
				// stream is dropped after writing the replay, and the
				// client reconnects from there.
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			}
			return replay(ctx, after, upTo)
		}
	})

	const events = 1000
	var lastOfHostel1 atomic.Int64
	published := make(chan struct{})
	go func() {
		defer close(published)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range events {
			hostel := int64(1)
			if rng.IntN(4) == 0 {
				hostel = 2
			}
			m := src.Append(hostel, "new_issue", int64(i))
			if hostel == 1 {
				lastOfHostel1.Store(m.ID)
			}
			if rng.IntN(3) > 0 { // some commits are never notified: the poll finds them
				f.Wake(m.ID)
			}
			if i%4 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	rng := rand.New(rand.NewPCG(5, 6))
	var got []int64
	last := int64(1)
	connections := 0
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-published:
			if last == lastOfHostel1.Load() {
				goto done
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %d connections at id %d of %d", connections, last, lastOfHostel1.Load())
		}
		connections++
		ctx, cancel := context.WithCancel(context.Background())
		if rng.IntN(2) == 0 {
			time.AfterFunc(time.Duration(rng.IntN(5000))*time.Microsecond, cancel) // maybe mid-frame
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue // cancelled before the response
		}
		dec := realtimetest.NewDecoder(resp.Body)
		for n := 1 + rng.IntN(40); n > 0; n-- {
			fr, err := dec.Next()
			if err != nil {
				break
			}
			if fr.ID <= last {
				t.Fatalf("connection %d: got id %d after %d", connections, fr.ID, last)
			}
			if want := "student hostel:1 " + strconv.FormatInt(fr.ID, 10); string(fr.Data) != want {
				t.Fatalf("got data %q, want %q", fr.Data, want)
			}
			got = append(got, fr.ID)
			last = fr.ID
			if last == lastOfHostel1.Load() && isClosed(published) {
				break
			}
		}
		cancel()
		resp.Body.Close()
	}
done:
	var want []int64
	evs, _ := src.Log(context.Background(), 1, 1<<30)
	for _, e := range evs {
		if e.HostelID == 1 {
			want = append(want, e.ID)
		}
	}
	if !equalIDs(got, want) {
		t.Fatalf("got %d events, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	t.Logf("%d events of hostel 1 over %d connections; %d slow drops", len(got), connections, hub.Stats().Dropped)
	if connections < 20 {
		t.Errorf("only %d connections: the test did not exercise reconnection", connections)
	}
	if hub.Stats().Dropped == 0 {
		t.Errorf("no slow drops: the test did not exercise them")
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Serve needs something to stream: an empty list of hostels (not nil,
// which is every hostel) is an error.
func TestServeRequiresHostels(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	rec := httptest.NewRecorder()
	err := hub.Serve(rec, httptest.NewRequest(http.MethodGet, "/", nil), StreamOptions{HostelIDs: []int64{}})
	if err == nil || !strings.Contains(err.Error(), "no hostels") {
		t.Errorf("got %v, want a no-hostels error", err)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("wrote %q before failing", rec.Body.String())
	}
}

// HostelIDs nil streams every hostel's events (replayed and live), never
// those of no hostel.
func TestServeEveryHostel(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	src.Append(2, "new_issue", 0)
	src.Append(0, string(store.EventSession), 0)
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		o.HostelIDs = nil
		o.Replay = src.replay(nil, o.Audience, renderText)
	})
	_, dec, _ := connect(t, srv.URL+"?last_event_id=0", 0)
	if f := next(t, dec, 2*time.Second); f.ID != 1 || string(f.Data) != "student hostel:2 1" {
		t.Fatalf("replay: got %s, want id 1 of hostel 2", f)
	}
	waitSubscribers(t, hub, 1)
	hub.Deliver(t.Context(), src.Append(0, string(store.EventUser), 0), renderText)
	a := publish(hub, src, 3)
	b := publish(hub, src, 1)
	for _, want := range []store.Event{a, b} {
		f := next(t, dec, 2*time.Second)
		if wantData := "student hostel:" + strconv.FormatInt(want.HostelID, 10) + " " + strconv.FormatInt(want.ID, 10); f.ID != want.ID || string(f.Data) != wantData {
			t.Errorf("live: got %s, want id %d, %q", f, want.ID, wantData)
		}
	}
}
