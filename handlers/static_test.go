package handlers

import (
	"net/http"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// Static files are served with their caching; directories are not listed.
func TestStaticFilesWithoutListings(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	for path, want := range map[string]string{
		"/static/app.css":                          "public, max-age=3600",
		"/static/app.js":                           "public, max-age=3600",
		"/static/vendor/htmx-2.0.11.min.js":        "public, max-age=31536000, immutable",
		"/static/vendor/htmx-ext-sse.LICENSE":      "public, max-age=31536000, immutable",
		"/static/vendor/htmx-ext-sse-2.2.4.min.js": "public, max-age=31536000, immutable",
	} {
		res := c.Get(path)
		webtest.WantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("Cache-Control"); got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", path, got, want)
		}
		if len(res.Body) == 0 {
			t.Errorf("GET %s: empty", path)
		}
	}
	for _, path := range []string{"/static/", "/static/vendor/", "/static/vendor", "/static/nope.css", "/static/vendor/nope.js", "/static/../static/app.css", "/static//app.css"} {
		res := c.Get(path)
		for i := 0; i < 3 && res.StatusCode == http.StatusMovedPermanently; i++ {
			next, err := res.Request.URL.Parse(res.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			res = c.Get(next.RequestURI())
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, res.StatusCode)
		}
		if strings.Contains(res.Body, `href="app.css"`) || strings.Contains(res.Body, `href="htmx-2.0.11.min.js"`) || strings.Contains(res.Body, `href="vendor/"`) {
			t.Errorf("GET %s lists the directory:\n%.300s", path, res.Body)
		}
	}
}
