package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// Every answer that depends on who is signed in is kept by no cache, and
// says once that it varies by the cookie: pages, fragments, JSON, errors
// and redirects alike, before and after sign-in. Static files and
// /healthz depend on no one and keep their own caching.
func TestSignedInAnswersAreNotStored(t *testing.T) {
	ts := newTestServer(t)
	wantNoStore := func(res webtest.Response) {
		t.Helper()
		if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
			t.Errorf("%s %s (%d): Cache-Control %q, want no-store", res.Request.Method, res.Request.URL, res.StatusCode, got)
		}
		n := 0
		for _, v := range res.Header.Values("Vary") {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), "Cookie") {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("%s %s (%d): Vary %q names Cookie %d times, want once", res.Request.Method, res.Request.URL, res.StatusCode, res.Header.Values("Vary"), n)
		}
	}
	// First visit: no cookie yet, then the sign-in.
	c := ts.client(t)
	wantNoStore(c.Get("/login"))
	wantNoStore(c.Get("/login"))
	wantNoStore(c.PostForm("/login", url.Values{"email": {"nobody@demo.test"}, "password": {"x"}}))
	wantNoStore(c.PostForm("/login", url.Values{"email": {"warden1@demo.test"}, "password": {webtest.DemoPassword}}))
	// Signed in.
	is := ts.issueOf(t, 1, "open", 0)
	for _, path := range []string{"/", "/issues", "/issues?status=nope", "/issues/" + itoa(is.ID), "/issues/new", "/announcements", "/nowhere", "/dashboard", "/users"} {
		wantNoStore(c.Get(path))
	}
	wantNoStore(c.HTMX(http.MethodGet, "/issues", url.Values{"q": {"tap"}}, "issue-list-section"))
	wantNoStore(c.HTMX(http.MethodPost, "/issues/"+itoa(is.ID)+"/status", url.Values{"status": {"in_progress"}}, "issue-"+itoa(is.ID)))
	wantNoStore(c.PostForm("/issues/"+itoa(is.ID)+"/comments", url.Values{"body": {"On it."}}))
	wantNoStore(c.PostForm("/issues/"+itoa(is.ID)+"/comments", url.Values{"body": {""}}))
	wantNoStore(c.JSON(http.MethodGet, "/api/issues", ""))
	wantNoStore(c.JSON(http.MethodGet, "/api/nowhere", ""))
	wantNoStore(c.JSON(http.MethodPatch, "/api/issues/"+itoa(is.ID)+"/status", `{"status":"nope"}`))
	admin := ts.login(t, "admin@demo.test")
	for _, path := range []string{"/dashboard", "/metrics", "/users", "/hostels"} {
		wantNoStore(admin.Get(path))
	}
	wantNoStore(admin.JSON(http.MethodGet, "/api/dashboard/summary", ""))
	wantNoStore(c.PostForm("/logout", nil))

	for path, want := range map[string]string{"/static/app.css": "public, max-age=3600", "/healthz": ""} {
		if got := c.Get(path).Header.Get("Cache-Control"); got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", path, got, want)
		}
	}
}
