package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"hostelhub/realtime"
	"hostelhub/store/redistest"
)

// openStream reads base+path as an event stream in the background.
func openStream(t *testing.T, c *http.Client, base, path string) <-chan realtime.Frame {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	res, err := (&http.Client{Jar: c.Jar}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	frames := make(chan realtime.Frame, 256)
	go func() {
		defer close(frames)
		dec := realtime.NewDecoder(res.Body)
		for {
			f, err := dec.Next()
			if err != nil {
				return
			}
			frames <- f
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return frames
}

func nextEvent(t *testing.T, frames <-chan realtime.Frame, event string, within time.Duration) realtime.Frame {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatalf("the stream ended waiting for %q", event)
			}
			if f.Event == event {
				return f
			}
		case <-deadline:
			t.Fatalf("no %q within %v", event, within)
		}
	}
}

func postForm(t *testing.T, c *http.Client, base, path string, v url.Values) *http.Response {
	t.Helper()
	v.Set("_csrf", formToken(t, c, base))
	res, err := c.PostForm(base+path, v)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func getPage(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

// Two instances on one SQLite file and one Redis: a change on A reaches a
// stream on B, and B's dashboard is a MISS with the new figures.
func TestTwoInstancesShareEventsAndCache(t *testing.T) {
	rurl := redistest.URL(t)
	cfg := testConfig(t, true)
	cfg.RedisURL = rurl
	a, _ := startApp(t, cfg)
	b, _ := startApp(t, cfg)

	// One sign-in serves both: sessions live in the shared database.
	warden := newClient()
	signIn(t, warden, a, "warden1@demo.test", "demo")
	onB := openStream(t, warden, b, "/hostels/1/events")

	admin := newClient()
	signIn(t, admin, b, "admin@demo.test", "demo")
	getPage(t, admin, b+"/dashboard")
	res, before := getPage(t, admin, b+"/dashboard")
	if got := res.Header.Get("X-Cache"); got != "HIT" {
		t.Fatalf("B's second dashboard view: X-Cache %q, want HIT", got)
	}

	student := newClient()
	signIn(t, student, a, "student1@demo.test", "demo")
	start := time.Now()
	if res := postForm(t, student, a, "/issues", url.Values{"title": {"Reported on A"}, "category": {"water"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("report on A: %d", res.StatusCode)
	}
	f := nextEvent(t, onB, "new_issue", 2*time.Second)
	if !strings.Contains(string(f.Data), "Reported on A") {
		t.Fatalf("B's stream got %.100s", f.Data)
	}
	t.Logf("A's commit reached a stream on B in %v", time.Since(start))

	// B learns of the change from the same event: its next view is a miss with the new total.
	deadline := time.Now().Add(2 * time.Second)
	for {
		res, after := getPage(t, admin, b+"/dashboard")
		if res.Header.Get("X-Cache") == "MISS" {
			if want := totalOf(t, before, 1); !strings.Contains(after, want) {
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
	cfg := testConfig(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, discardLogger(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	c := newClient()
	signIn(t, c, base, "student1@demo.test", "demo")
	frames := openStream(t, c, base, "/hostels/1/events")
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the server did not stop within 3 s with a stream open")
	}
	for range frames {
	}
	t.Logf("stopped in %v; the stream ended cleanly", time.Since(start))
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// Redis dies under two running instances: every page keeps answering 200,
// streams keep delivering (across instances too, from the event table),
// and when Redis is back, notifications and the shared cache work again.
func TestRedisOutageIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(t, true)
	cfg.RedisURL = srv.URL()
	a, _ := startApp(t, cfg)
	b, _ := startApp(t, cfg)
	admin, student, warden := newClient(), newClient(), newClient()
	signIn(t, admin, a, "admin@demo.test", "demo")
	signIn(t, student, a, "student1@demo.test", "demo")
	signIn(t, warden, b, "warden1@demo.test", "demo")
	onA := openStream(t, student, a, "/hostels/1/events")
	onB := openStream(t, warden, b, "/hostels/1/events")
	getPage(t, admin, a+"/dashboard")

	srv.Kill()
	var served, failed int
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline) || i < 20; i++ {
		for _, path := range []string{"/dashboard", "/api/dashboard/summary", "/issues", "/announcements"} {
			res, _ := getPage(t, admin, a+path)
			if res.StatusCode == http.StatusOK {
				served++
			} else {
				failed++
				t.Errorf("GET %s with Redis down: %d", path, res.StatusCode)
			}
		}
		if i == 5 {
			start := time.Now()
			if res := postForm(t, student, a, "/issues", url.Values{"title": {"Reported while Redis is down"}, "category": {"water"}}); res.StatusCode != http.StatusSeeOther {
				t.Errorf("report with Redis down: %d", res.StatusCode)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("a report with Redis down took %v", d)
			}
			if f := nextEvent(t, onA, "new_issue", 2*time.Second); !strings.Contains(string(f.Data), "Reported while Redis is down") {
				t.Errorf("local stream: %.80s", f.Data)
			}
			// The other instance finds it in the event table on its own.
			if f := nextEvent(t, onB, "new_issue", 3*time.Second); !strings.Contains(string(f.Data), "Reported while Redis is down") {
				t.Errorf("the other instance's stream: %.80s", f.Data)
			}
		}
	}
	// Ready all the same: this instance serves everything without Redis.
	if res, body := getPage(t, admin, a+"/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("healthz with Redis down: %d %s", res.StatusCode, body)
	}

	srv.Restart()
	// Notifications cross again once the subscriptions are back.
	// (B also polls the event table each second: three quick ones in a
	// row are Redis's doing, not the poll's luck.)
	quick := 0
	waitUntil(t, 15*time.Second, "three reports on A in a row to reach B within 150 ms", func() bool {
		postForm(t, student, a, "/issues", url.Values{"title": {"After Redis came back"}, "category": {"water"}})
		start := time.Now()
		f := nextEvent(t, onB, "new_issue", 3*time.Second)
		took := time.Since(start)
		nextEvent(t, onA, "new_issue", 3*time.Second)
		if strings.Contains(string(f.Data), "After Redis came back") && took < 150*time.Millisecond {
			quick++
		} else {
			quick = 0
		}
		return quick == 3
	})
	// What one instance renders another reads from Redis again.
	other := newClient()
	signIn(t, other, b, "admin@demo.test", "demo")
	waitUntil(t, 5*time.Second, "a HIT from Redis on the other instance", func() bool {
		getPage(t, admin, a+"/dashboard") // refills Redis if A's fill met the dead Redis
		res, _ := getPage(t, other, b+"/dashboard")
		return res.Header.Get("X-Cache") == "HIT"
	})
	t.Logf("harden: Redis killed under two instances: %d requests served, %d failed; streams kept delivering, across instances from the event table; notifications and the shared cache back after restart", served, failed)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Each instance keeps sessions and accounts in memory; a sign-out or a
// disabled account on A still shuts the door on B, as soon as B hears the
// event, and never through a stale copy afterwards.
func TestSignOutAndDisableReachEveryInstance(t *testing.T) {
	cfg := testConfig(t, true)
	cfg.RedisURL = redistest.URL(t)
	a, _ := startApp(t, cfg)
	b, _ := startApp(t, cfg)
	shutOut := func(c *http.Client, base, what string) {
		t.Helper()
		start := time.Now()
		waitUntil(t, 2*time.Second, what, func() bool {
			res, _ := getPage(t, c, base+"/issues")
			return res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/login"
		})
		t.Logf("%s: refused on the other instance after %v", what, time.Since(start).Round(time.Millisecond))
	}

	// A copy of the warden's cookie, as someone who took it would hold it.
	warden := newClient()
	signIn(t, warden, a, "warden1@demo.test", "demo")
	taken := newClient()
	for _, base := range []string{a, b} {
		u, _ := url.Parse(base)
		taken.Jar.SetCookies(u, warden.Jar.Cookies(u))
	}
	for _, base := range []string{a, b} {
		if res, _ := getPage(t, taken, base+"/issues"); res.StatusCode != http.StatusOK {
			t.Fatalf("the session on %s: %d", base, res.StatusCode)
		}
	}
	if res := postForm(t, warden, a, "/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out on A: %d", res.StatusCode)
	}
	shutOut(taken, b, "a session signed out on A")
	if res, _ := getPage(t, taken, a+"/issues"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the signed-out session still works on A: %d", res.StatusCode)
	}

	student := newClient()
	signIn(t, student, b, "student2@demo.test", "demo")
	for _, base := range []string{a, b} {
		if res, _ := getPage(t, student, base+"/issues"); res.StatusCode != http.StatusOK {
			t.Fatalf("the student on %s: %d", base, res.StatusCode)
		}
	}
	admin := newClient()
	signIn(t, admin, a, "admin@demo.test", "demo")
	_, users := getPage(t, admin, a+"/users")
	id := regexp.MustCompile(`id="user-(\d+)"[^>]*><td><strong>[^<]*</strong><br><span class="meta">student2@demo\.test<`).FindStringSubmatch(users)
	if id == nil {
		t.Fatal("student2 is not on the users page")
	}
	if res := postForm(t, admin, a, "/users/"+id[1], url.Values{"hostel_id": {"2"}, "disabled": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable on A: %d", res.StatusCode)
	}
	shutOut(student, b, "an account disabled on A")
}
