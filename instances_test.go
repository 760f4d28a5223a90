package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store/redistest"
)

// Two instances on one SQLite file and one Redis: a change on A reaches a
// stream on B, and B's dashboard is a MISS with the new figures.
func TestTwoInstancesShareEventsAndCache(t *testing.T) {
	a := newTestApp(t, withRedis())
	b := startApp(t, a.cfg)

	// One sign-in serves both: sessions live in the shared database.
	onB := a.login("warden1@demo.test").Beside(b.Base).Stream("/hostels/1/events", webtest.NoLastEventID)

	admin := b.login("admin@demo.test")
	admin.Get("/dashboard")
	before := admin.Get("/dashboard")
	if got := before.Header.Get("X-Cache"); got != "HIT" {
		t.Fatalf("B's second dashboard view: X-Cache %q, want HIT", got)
	}

	student := a.login("student1@demo.test")
	start := time.Now()
	webtest.WantStatus(t, student.PostForm("/issues", url.Values{"title": {"Reported on A"}, "category": {"water"}}), http.StatusSeeOther)
	f := onB.NextWithin("new_issue", 2*time.Second)
	if !strings.Contains(string(f.Data), "Reported on A") {
		t.Fatalf("B's stream got %.100s", f.Data)
	}
	t.Logf("A's commit reached a stream on B in %v", time.Since(start))

	// B learns of the change from the same event: its next view is a miss with the new total.
	deadline := time.Now().Add(2 * time.Second)
	for {
		after := admin.Get("/dashboard")
		if after.Header.Get("X-Cache") == "MISS" {
			if want := totalOf(t, before.Body, 1); !strings.Contains(after.Body, want) {
				t.Errorf("B's dashboard after the change: want %s", want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B's dashboard stayed a HIT after a change on A")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// totalOf returns the dashboard's total from a page, plus add, as it would be rendered.
func totalOf(t *testing.T, page string, add int) string {
	t.Helper()
	i := strings.Index(page, `id="total-all">`)
	if i < 0 {
		t.Fatal("no total on the dashboard")
	}
	var n int
	fmt.Sscanf(page[i+len(`id="total-all">`):], "%d", &n)
	return fmt.Sprintf(`id="total-all">%d<`, n+add)
}

// SIGTERM ends open streams cleanly and the server stops within its grace.
func TestShutdownEndsStreams(t *testing.T) {
	a := newTestApp(t)
	s := a.login("student1@demo.test").Stream("/hostels/1/events", webtest.NoLastEventID)
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	a.Stop() // fails the test if Serve returns an error
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the server took %v to stop with a stream open, want within 3 s", d)
	}
	for range s.Frames {
	}
	t.Logf("stopped in %v; the stream ended cleanly", time.Since(start))
	if res, err := http.Get(a.Base + "/healthz"); err == nil {
		res.Body.Close()
		t.Error("the server still answers after shutdown")
	}
}

// Redis dies under two running instances: every page keeps answering 200,
// streams keep delivering (across instances too, from the event table),
// and when Redis is back, notifications and the shared cache work again.
func TestRedisOutageIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	// The student reports until notifications are quick again: maybe more than an hour's reports.
	a := newTestApp(t, withRedisURL(srv.URL()), withLimits("reports=1000"))
	b := startApp(t, a.cfg)
	admin, student := a.login("admin@demo.test"), a.login("student1@demo.test")
	onA := student.Stream("/hostels/1/events", webtest.NoLastEventID)
	onB := b.login("warden1@demo.test").Stream("/hostels/1/events", webtest.NoLastEventID)
	admin.Get("/dashboard")

	srv.Kill()
	var served, failed int
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline) || i < 20; i++ {
		for _, path := range []string{"/dashboard", "/api/dashboard/summary", "/issues", "/announcements"} {
			if res := admin.Get(path); res.StatusCode == http.StatusOK {
				served++
			} else {
				failed++
				t.Errorf("GET %s with Redis down: %d", path, res.StatusCode)
			}
		}
		if i == 5 {
			start := time.Now()
			if res := student.PostForm("/issues", url.Values{"title": {"Reported while Redis is down"}, "category": {"water"}}); res.StatusCode != http.StatusSeeOther {
				t.Errorf("report with Redis down: %d", res.StatusCode)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("a report with Redis down took %v", d)
			}
			if f := onA.NextWithin("new_issue", 2*time.Second); !strings.Contains(string(f.Data), "Reported while Redis is down") {
				t.Errorf("local stream: %.80s", f.Data)
			}
			// The other instance finds it in the event table on its own.
			if f := onB.NextWithin("new_issue", 3*time.Second); !strings.Contains(string(f.Data), "Reported while Redis is down") {
				t.Errorf("the other instance's stream: %.80s", f.Data)
			}
		}
	}
	// Ready all the same: this instance serves everything without Redis.
	if res := admin.Get("/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("healthz with Redis down: %d %s", res.StatusCode, res.Body)
	}

	srv.Restart()
	// Notifications cross again once the subscriptions are back.
	// (B also polls the event table each second: three quick ones in a
	// row are Redis's doing, not the poll's luck.)
	quick := 0
	waitUntil(t, 15*time.Second, "three reports on A in a row to reach B within 150 ms", func() bool {
		student.PostForm("/issues", url.Values{"title": {"After Redis came back"}, "category": {"water"}})
		start := time.Now()
		f := onB.NextWithin("new_issue", 3*time.Second)
		took := time.Since(start)
		onA.NextWithin("new_issue", 3*time.Second)
		if strings.Contains(string(f.Data), "After Redis came back") && took < 150*time.Millisecond {
			quick++
		} else {
			quick = 0
		}
		return quick == 3
	})
	// What one instance renders another reads from Redis again.
	other := b.login("admin@demo.test")
	waitUntil(t, 5*time.Second, "a HIT from Redis on the other instance", func() bool {
		admin.Get("/dashboard") // refills Redis if A's fill met the dead Redis
		return other.Get("/dashboard").Header.Get("X-Cache") == "HIT"
	})
	t.Logf("harden: Redis killed under two instances: %d requests served, %d failed; streams kept delivering, across instances from the event table; notifications and the shared cache back after restart", served, failed)
}

// Each instance keeps sessions and accounts in memory; a sign-out or a
// disabled account on A still shuts the door on B, as soon as B hears the
// event, and never through a stale copy afterwards.
func TestSignOutAndDisableReachEveryInstance(t *testing.T) {
	a := newTestApp(t, withRedis())
	b := startApp(t, a.cfg)
	shutOut := func(c *webtest.Client, what string) {
		t.Helper()
		start := time.Now()
		waitUntil(t, 2*time.Second, what, func() bool {
			res := c.Get("/issues")
			return res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/login"
		})
		t.Logf("%s: refused on the other instance after %v", what, time.Since(start).Round(time.Millisecond))
	}

	// A copy of the warden's cookie, as someone who took it would hold it.
	warden := a.login("warden1@demo.test")
	taken := a.client()
	for _, base := range []string{a.Base, b.Base} {
		u, _ := url.Parse(base)
		taken.HTTP.Jar.SetCookies(u, warden.HTTP.Jar.Cookies(u))
	}
	for _, c := range []*webtest.Client{taken, taken.Beside(b.Base)} {
		if res := c.Get("/issues"); res.StatusCode != http.StatusOK {
			t.Fatalf("the session on %s: %d", c.Base, res.StatusCode)
		}
	}
	if res := warden.PostForm("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out on A: %d", res.StatusCode)
	}
	shutOut(taken.Beside(b.Base), "a session signed out on A")
	if res := taken.Get("/issues"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the signed-out session still works on A: %d", res.StatusCode)
	}

	student := b.login("student2@demo.test")
	for _, c := range []*webtest.Client{student.Beside(a.Base), student} {
		if res := c.Get("/issues"); res.StatusCode != http.StatusOK {
			t.Fatalf("the student on %s: %d", c.Base, res.StatusCode)
		}
	}
	admin := a.login("admin@demo.test")
	id := regexp.MustCompile(`id="user-(\d+)"[^>]*><td><strong>[^<]*</strong><br><span class="meta">student2@demo\.test<`).FindStringSubmatch(admin.Get("/users").Body)
	if id == nil {
		t.Fatal("student2 is not on the users page")
	}
	if res := admin.PostForm("/users/"+id[1], url.Values{"hostel_id": {"2"}, "disabled": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable on A: %d", res.StatusCode)
	}
	shutOut(student, "an account disabled on A")
}
