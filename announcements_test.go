package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// One change is one event on a stream, however many hostels it reaches: an
// announcement to every hostel arrives once on management's stream of
// every hostel and on a warden's stream of two hostels, live and on replay.
func TestAnAnnouncementToEveryHostelArrivesOnce(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	if _, err := a.store().CreateUser(ctx, store.NewUser{Email: "two@demo.test", Name: "Warden of two",
		Password: webtest.DemoPassword, Role: store.Warden, HostelIDs: []int64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	before, _ := a.store().LatestEventID(ctx)
	admin, warden := a.login("admin@demo.test"), a.login("two@demo.test")
	streams := map[string]*webtest.Stream{
		"management, every hostel": admin.Stream("/events", webtest.NoLastEventID),
		"warden of two hostels":    warden.Stream("/events", webtest.NoLastEventID),
		"one hostel's stream":      warden.Stream("/hostels/2/events", webtest.NoLastEventID),
	}
	if res := a.login("admin@demo.test").PostForm("/announcements", url.Values{"title": {"Water off everywhere"}, "body": {"From 10 to 12"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("announce: %d", res.StatusCode)
	}
	count := func(s *webtest.Stream, d time.Duration) (n int) {
		end := time.After(d)
		for {
			select {
			case f := <-s.Frames:
				if f.Event == "announcement" && strings.Contains(string(f.Data), "Water off everywhere") {
					n++
				}
			case <-end:
				return n
			}
		}
	}
	for name, s := range streams {
		if n := count(s, 500*time.Millisecond); n != 1 {
			t.Errorf("%s, live: %d copies, want 1", name, n)
		}
	}
	// A page from before it, reconnecting, is replayed it once.
	for name, s := range map[string]*webtest.Stream{
		"management, every hostel": admin.Stream("/events", before),
		"warden of two hostels":    warden.Stream("/events", before),
	} {
		if n := count(s, 500*time.Millisecond); n != 1 {
			t.Errorf("%s, replayed: %d copies, want 1", name, n)
		}
	}
	var rows int
	a.store().DB().QueryRow(`SELECT COUNT(*) FROM events WHERE kind = 'announcement' AND id > ?`, before).Scan(&rows)
	if rows != 1 {
		t.Errorf("%d events for one announcement, want 1", rows)
	}
}
