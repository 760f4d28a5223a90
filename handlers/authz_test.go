package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// authzRule is what one route answers each kind of caller, in the caller's
// own hostel and in another. The matrix is built from Echo's route table:
// a route without a rule here fails the test.
type authzRule struct {
	anon            int
	student, warden [2]int // own hostel, another hostel
	management      [2]int
}

var (
	ok      = [2]int{200, 200}
	seeOth  = [2]int{303, 303}
	forbid  = [2]int{403, 403}
	ownOnly = func(own int) [2]int { return [2]int{own, 404} }
)

// A refusal by role alone (a warden's "me too") is the route's, made
// before the issue is looked up, so it is 403 in any hostel and tells
// nothing of whether the issue exists.
var authzRules = map[string]authzRule{
	"GET /login":                   {anon: 200, student: seeOth, warden: seeOth, management: seeOth},
	"POST /login":                  {anon: 401, student: [2]int{401, 401}, warden: [2]int{401, 401}, management: [2]int{401, 401}},
	"GET /":                        {anon: 303, student: seeOth, warden: seeOth, management: seeOth},
	"POST /logout":                 {anon: 303, student: seeOth, warden: seeOth, management: seeOth},
	"GET /issues":                  {anon: 303, student: [2]int{200, 403}, warden: [2]int{200, 403}, management: ok},
	"GET /issues/new":              {anon: 303, student: ok, warden: ok, management: forbid},
	"POST /issues":                 {anon: 303, student: [2]int{303, 403}, warden: [2]int{303, 403}, management: forbid},
	"GET /issues/:id":              {anon: 303, student: ownOnly(200), warden: ownOnly(200), management: ok},
	"POST /issues/:id/status":      {anon: 303, student: ownOnly(403), warden: ownOnly(303), management: seeOth},
	"POST /issues/:id/comments":    {anon: 303, student: ownOnly(403), warden: ownOnly(303), management: seeOth},
	"POST /issues/:id/metoo":       {anon: 303, student: ownOnly(303), warden: forbid, management: forbid},
	"GET /announcements":           {anon: 303, student: ok, warden: ok, management: ok},
	"POST /announcements":          {anon: 303, student: forbid, warden: [2]int{303, 403}, management: seeOth},
	"GET /hostels/:id/events":      {anon: 303, student: [2]int{200, 403}, warden: [2]int{200, 403}, management: ok},
	"GET /events":                  {anon: 303, student: ok, warden: ok, management: ok},
	"GET /dashboard":               {anon: 303, student: forbid, warden: forbid, management: ok},
	"GET /users":                   {anon: 303, student: forbid, warden: forbid, management: ok},
	"POST /users":                  {anon: 303, student: forbid, warden: forbid, management: seeOth},
	"POST /users/:id":              {anon: 303, student: forbid, warden: forbid, management: seeOth},
	"GET /hostels":                 {anon: 303, student: forbid, warden: forbid, management: ok},
	"POST /hostels":                {anon: 303, student: forbid, warden: forbid, management: seeOth},
	"POST /hostels/:id":            {anon: 303, student: forbid, warden: forbid, management: seeOth},
	"GET /api/issues":              {anon: 401, student: [2]int{200, 403}, warden: [2]int{200, 403}, management: ok},
	"POST /api/issues":             {anon: 401, student: [2]int{201, 403}, warden: [2]int{201, 403}, management: forbid},
	"PATCH /api/issues/:id/status": {anon: 401, student: ownOnly(403), warden: ownOnly(200), management: ok},
	"GET /api/dashboard/summary":   {anon: 401, student: forbid, warden: forbid, management: ok},
	"GET /healthz":                 {anon: 200, student: ok, warden: ok, management: ok},
	"GET /metrics":                 {anon: 303, student: forbid, warden: forbid, management: ok},
	"GET /static/*":                {anon: 200, student: ok, warden: ok, management: ok},
}

func TestAuthorisationMatrix(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	callers := map[string]*webtest.Client{"anon": ts.client(t)}
	for _, email := range []string{"student1@demo.test", "warden1@demo.test", "admin@demo.test"} {
		callers[email] = ts.login(t, email)
	}
	reporter := ts.user(t, "resident1.2@demo.test") // issues are theirs, not the student's under test
	other := ts.user(t, "resident2.2@demo.test")
	target := ts.user(t, "resident3.5@demo.test")

	// freshIssue is an open issue in the caller's own hostel (1) or another (2).
	freshIssue := func(otherHostel bool) int64 {
		r := reporter
		if otherHostel {
			r = other
		}
		id, err := ts.store.CreateIssue(ctx, store.NewIssue{HostelID: r.HomeHostel(), ReporterID: r.ID, Title: "Matrix issue", Category: "other"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	hostel := func(otherHostel bool) string {
		if otherHostel {
			return "2"
		}
		return "1"
	}
	request := func(c *webtest.Client, route string, otherHostel bool) webtest.Response {
		method, path, _ := strings.Cut(route, " ")
		if strings.Contains(path, "/issues/:id") {
			path = strings.Replace(path, ":id", fmt.Sprint(freshIssue(otherHostel)), 1)
		}
		switch route {
		case "GET /issues", "GET /api/issues":
			if otherHostel {
				path += "?hostel=2"
			}
			return c.Get(path)
		case "GET /hostels/:id/events", "GET /events":
			return c.OpenStream(strings.Replace(path, ":id", hostel(otherHostel), 1))
		case "GET /static/*":
			return c.Get("/static/app.css")
		case "POST /login":
			return c.PostForm(path, url.Values{"email": {"nobody@demo.test"}, "password": {"x"}})
		case "POST /issues":
			return c.PostForm(path, url.Values{"title": {"Matrix report"}, "category": {"other"}, "priority": {"low"}, "hostel_id": {hostel(otherHostel)}})
		case "POST /issues/:id/status":
			return c.PostForm(path, url.Values{"status": {"in_progress"}})
		case "POST /issues/:id/comments":
			return c.PostForm(path, url.Values{"body": {"A comment"}})
		case "POST /announcements":
			return c.PostForm(path, url.Values{"title": {"Matrix notice"}, "body": {"Body"}, "hostel_id": {hostel(otherHostel)}})
		case "POST /users":
			return c.PostForm(path, url.Values{"name": {"N"}, "email": {fmt.Sprintf("n%d@example.org", ts.countRows(t, "users"))},
				"role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}})
		case "POST /users/:id":
			return c.PostForm(strings.Replace(path, ":id", fmt.Sprint(target.ID), 1), url.Values{"hostel_id": {"3"}})
		case "POST /hostels":
			return c.PostForm(path, url.Values{"name": {fmt.Sprintf("Hostel %d", ts.countRows(t, "hostels")+1)}})
		case "POST /hostels/:id":
			return c.PostForm(strings.Replace(path, ":id", "3", 1), url.Values{"name": {fmt.Sprintf("Shivalik %d", ts.countRows(t, "events"))}})
		case "POST /api/issues":
			return c.JSON(method, path, fmt.Sprintf(`{"title":"API report","category":"water","priority":"urgent","hostel_id":%s}`, hostel(otherHostel)))
		case "PATCH /api/issues/:id/status":
			return c.JSON(method, path, `{"status":"in_progress","note":"on it"}`)
		}
		if method == http.MethodGet {
			return c.Get(path)
		}
		return c.PostForm(path, nil)
	}

	var routes []string
	for _, r := range ts.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the groups' catch-alls: see TestUnknownPathsAreNotFound
		}
		routes = append(routes, r.Method+" "+r.Path)
	}
	sort.Strings(routes)
	checked := 0
	for _, route := range routes {
		rule, ok := authzRules[route]
		if !ok {
			t.Errorf("route %s has no authorisation rule: add one to authzRules", route)
			continue
		}
		for _, scope := range []bool{false, true} {
			for caller, want := range map[string]int{
				"anon":               rule.anon,
				"student1@demo.test": rule.student[b2i(scope)],
				"warden1@demo.test":  rule.warden[b2i(scope)],
				"admin@demo.test":    rule.management[b2i(scope)],
			} {
				c := callers[caller]
				if caller == "anon" {
					c = ts.client(t)
				}
				res := request(c, route, scope)
				checked++
				if res.StatusCode != want {
					t.Errorf("%s as %s (other hostel: %v): got %d, want %d", route, caller, scope, res.StatusCode, want)
				}
				// The same request as an htmx fragment request: refused alike,
				// or let through (a fragment or HX-Redirect instead of a 303).
				if route != "POST /logout" {
					c.HX = true
					res = request(c, route, scope)
					c.HX = false
					checked++
					if got := res.StatusCode; (want >= 400 && got != want) || (want < 400 && got >= 400) {
						t.Errorf("%s as %s (other hostel: %v) from htmx: got %d, want %d", route, caller, scope, got, want)
					}
				}
				if route == "POST /logout" && caller != "anon" {
					callers[caller] = ts.login(t, caller)
				}
			}
		}
	}
	t.Logf("%d routes, %d requests checked", len(routes), checked)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// An unknown path is a page that is not there, whoever asks and however:
// never a sign-in redirect or a refusal that would tell routes apart.
// Under /api the answer is JSON, and the API's sign-in check comes first.
func TestUnknownPathsAreNotFound(t *testing.T) {
	ts := newTestServer(t)
	callers := map[string]*webtest.Client{"anon": ts.client(t)}
	for _, email := range []string{"student1@demo.test", "warden1@demo.test", "admin@demo.test"} {
		callers[email] = ts.login(t, email)
	}
	for caller, c := range callers {
		for _, hx := range []bool{false, true} {
			c.HX = hx
			for _, path := range []string{"/nowhere", "/issues/1/nowhere", "/users/1/nowhere", "/static"} {
				if res := c.Get(path); res.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s as %s (htmx: %v): got %d, want 404", path, caller, hx, res.StatusCode)
				}
			}
			if res := c.PostForm("/nowhere", nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("POST /nowhere as %s (htmx: %v): got %d, want 404", caller, hx, res.StatusCode)
			}
			want := http.StatusNotFound
			if caller == "anon" {
				want = http.StatusUnauthorized
			}
			for _, path := range []string{"/api/nowhere", "/api/issues/1/nowhere", "/api"} {
				res := c.JSON(http.MethodGet, path, "")
				if res.StatusCode != want {
					t.Errorf("GET %s as %s (htmx: %v): got %d, want %d", path, caller, hx, res.StatusCode, want)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.Contains(res.Body, `"error":`) {
					t.Errorf("GET %s as %s (htmx: %v): got %q %.100s, want a JSON error", path, caller, hx, ct, res.Body)
				}
			}
		}
	}
}
