// Package webtest drives hostelhub over HTTP as a browser without
// JavaScript does, for tests: a cookie jar, redirects not followed, the
// CSRF token repeated from its cookie, forms posted plainly or as htmx
// posts them, JSON for the API, and live streams read as an EventSource
// reads them.
package webtest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"hostelhub/realtime/realtimetest"
)

// DemoPassword is the password of every demo account.
const DemoPassword = "demo"

// Client is one browser without JavaScript at one hostelhub.
type Client struct {
	t    testing.TB
	Base string       // the app's URL, e.g. http://127.0.0.1:8080
	HTTP *http.Client // its cookie jar is the browser's
	// HX sends every request as htmx does: HX-Request set, and the CSRF
	// token in the X-CSRF-Token header.
	HX bool
}

// NewClient is a browser with no cookies yet.
func NewClient(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, Base: base, HTTP: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

// Beside is a browser of its own for the app at base, sharing c's cookies:
// another instance behind the same name, as a load balancer would send it.
func (c *Client) Beside(base string) *Client {
	return &Client{t: c.t, Base: base, HTTP: c.HTTP, HX: c.HX}
}

// SignIn signs in, failing the test unless the app answers with the
// redirect to the user's home.
func (c *Client) SignIn(email, password string) {
	c.t.Helper()
	res := c.PostForm("/login", url.Values{"email": {email}, "password": {password}})
	if res.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign in as %s: got %d, want 303\n%.300s", email, res.StatusCode, res.Body)
	}
}

// Response is an answer with its body read.
type Response struct {
	*http.Response
	Body string
}

// CSRF is the browser's CSRF token: the value of the cookie the app sets
// on the first page, which forms and the X-CSRF-Token header repeat. It
// fetches the sign-in page first when there is none yet.
func (c *Client) CSRF() string {
	c.t.Helper()
	u, _ := url.Parse(c.Base)
	for range 2 {
		for _, ck := range c.HTTP.Jar.Cookies(u) {
			if ck.Name == "_csrf" {
				return ck.Value
			}
		}
		c.Get("/login")
	}
	c.t.Fatalf("no CSRF cookie from %s", c.Base)
	return ""
}

// Do sends req (with htmx's headers when HX is set) and reads the answer.
func (c *Client) Do(req *http.Request) Response {
	c.t.Helper()
	if c.HX {
		req.Header.Set("HX-Request", "true")
		if req.Header.Get("X-CSRF-Token") == "" && req.Method != http.MethodGet {
			req.Header.Set("X-CSRF-Token", c.CSRF())
		}
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return Response{Response: res, Body: string(b)}
}

// Get fetches path.
func (c *Client) Get(path string) Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.Base+path, nil)
	return c.Do(req)
}

// PostForm posts a form as a browser does, with the CSRF token in _csrf
// unless v already has one.
func (c *Client) PostForm(path string, v url.Values) Response {
	c.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if !v.Has("_csrf") {
		v.Set("_csrf", c.CSRF())
	}
	req, _ := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// HTMX sends a form as htmx does: the CSRF token in a header, HX-Request
// set, and HX-Target naming the element to swap (empty: none).
func (c *Client) HTMX(method, path string, v url.Values, target string) Response {
	c.t.Helper()
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader(v.Encode())
	} else if v != nil {
		path += "?" + v.Encode()
	}
	req, _ := http.NewRequest(method, c.Base+path, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	if target != "" {
		req.Header.Set("HX-Target", target)
	}
	req.Header.Set("X-CSRF-Token", c.CSRF())
	return c.Do(req)
}

// JSON sends body (JSON, or empty) with the CSRF header, as a script would.
func (c *Client) JSON(method, path, body string) Response {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.Base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-CSRF-Token", c.CSRF())
	return c.Do(req)
}

// OpenStream opens a live stream, reads only its status (and the body of
// a refusal), and hangs up.
func (c *Client) OpenStream(path string) Response {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var body []byte
	if res.StatusCode != http.StatusOK {
		body, _ = io.ReadAll(res.Body)
	}
	return Response{Response: res, Body: string(body)}
}

// NoLastEventID, as Stream's lastEventID, sends no Last-Event-ID header.
const NoLastEventID = -1

// Stream is one live stream, read in the background as a browser's
// EventSource reads it.
type Stream struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	// Frames are the events as they are dispatched; closed when the
	// stream ends.
	Frames chan realtimetest.Frame
}

// Stream opens path with the browser's cookies, sending lastEventID as
// Last-Event-ID unless it is NoLastEventID, and fails the test unless the
// app answers 200. The stream closes when the test ends.
func (c *Client) Stream(path string, lastEventID int64) *Stream {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if lastEventID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastEventID, 10))
	}
	res, err := (&http.Client{Jar: c.HTTP.Jar, Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		cancel()
		c.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		c.t.Fatalf("GET %s: got %d, want 200", path, res.StatusCode)
	}
	s := &Stream{t: c.t, res: res, cancel: cancel, Frames: make(chan realtimetest.Frame, 4096)}
	go func() {
		defer close(s.Frames)
		dec := realtimetest.NewDecoder(res.Body)
		for {
			f, err := dec.Next()
			if err != nil {
				return
			}
			s.Frames <- f
		}
	}()
	c.t.Cleanup(s.Close)
	return s
}

// Close hangs up.
func (s *Stream) Close() { s.cancel(); s.res.Body.Close() }

// Next returns the next frame named event, skipping others, failing the
// test after 5 s or when the stream ends first.
func (s *Stream) Next(event string) realtimetest.Frame {
	s.t.Helper()
	return s.NextWithin(event, 5*time.Second)
}

// NextWithin is Next with a time limit of d.
func (s *Stream) NextWithin(event string, d time.Duration) realtimetest.Frame {
	s.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-s.Frames:
			if !ok {
				s.t.Fatalf("the stream ended waiting for %q", event)
			}
			if f.Event == event {
				return f
			}
		case <-timeout:
			s.t.Fatalf("no %q event within %v", event, d)
		}
	}
}

// Quiet fails the test if any frame arrives within d.
func (s *Stream) Quiet(d time.Duration) {
	s.t.Helper()
	select {
	case f, ok := <-s.Frames:
		if ok {
			s.t.Errorf("unexpected %q event %d: %.200s", f.Event, f.ID, f.Data)
		}
	case <-time.After(d):
	}
}

// WantStatus fails the test unless res has status want.
func WantStatus(t testing.TB, res Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		body := res.Body
		if len(body) > 600 {
			body = body[:600]
		}
		t.Fatalf("%s %s: got %d, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, body)
	}
}

// WantContains fails the test for each of subs that res's body lacks.
func WantContains(t testing.TB, res Response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(res.Body, s) {
			t.Errorf("%s %s: body does not contain %q", res.Request.Method, res.Request.URL.Path, s)
		}
	}
}
