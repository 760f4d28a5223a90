package handlers

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
)

// HEAD answers on every GET route, from Echo's table, whoever asks: the
// status and headers GET answers, and no body. On a live stream it answers
// at once, never holding the connection.
func TestHEADAnswersAsGETDoes(t *testing.T) {
	ts := newTestServer(t)
	callers := map[string]*webtest.Client{"anon": ts.client(t)}
	for _, email := range []string{"student1@demo.test", "warden1@demo.test", "admin@demo.test"} {
		callers[email] = ts.login(t, email)
	}
	is := ts.issueOf(t, 1, "open", 0)
	other := ts.issueOf(t, 2, "", 0)
	paths := map[string][]string{
		"/issues/:id":         {"/issues/" + itoa(is.ID), "/issues/" + itoa(other.ID), "/issues/999999", "/issues/x"},
		"/hostels/:id/events": {"/hostels/1/events", "/hostels/2/events", "/hostels/999/events"},
		"/static/*":           {"/static/app.css", "/static/vendor/htmx-2.0.11.min.js", "/static/vendor/", "/static/nope"},
		"/issues":             {"/issues", "/issues?hostel=2", "/issues?status=nope"},
		"/api/issues":         {"/api/issues", "/api/issues?hostel=2"},
	}
	stream := map[string]bool{"/hostels/:id/events": true, "/events": true}
	var routes []string
	for _, r := range ts.echo.Routes() {
		if r.Method == http.MethodGet {
			routes = append(routes, r.Path)
		}
	}
	sort.Strings(routes)
	routes = append(routes, "/nowhere") // not a route: answered alike
	do := func(c *webtest.Client, method, path string) (*http.Response, []byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, ts.URL+path, nil)
		req.Header.Set("Accept-Encoding", "identity") // lengths compare only uncompressed
		res, err := c.HTTP.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		var body []byte
		if !(method == http.MethodGet && res.Header.Get("Content-Type") == "text/event-stream") {
			body, err = io.ReadAll(res.Body)
		}
		return res, body, err
	}
	checked := 0
	for _, route := range routes {
		ps, ok := paths[route]
		if !ok {
			ps = []string{route}
		}
		for _, path := range ps {
			for name, c := range callers {
				get, _, err := do(c, http.MethodGet, path)
				if err != nil {
					t.Fatalf("GET %s as %s: %v", path, name, err)
				}
				start := time.Now()
				head, body, err := do(c, http.MethodHead, path)
				checked++
				if err != nil {
					t.Errorf("HEAD %s as %s: %v (after %v)", path, name, err, time.Since(start))
					continue
				}
				if head.StatusCode != get.StatusCode {
					t.Errorf("HEAD %s as %s: got %d, want GET's %d", path, name, head.StatusCode, get.StatusCode)
				}
				if len(body) != 0 {
					t.Errorf("HEAD %s as %s: a body of %d bytes", path, name, len(body))
				}
				for _, h := range []string{"Content-Type", "Cache-Control", "Location", "Vary", "X-Content-Type-Options"} {
					if h == "Vary" && stream[route] {
						continue // a stream that takes its connection over writes its own head
					}
					if g, hd := headerSet(get.Header, h), headerSet(head.Header, h); g != hd {
						t.Errorf("HEAD %s as %s: %s %q, want GET's %q", path, name, h, hd, g)
					}
				}
				// (net/http adds "Content-Length: 0" to an empty GET answer; it cannot to a HEAD's.)
				if cl := get.Header.Get("Content-Length"); cl != "" && cl != "0" && !stream[route] && route != "/dashboard" && head.Header.Get("Content-Length") != cl {
					t.Errorf("HEAD %s as %s: Content-Length %q, want GET's %q", path, name, head.Header.Get("Content-Length"), cl)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("HEAD %s as %s took %v", path, name, d)
				}
			}
		}
	}
	// Logged and counted as what they were.
	if m := callers["admin@demo.test"].Get("/metrics"); !strings.Contains(m.Body, `method="HEAD",url="/issues/:id"`) {
		t.Error("the metrics count no HEAD request")
	}
	t.Logf("%d GET routes, %d HEAD requests checked", len(routes), checked)
}

// headerSet is a header's values, in order of name: Vary's, say, are added
// by several middlewares, in an order that means nothing.
func headerSet(h http.Header, name string) string {
	var vs []string
	for _, v := range h.Values(name) {
		for _, f := range strings.Split(v, ",") {
			vs = append(vs, strings.TrimSpace(f))
		}
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}
