package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"hostelhub/handlers/webtest"
)

// Every state-changing route, taken from Echo's table so that a new one
// cannot slip past, refuses a request without a valid CSRF token and
// changes nothing.
func TestEveryStateChangeNeedsACSRFToken(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.login(t, "admin@demo.test")
	student := ts.login(t, "student1@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	tables := []string{"issues", "issue_notes", "metoos", "announcements", "users", "hostels", "events", "sessions"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = ts.countRows(t, tb)
	}
	tried := 0
	for _, r := range ts.echo.Routes() {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == echo.RouteNotFound {
			continue
		}
		path := strings.NewReplacer(":id", "1").Replace(r.Path)
		if strings.HasPrefix(path, "/issues/1") || strings.HasPrefix(path, "/api/issues/1") {
			path = strings.Replace(path, "/1", "/"+itoa(is.ID), 1)
		}
		for _, c := range []*webtest.Client{admin, student} {
			for _, token := range []string{"", "forged-token-value", strings.Repeat("x", 32)} {
				body := url.Values{"title": {"Forged"}, "body": {"x"}, "name": {"Forged hostel"}, "status": {"in_progress"},
					"email": {"admin@demo.test"}, "password": {"demo"}, "category": {"other"}}
				if token != "" {
					body.Set("_csrf", token)
				}
				req, _ := http.NewRequest(r.Method, ts.URL+path, strings.NewReader(body.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if token != "" && strings.HasPrefix(path, "/api/") {
					req.Header.Set("X-CSRF-Token", token)
				}
				// A cross-site browser says so, and is refused outright.
				if token == strings.Repeat("x", 32) {
					req.Header.Set("Sec-Fetch-Site", "cross-site")
				}
				res := c.Do(req)
				tried++
				if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusForbidden {
					t.Errorf("%s %s with token %q: got %d, want 400 or 403", r.Method, path, token, res.StatusCode)
				}
			}
		}
	}
	for _, tb := range tables {
		if n := ts.countRows(t, tb); n != before[tb] {
			t.Errorf("%s: %d rows written by forged requests", tb, n-before[tb])
		}
	}
	t.Logf("harden: CSRF: %d forged requests on every state-changing route refused, no row written", tried)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A sign-in rotates the CSRF token with the session: the browser is given
// a new one, and the token it had before no longer changes anything.
func TestCSRFTokenRotatesAtSignIn(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	old := c.CSRF()
	res := c.PostForm("/login", url.Values{"email": {"warden1@demo.test"}, "password": {webtest.DemoPassword}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	var set []string
	for _, ck := range res.Cookies() {
		if ck.Name == "_csrf" {
			set = append(set, ck.Value)
		}
	}
	if len(set) != 1 || set[0] == old || set[0] == "" {
		t.Fatalf("sign-in set the CSRF cookie to %q, want one new value (was %q)", set, old)
	}
	if got := c.CSRF(); got != set[0] {
		t.Fatalf("the browser's token is %q, want %q", got, set[0])
	}
	// The page after sign-in carries the new token.
	webtest.WantContains(t, c.Get("/issues"), `name="csrf-token" content="`+set[0]+`"`)
	is := ts.issueOf(t, 1, "open", 0)
	notes := ts.countRows(t, "issue_notes")
	stale := c.PostForm("/issues/"+itoa(is.ID)+"/comments", url.Values{"body": {"With the old token"}, "_csrf": {old}})
	if stale.StatusCode != http.StatusForbidden && stale.StatusCode != http.StatusBadRequest {
		t.Errorf("a change with the token from before sign-in: got %d, want 400 or 403", stale.StatusCode)
	}
	if ts.countRows(t, "issue_notes") != notes {
		t.Error("the old token wrote a comment")
	}
	webtest.WantStatus(t, c.PostForm("/issues/"+itoa(is.ID)+"/comments", url.Values{"body": {"With the new token"}}), http.StatusSeeOther)
	// A failed sign-in changes nothing.
	d := ts.client(t)
	before := d.CSRF()
	d.PostForm("/login", url.Values{"email": {"warden1@demo.test"}, "password": {"wrong"}})
	if d.CSRF() != before {
		t.Error("a failed sign-in rotated the CSRF token")
	}
}
