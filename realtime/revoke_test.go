package realtime

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"hostelhub/store"
)

// An event to every hostel (of no hostel, of a kind streams show) reaches
// every subscription once, however many hostels it follows.
func TestHubEventToEveryHostelArrivesOnce(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	one := subscribe(hub, []int64{1}, "student")
	two := subscribe(hub, []int64{1, 2}, "warden")
	every := subscribe(hub, nil, "management")
	e := store.Event{ID: 7, Kind: store.EventAnnouncement}
	hub.Deliver(context.Background(), e, renderText)
	for _, s := range []*Subscription{one, two, every} {
		if d := receive(t, s, time.Second); d.ID != 7 {
			t.Fatalf("got %d, want 7", d.ID)
		}
		expectNone(t, s, 50*time.Millisecond)
	}
}

// An event about a session or an account ends that session's or account's
// subscriptions, before anything delivered after it, and no one else's.
func TestHubRevokesBySessionAndAccount(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	sub := func(user, session int64) *Subscription {
		return hub.Subscribe(Subscriber{HostelIDs: []int64{1}, Audience: "warden", UserID: user, Session: session})
	}
	aliceTab1, aliceTab2, aliceElsewhere, bob := sub(1, 100), sub(1, 100), sub(1, 101), sub(2, 200)
	ctx := context.Background()

	hub.Deliver(ctx, store.Event{ID: 1, Kind: store.EventSession, RefID: 100}, renderText)
	hub.Deliver(ctx, store.Event{ID: 2, HostelID: 1, Kind: store.EventNewIssue}, renderText)
	for _, s := range []*Subscription{aliceTab1, aliceTab2} {
		<-s.Done()
		if !errors.Is(s.Err(), ErrRevoked) {
			t.Errorf("signed out: got %v, want ErrRevoked", s.Err())
		}
		expectNone(t, s, 20*time.Millisecond)
	}
	for _, s := range []*Subscription{aliceElsewhere, bob} {
		if d := receive(t, s, time.Second); d.ID != 2 {
			t.Fatalf("another session: got %d, want 2", d.ID)
		}
	}

	hub.Deliver(ctx, store.Event{ID: 3, Kind: store.EventUser, RefID: 1}, renderText)
	hub.Deliver(ctx, store.Event{ID: 4, HostelID: 1, Kind: store.EventNewIssue}, renderText)
	<-aliceElsewhere.Done()
	if !errors.Is(aliceElsewhere.Err(), ErrRevoked) {
		t.Errorf("account changed: got %v, want ErrRevoked", aliceElsewhere.Err())
	}
	expectNone(t, aliceElsewhere, 20*time.Millisecond)
	if d := receive(t, bob, time.Second); d.ID != 4 {
		t.Fatalf("another account: got %d, want 4", d.ID)
	}
	if st := hub.Stats(); st.Revoked != 3 || st.Subscribers != 1 {
		t.Errorf("stats: %+v, want 3 revoked and 1 subscriber left", st)
	}
}

// A subscription ends when its session expires.
func TestHubRevokesAtExpiry(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	s := hub.Subscribe(Subscriber{HostelIDs: []int64{1}, Audience: "student", UserID: 1, Session: 9, Expires: time.Now().Add(100 * time.Millisecond)})
	select {
	case <-s.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a subscription outlived its session")
	}
	if !errors.Is(s.Err(), ErrRevoked) {
		t.Errorf("got %v, want ErrRevoked", s.Err())
	}
}

// A stream revoked while it is open, or found no longer allowed once
// subscribed, is sent the Revoked frame, last, and nothing of what came
// after the change.
func TestServeRevoked(t *testing.T) {
	hub := NewHub(HubOptions{Logger: quietLog})
	defer hub.Close()
	src := &memSource{}
	allowed := true
	srv := newStreamServer(t, hub, src, func(o *StreamOptions) {
		o.UserID, o.Session = 1, 100
		o.Revoked = Frame{Event: "reload", Data: []byte("sign-in changed")}
		o.Check = func(context.Context) bool { return allowed }
	})
	_, dec, _ := connect(t, srv.URL, 0)
	waitSubscribers(t, hub, 1)
	m := publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.ID != m.ID {
		t.Fatalf("live: got %s, want id %d", f, m.ID)
	}
	hub.Deliver(context.Background(), src.Append(0, string(store.EventSession), 100), renderText)
	publish(hub, src, 1)
	if f := next(t, dec, 2*time.Second); f.Event != "reload" {
		t.Fatalf("after sign-out: got %s, want the reload frame", f)
	}
	if f, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the reload frame: got %s, %v, want EOF", f, err)
	}
	if err := <-srv.served; !errors.Is(err, ErrRevoked) {
		t.Errorf("Serve: got %v, want ErrRevoked", err)
	}

	// A change heard before the stream subscribed: the check ends it,
	// before any replay.
	allowed = false
	publish(hub, src, 1)
	_, dec, _ = connect(t, srv.URL, 1)
	if f := next(t, dec, 2*time.Second); f.Event != "reload" {
		t.Fatalf("not allowed: got %s, want the reload frame and nothing else", f)
	}
	if f, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the reload frame: got %s, %v, want EOF", f, err)
	}
}
