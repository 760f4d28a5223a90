package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hostelhub/realtime"
)

// redisURL is the Redis the tests share; each app keys everything by its
// own database's epoch, so tests never see each other's keys or events.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	opts, err := redis.ParseURL(u)
	if err == nil {
		c := redis.NewClient(opts)
		err = c.Ping(context.Background()).Err()
		c.Close()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required in CI: %s: %v", u, err)
		}
		t.Skipf("no Redis at %s (%v): the multi-instance test is skipped", u, err)
	}
	return u
}

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
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRe.FindStringSubmatch(string(b))
	if m == nil {
		// Signed in: /login redirects; the list page carries the token too.
		res, _ = c.Get(base + "/issues")
		b, _ = io.ReadAll(res.Body)
		res.Body.Close()
		m = csrfRe.FindStringSubmatch(string(b))
	}
	v.Set("_csrf", m[1])
	res, err = c.PostForm(base+path, v)
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
	rurl := redisURL(t)
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
