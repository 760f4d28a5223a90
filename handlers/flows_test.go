package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

func TestSignInAndOut(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	res := c.Get("/issues")
	webtest.WantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/login" {
		t.Fatalf("signed out /issues: got Location %q, want /login", loc)
	}
	c.Get("/login")
	before := sessionCookie(c)
	res = c.PostForm("/login", url.Values{"email": {"Student1@Demo.test "}, "password": {"demo"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/issues" {
		t.Errorf("student home: got %q, want /issues", loc)
	}
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "hostelhub_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: got %+v, want HttpOnly and SameSite=Lax", cookie)
	}
	if cookie.Value == before {
		t.Error("the session id was not rotated at sign-in")
	}
	webtest.WantStatus(t, c.Get("/issues"), http.StatusOK)

	webtest.WantStatus(t, c.PostForm("/logout", nil), http.StatusSeeOther)
	webtest.WantStatus(t, c.Get("/issues"), http.StatusSeeOther)

	admin := ts.login(t, "admin@demo.test")
	res = admin.Get("/")
	if loc := res.Header.Get("Location"); loc != "/dashboard" {
		t.Errorf("management home: got %q, want /dashboard", loc)
	}
}

func sessionCookie(c *webtest.Client) string {
	u, _ := url.Parse(c.Base)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == "hostelhub_session" {
			return ck.Value
		}
	}
	return ""
}

func TestSignInFailuresLookAlike(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	unknown := c.PostForm("/login", url.Values{"email": {"nobody@demo.test"}, "password": {"demo"}})
	wrong := c.PostForm("/login", url.Values{"email": {"student1@demo.test"}, "password": {"wrong"}})
	for _, res := range []webtest.Response{unknown, wrong} {
		webtest.WantStatus(t, res, http.StatusUnauthorized)
		webtest.WantContains(t, res, badLogin)
	}
}

func TestSignInIsRateLimited(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) {
		o.perAcct = RateLimit{Every: 1e12, Burst: 3}
		o.perAddr = RateLimit{Every: 1e12, Burst: 6}
	})
	c := ts.client(t)
	try := func(email string) int {
		return c.PostForm("/login", url.Values{"email": {email}, "password": {"wrong"}}).StatusCode
	}
	for i := range 3 {
		if got := try("student1@demo.test"); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: got %d, want 401", i+1, got)
		}
	}
	if got := try("student1@demo.test"); got != http.StatusTooManyRequests {
		t.Fatalf("4th attempt on one account: got %d, want 429", got)
	}
	// The right password does not get through a locked account either.
	res := c.PostForm("/login", url.Values{"email": {"student1@demo.test"}, "password": {"demo"}})
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	webtest.WantContains(t, res, tooManyLogins)
	// Other accounts from the same address, until the address runs out.
	if got := try("student2@demo.test"); got != http.StatusUnauthorized {
		t.Fatalf("another account: got %d, want 401", got)
	}
	for try("student3@demo.test") != http.StatusTooManyRequests {
	}
	if got := try("warden1@demo.test"); got != http.StatusTooManyRequests {
		t.Fatalf("an address past its limit: got %d, want 429", got)
	}
}

func TestStudentReportsAndFollowsAnIssue(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	webtest.WantStatus(t, student.Get("/issues/new"), http.StatusOK)

	res := student.PostForm("/issues", url.Values{
		"title": {"Leaking tap <b>now</b>"}, "description": {"Drips all night."}, "category": {"plumbing"},
		"priority": {"high"}, "location": {"Room 101"},
	})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, "/issues/") {
		t.Fatalf("after reporting: got Location %q, want /issues/{id}", loc)
	}
	page := student.Get(loc)
	webtest.WantStatus(t, page, http.StatusOK)
	webtest.WantContains(t, page, "Leaking tap &lt;b&gt;now&lt;/b&gt;", "Drips all night.", "reported the issue", "your issue is reported", `data-status="open"`)

	// The list shows it first (open, high, newest), filters find it, others hide it.
	list := student.Get("/issues")
	webtest.WantStatus(t, list, http.StatusOK)
	webtest.WantContains(t, list, `id="issue-list"`)
	id := strings.TrimPrefix(loc, "/issues/")
	for _, q := range []string{"?q=leaking+tap", "?status=open&category=plumbing", "?q=Drips"} {
		webtest.WantContains(t, student.Get("/issues"+q), `id="issue-`+id+`"`)
	}
	if strings.Contains(student.Get("/issues?status=resolved").Body, `id="issue-`+id+`"`) {
		t.Error("a resolved-only filter shows an open issue")
	}
	// htmx filters get the list fragment, not the page.
	frag := student.HTMX(http.MethodGet, "/issues", url.Values{"q": {"leaking tap"}}, "issue-list-section")
	webtest.WantStatus(t, frag, http.StatusOK)
	webtest.WantContains(t, frag, `id="issue-list"`, `id="issue-`+id+`"`)
	if strings.Contains(frag.Body, "<html") {
		t.Error("the htmx filter answer is a whole page")
	}
	// A student's row has "me too", not the status form.
	if strings.Contains(list.Body, `name="status"`) && strings.Contains(list.Body, `class="status-form"`) {
		t.Error("a student's list has the status form")
	}

	// The reporter comments on their own issue.
	webtest.WantStatus(t, student.PostForm(loc+"/comments", url.Values{"body": {"Still dripping."}}), http.StatusSeeOther)
	webtest.WantContains(t, student.Get(loc), "Still dripping.")
}

// A flash message shows on the next page, once, and only if hostelhub
// wrote it; carrying it never writes the session.
func TestFlashShowsOnce(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	student := ts.login(t, "student1@demo.test")
	sessionEvents := func() (n int) {
		evs, err := ts.store.Log(ctx, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == store.EventSession {
				n++
			}
		}
		return n
	}
	before := sessionEvents()
	res := student.PostForm("/issues", url.Values{"title": {"Flickering light"}, "category": {"electrical"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	webtest.WantContains(t, student.Get(res.Header.Get("Location")), `class="flash"`, "your issue is reported")
	if strings.Contains(student.Get("/issues").Body, "your issue is reported") {
		t.Error("the flash message shows twice")
	}
	if n := sessionEvents(); n != before {
		t.Errorf("the session was written %d times for a flash message", n-before)
	}

	u, _ := url.Parse(ts.URL)
	forged := base64.RawURLEncoding.EncodeToString([]byte("Your account is locked: call 555-0100"))
	for _, v := range []string{forged, forged + ".", forged + "." + strings.Repeat("A", 43), "%%%"} {
		student.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "hostelhub_flash", Value: v, Path: "/"}})
		page := student.Get("/issues")
		if strings.Contains(page.Body, "555-0100") || strings.Contains(page.Body, `class="flash"`) {
			t.Errorf("a flash cookie hostelhub did not sign (%q) shows", v)
		}
		for _, ck := range student.HTTP.Jar.Cookies(u) {
			if ck.Name == "hostelhub_flash" {
				t.Errorf("an unsigned flash cookie was left in place: %q", ck.Value)
			}
		}
	}
}

func TestMeTooOnce(t *testing.T) {
	ts := newTestServer(t)
	me := ts.user(t, "student1@demo.test")
	is := ts.issueOf(t, me.HomeHostel(), store.StatusOpen, me.ID)
	c := ts.login(t, "student1@demo.test")
	path := fmt.Sprintf("/issues/%d/metoo", is.ID)
	webtest.WantStatus(t, c.PostForm(path, nil), http.StatusSeeOther)
	row := c.HTMX(http.MethodPost, path, url.Values{}, fmt.Sprintf("issue-%d", is.ID))
	webtest.WantStatus(t, row, http.StatusOK)
	webtest.WantContains(t, row, fmt.Sprintf(`id="issue-%d"`, is.ID), fmt.Sprintf(">+%d<", is.MeToo+1))
	after, _ := ts.store.Issue(context.Background(), is.ID)
	if after.MeToo != is.MeToo+1 {
		t.Errorf("me too twice: got count %d, want %d", after.MeToo, is.MeToo+1)
	}
	// Not on your own issue.
	id, _ := ts.store.CreateIssue(context.Background(), store.NewIssue{HostelID: me.HomeHostel(), ReporterID: me.ID, Title: "Mine", Category: "other"})
	webtest.WantStatus(t, c.PostForm(fmt.Sprintf("/issues/%d/metoo", id), nil), http.StatusForbidden)
}

func TestWardenWorksTheList(t *testing.T) {
	ts := newTestServer(t)
	student := ts.user(t, "student1@demo.test")
	ctx := context.Background()
	id, _ := ts.store.CreateIssue(ctx, store.NewIssue{HostelID: student.HomeHostel(), ReporterID: student.ID, Title: "No Wi-Fi", Category: "internet", Priority: store.Urgent})
	w := ts.login(t, "warden1@demo.test")
	list := w.Get("/issues")
	webtest.WantContains(t, list, fmt.Sprintf(`id="issue-%d" data-status="open"`, id), `class="status-form"`, "by Student 1")
	// Newest and most urgent first: this one leads the list.
	if i, j := strings.Index(list.Body, fmt.Sprintf(`id="issue-%d"`, id)), strings.Index(list.Body, `class="issue `); i > j+200 {
		t.Errorf("the new urgent issue is not first in the warden's list")
	}
	path := fmt.Sprintf("/issues/%d/status", id)

	// htmx: the row comes back in place.
	row := w.HTMX(http.MethodPost, path, url.Values{"status": {"in_progress"}, "note": {"Router being reset"}}, fmt.Sprintf("issue-%d", id))
	webtest.WantStatus(t, row, http.StatusOK)
	webtest.WantContains(t, row, fmt.Sprintf(`id="issue-%d" data-status="in_progress"`, id))

	// An illegal move is refused with a message, beside the field, and changes nothing.
	bad := w.HTMX(http.MethodPost, path, url.Values{"status": {"closed"}}, fmt.Sprintf("issue-%d", id))
	webtest.WantStatus(t, bad, http.StatusUnprocessableEntity)
	webtest.WantContains(t, bad, "cannot move from in progress to closed", `class="error"`)
	// Rejecting needs a note.
	bad = w.PostForm(path, url.Values{"status": {"rejected"}})
	webtest.WantStatus(t, bad, http.StatusUnprocessableEntity)
	webtest.WantContains(t, bad, "needs one")

	// Without JavaScript: POST, then a redirect back to the list it came from.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(url.Values{"status": {"resolved"}, "note": {"Fixed"}, "_csrf": {w.CSRF()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", ts.URL+"/issues?status=in_progress")
	res := w.Do(req)
	webtest.WantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/issues?status=in_progress" {
		t.Errorf("after a status change: got Location %q, want the list it came from", loc)
	}
	page := w.Get(fmt.Sprintf("/issues/%d", id))
	webtest.WantContains(t, page, `data-status="resolved"`, "Router being reset", "Fixed")
	is, _ := ts.store.Issue(ctx, id)
	if is.Status != store.StatusResolved || is.ResolvedAt == nil {
		t.Errorf("got %s, resolved at %v; want resolved with a time", is.Status, is.ResolvedAt)
	}

	// The reporter may reopen it; another student may not.
	other := ts.login(t, "resident1.2@demo.test")
	webtest.WantStatus(t, other.PostForm(path, url.Values{"status": {"open"}}), http.StatusForbidden)
	reporter := ts.login(t, "student1@demo.test")
	webtest.WantContains(t, reporter.Get(fmt.Sprintf("/issues/%d", id)), "Reopen")
	webtest.WantStatus(t, reporter.PostForm(path, url.Values{"status": {"open"}, "note": {"Back again"}}), http.StatusSeeOther)
	// But may not move it any further.
	webtest.WantStatus(t, reporter.PostForm(path, url.Values{"status": {"in_progress"}}), http.StatusForbidden)
	// And may not comment on someone else's issue.
	webtest.WantStatus(t, other.PostForm(fmt.Sprintf("/issues/%d/comments", id), url.Values{"body": {"me too"}}), http.StatusForbidden)
}

func TestAnnouncements(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "warden1@demo.test")
	webtest.WantStatus(t, w.PostForm("/announcements", url.Values{"title": {"Water off at 10"}, "body": {"Tank cleaning."}}), http.StatusSeeOther)
	// A warden cannot post to another hostel, or to every hostel when they have one.
	webtest.WantStatus(t, w.PostForm("/announcements", url.Values{"title": {"Hello"}, "body": {"x"}, "hostel_id": {"2"}}), http.StatusForbidden)
	admin := ts.login(t, "admin@demo.test")
	webtest.WantStatus(t, admin.PostForm("/announcements", url.Values{"title": {"Fees due Friday"}, "body": {"All hostels."}, "hostel_id": {""}}), http.StatusSeeOther)
	webtest.WantStatus(t, admin.PostForm("/announcements", url.Values{"title": {"Nilgiri lift repair"}, "body": {"Only hostel 2."}, "hostel_id": {"2"}}), http.StatusSeeOther)

	s1 := ts.login(t, "student1@demo.test").Get("/announcements")
	webtest.WantContains(t, s1, "Water off at 10", "Fees due Friday")
	if strings.Contains(s1.Body, "Nilgiri lift repair") {
		t.Error("a hostel-1 student sees a hostel-2 announcement")
	}
	s2 := ts.login(t, "student2@demo.test").Get("/announcements")
	webtest.WantContains(t, s2, "Fees due Friday", "Nilgiri lift repair")
	if strings.Contains(s2.Body, "Water off at 10") {
		t.Error("a hostel-2 student sees a hostel-1 announcement")
	}
	student := ts.login(t, "student1@demo.test")
	webtest.WantStatus(t, student.PostForm("/announcements", url.Values{"title": {"Party"}, "body": {"Tonight"}}), http.StatusForbidden)
}

func TestManagementPages(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.login(t, "admin@demo.test")
	// Every hostel's issues.
	all := admin.Get("/issues")
	webtest.WantContains(t, all, "60 issues")

	// A new hostel, renamed; a duplicate name refused.
	webtest.WantStatus(t, admin.PostForm("/hostels", url.Values{"name": {"Kaveri"}}), http.StatusSeeOther)
	webtest.WantStatus(t, admin.PostForm("/hostels", url.Values{"name": {"Kaveri"}}), http.StatusUnprocessableEntity)
	hs, _ := ts.store.Hostels(context.Background())
	var kaveri int64
	for _, h := range hs {
		if h.Name == "Kaveri" {
			kaveri = h.ID
		}
	}
	webtest.WantStatus(t, admin.PostForm(fmt.Sprintf("/hostels/%d", kaveri), url.Values{"name": {"Kaveri House"}}), http.StatusSeeOther)
	webtest.WantContains(t, admin.Get("/hostels"), "Kaveri House")

	// A new student who can sign in at once.
	res := admin.PostForm("/users", url.Values{"name": {"Meera"}, "email": {"meera@example.org"}, "role": {"student"},
		"room": {"12"}, "hostel_id": {fmt.Sprint(kaveri)}, "password": {"correct horse"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	meera := ts.client(t)
	webtest.WantStatus(t, meera.PostForm("/login", url.Values{"email": {"meera@example.org"}, "password": {"correct horse"}}), http.StatusSeeOther)
	webtest.WantStatus(t, meera.Get("/issues"), http.StatusOK)
	webtest.WantStatus(t, admin.PostForm("/users", url.Values{"name": {"Meera"}, "email": {"meera@example.org"}, "role": {"student"},
		"hostel_id": {fmt.Sprint(kaveri)}, "password": {"correct horse"}}), http.StatusUnprocessableEntity)

	// Moved to hostel 1: her list is hostel 1's now.
	u := ts.user(t, "meera@example.org")
	webtest.WantStatus(t, admin.PostForm(fmt.Sprintf("/users/%d", u.ID), url.Values{"hostel_id": {"1"}}), http.StatusSeeOther)
	webtest.WantStatus(t, meera.Get("/issues?hostel=1"), http.StatusOK)
	webtest.WantStatus(t, meera.Get(fmt.Sprintf("/issues?hostel=%d", kaveri)), http.StatusForbidden)
	// A student in two hostels is refused.
	webtest.WantStatus(t, admin.PostForm(fmt.Sprintf("/users/%d", u.ID), url.Values{"hostel_id": {"1", "2"}}), http.StatusUnprocessableEntity)
	// Disabled: signed out at once, and cannot sign in again.
	webtest.WantStatus(t, admin.PostForm(fmt.Sprintf("/users/%d", u.ID), url.Values{"hostel_id": {"1"}, "disabled": {"1"}}), http.StatusSeeOther)
	webtest.WantStatus(t, meera.Get("/issues"), http.StatusSeeOther)
	webtest.WantStatus(t, meera.PostForm("/login", url.Values{"email": {"meera@example.org"}, "password": {"correct horse"}}), http.StatusUnauthorized)
}

func TestDashboardShowsTheFigures(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.login(t, "admin@demo.test")
	res := admin.Get("/dashboard")
	webtest.WantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("X-Cache"); got != "MISS" && got != "HIT" {
		t.Errorf("X-Cache: got %q, want HIT or MISS", got)
	}
	d, err := ts.store.Dashboard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	webtest.WantContains(t, res, `<svg id="trend-chart"`, fmt.Sprintf(`id="total-all">%d<`, d.Total),
		fmt.Sprintf(`id="total-open">%d<`, d.ByStatus[store.StatusOpen]), `id="by-hostel"`, `id="by-category"`, "Open longer than 72 hours")
	if strings.Count(res.Body, `<rect class="created"`) != store.DashboardDays {
		t.Errorf("the chart does not have %d days of bars", store.DashboardDays)
	}
	var n int
	ts.store.DB().QueryRow(`SELECT COUNT(*) FROM issues`).Scan(&n)
	if d.Total != n {
		t.Errorf("dashboard total %d, database %d", d.Total, n)
	}
	sum := admin.JSON(http.MethodGet, "/api/dashboard/summary", "")
	webtest.WantStatus(t, sum, http.StatusOK)
	webtest.WantContains(t, sum, fmt.Sprintf(`"total":%d`, n), `"by_hostel"`, `"daily"`, `"median_resolve_seconds"`)
}

func TestHealthAndMetrics(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	webtest.WantContains(t, c.Get("/healthz"), `"status":"ok"`)
	c.Get("/login")
	m := ts.login(t, "admin@demo.test").Get("/metrics") // management's, unless METRICS_ADDR gives them an address of their own
	webtest.WantStatus(t, m, http.StatusOK)
	webtest.WantContains(t, m, `hostelhub_http_requests_total{code="200",host="",method="GET",url="/login"}`, "hostelhub_http_request_duration_seconds_bucket")
}
