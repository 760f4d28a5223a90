package realtime

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func detach(o *StreamOptions) { o.Detach = true }

// A detached stream: Serve returns at once, and the stream goes on with
// the same replay, live delivery, heartbeat and endings.
func TestDetachedStream(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	src := &memSource{}
	first := src.Append(1, "before", 0)
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		o.Detach = true
		o.Heartbeat = 50 * time.Millisecond
	})

	resp, dec, disconnect := connect(t, srv.URL+"?last_event_id=0", 0)
	if err := <-srv.served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers: %v", resp.Header)
	}
	if f := next(t, dec, 2*time.Second); f.ID != first.ID {
		t.Fatalf("replay: got %s, want id %d", f, first.ID)
	}
	waitSubscribers(t, hub, 1)
	m := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Fatalf("live: got %s, want id %d", f, m.ID)
	}
	// Heartbeats keep an idle stream alive past the server's timeouts.
	beats := make(chan string, 4)
	dec.OnComment = func(text string) { beats <- text }
	go dec.Next()
	select {
	case <-beats:
	case <-time.After(2 * time.Second):
		t.Fatal("no heartbeat on a detached stream")
	}
	// A client that hangs up is noticed at once, not at the next write.
	disconnect()
	waitSubscribers(t, hub, 0)

	// The hub closing ends detached streams too.
	_, dec2, _ := connect(t, srv.URL, 0)
	<-srv.served
	waitSubscribers(t, hub, 1)
	hub.Close()
	if f, err := dec2.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after Close: got %s, %v, want EOF", f, err)
	}
}

// A detached client that never reads is dropped when its queue fills, and
// its connection closed, without holding up anyone else.
func TestDetachedStuckClientIsDropped(t *testing.T) {
	hub := NewHub(HubOptions{QueueSize: 4, Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	srv := newStreamServer(t, hub, src, detach)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_, dec, _ := connect(t, srv.URL, 0)
	waitSubscribers(t, hub, 2)
	big := strings.Repeat("x", 64<<10)
	for i := 0; hub.Stats().Dropped == 0; i++ {
		if i == 2000 {
			t.Fatal("the stuck client was never dropped")
		}
		m := src.Append(1, big, 0)
		hub.Deliver(t.Context(), m, renderText)
		if f := next(t, dec, 2*time.Second); f.ID != m.ID {
			t.Fatalf("the reading client got %s, want id %d", f, m.ID)
		}
	}
	waitSubscribers(t, hub, 1)
}

// The server's read and write timeouts (100 ms here) do not end a
// detached stream.
func TestDetachedStreamOutlivesServerTimeouts(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	srv := newStreamServer(t, hub, src, detach)
	_, dec, _ := connect(t, srv.URL, 0)
	waitSubscribers(t, hub, 1)
	time.Sleep(300 * time.Millisecond)
	m := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Fatalf("after the timeouts: got %s, want id %d", f, m.ID)
	}
}
