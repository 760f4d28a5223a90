package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"hostelhub/handlers/webtest"
	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/limits"
	"hostelhub/store/redistest"
)

// limitedRoutes wires the limits onto copies of the routes they guard, in
// the order routes.go and events.go wire them (the checks that refuse,
// then the limit, then the handler), under /limited…: the handlers'
// hooks are tested here whatever the route table does with them.
func limitedRoutes(h *Handler, e *echo.Echo) {
	csrf := h.csrf()
	web := e.Group("/limited", h.session, csrf, h.loadUser, requireUser)
	web.POST("/issues", h.createIssue, h.allow(reportIssue), h.limit(limitReports))
	web.POST("/issues/:id/comments", h.addComment, h.limit(limitComments))
	web.POST("/issues/:id/metoo", h.addMeToo, h.allow(meToo), h.limit(limitMeToo))
	web.POST("/announcements", h.createAnnouncement, h.allow(announce), h.limit(limitAnnouncements))
	api := e.Group("/limited-api", answerJSON, h.session, csrf, h.loadUser, requireUser)
	api.POST("/issues", h.apiCreateIssue, h.allow(reportIssue), h.limit(limitReports))
	streams := e.Group("/limited-streams", h.session, h.loadUser, requireUser)
	streams.GET("/events", heldStream(h))
}

// heldStream is a stream as events.go serves one, with the limit taken
// after the checks and released when the stream ends; it sends no events.
func heldStream(h *Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		release, err := h.acquireStream(c, currentUser(c))
		if err != nil {
			return err
		}
		defer release()
		res := c.Response()
		res.Header().Set(echo.HeaderContentType, "text/event-stream")
		res.WriteHeader(http.StatusOK)
		io.WriteString(res, "retry: 1000\n\n")
		res.Flush()
		<-c.Request().Context().Done()
		return nil
	}
}

// newLimitedServer is a test server with the limits l (zero fields:
// SPEC's defaults) on its /limited… routes.
func newLimitedServer(t testing.TB, l Limits, opts ...func(*testOptions)) *testServer {
	t.Helper()
	ts := newTestServer(t, append([]func(*testOptions){func(o *testOptions) { o.limits = l }}, opts...)...)
	limitedRoutes(ts.handler, ts.echo)
	return ts
}

// beside is another instance over the same database, counting its limits
// in backend, with its own /limited… routes.
func (ts *testServer) beside(t testing.TB, l Limits, backend *limits.Backend, perAddr RateLimit) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := realtime.NewHub(realtime.HubOptions{Logger: logger})
	h := New(Options{Store: ts.store, Logger: logger, Hub: hub, SessionSecret: []byte("test secret test secret test secret"),
		Limits: l, LimitBackend: backend, LoginPerAddress: perAddr, LoginPerAccount: RateLimit{Every: time.Millisecond, Burst: 1000}})
	e := h.Echo()
	limitedRoutes(h, e)
	srv := httptest.NewServer(e)
	t.Cleanup(func() { hub.Close(); srv.Close() })
	return srv
}

// wantRefused checks a limit's refusal: 429, Retry-After in whole seconds
// between 1 and most, and the message.
func wantRefused(t testing.TB, res webtest.Response, most int, msg string) {
	t.Helper()
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > most {
		t.Errorf("Retry-After %q, want whole seconds from 1 to %d", res.Header.Get("Retry-After"), most)
	}
	if body := html.UnescapeString(res.Body); !strings.Contains(body, msg) {
		t.Errorf("the refusal does not say %q:\n%.600s", msg, body)
	}
}

// A spent budget answers 429 with Retry-After and a message, on a plain
// form (a page), to htmx (a toast) and to the JSON API (JSON); nothing is
// written. One budget per user and kind, shared by the form and the API.
func TestWriteLimitAnswers(t *testing.T) {
	ts := newLimitedServer(t, Limits{Reports: 2, Comments: 2, MeToo: 2, Announcements: 2})
	student := ts.login(t, "student1@demo.test")
	issues := ts.countRows(t, "issues")

	// A plain form: two reports, then a page that says why not and when.
	report := func() url.Values { return url.Values{"title": {"Fan does not turn"}, "category": {"electrical"}} }
	first := student.PostForm("/limited/issues", report())
	webtest.WantStatus(t, first, http.StatusSeeOther)
	own, _ := strconv.ParseInt(strings.TrimPrefix(first.Header.Get("Location"), "/issues/"), 10, 64)
	webtest.WantStatus(t, student.PostForm("/limited/issues", report()), http.StatusSeeOther)
	res := student.PostForm("/limited/issues", report())
	wantRefused(t, res, 1800, "You have reported 2 issues in the last hour, the most one person may. Try again in 30 minutes.")
	if n := strings.Count(res.Body, "<h1"); n != 1 {
		t.Errorf("the refusal page has %d <h1>, want 1", n)
	}
	// The JSON API spends the same budget, and answers JSON.
	res = student.JSON(http.MethodPost, "/limited-api/issues", `{"title":"Tap leaks","category":"plumbing"}`)
	wantRefused(t, res, 1800, "You have reported 2 issues")
	var body struct{ Error string }
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || !strings.HasPrefix(body.Error, "You have reported 2 issues") {
		t.Errorf("JSON refusal: %v %q", err, res.Body)
	}
	if got := ts.countRows(t, "issues") - issues; got != 2 {
		t.Errorf("%d issues written, want 2: a refusal wrote one", got)
	}

	// htmx: "me too" on two issues, then a toast in #toasts, and no row
	// for the third issue.
	others := newIssuesBy(t, ts, 1, "warden1@demo.test", 3)
	metoo := func(id int64) webtest.Response {
		return student.HTMX(http.MethodPost, fmt.Sprintf("/limited/issues/%d/metoo", id), nil, fmt.Sprintf("issue-%d", id))
	}
	metoos := ts.countRows(t, "metoos")
	webtest.WantStatus(t, metoo(others[0]), http.StatusOK)
	webtest.WantStatus(t, metoo(others[1]), http.StatusOK)
	res = metoo(others[2])
	wantRefused(t, res, 1800, "You have said “me too” 2 times in the last hour")
	if res.Header.Get("HX-Retarget") != "#toasts" || res.Header.Get("HX-Reswap") != "beforeend" {
		t.Errorf("htmx refusal: HX-Retarget %q, HX-Reswap %q; want #toasts, beforeend", res.Header.Get("HX-Retarget"), res.Header.Get("HX-Reswap"))
	}
	if !strings.Contains(res.Body, `class="toast"`) || strings.Contains(res.Body, "<html") {
		t.Errorf("htmx refusal is not a toast:\n%s", res.Body)
	}
	if got := ts.countRows(t, "metoos") - metoos; got != 2 {
		t.Errorf("%d me-toos written, want 2: a refusal wrote one", got)
	}
	// The pages' htmx swaps a 429 (into #toasts, as the answer says).
	if page := html.UnescapeString(student.Get("/issues").Body); !strings.Contains(page, `{"code":"429","swap":true}`) {
		t.Error("the htmx config does not swap 429 answers")
	}

	// Another kind, another budget: comments go on until theirs is spent.
	notes := ts.countRows(t, "issue_notes")
	comment := fmt.Sprintf("/limited/issues/%d/comments", own)
	for range 2 {
		webtest.WantStatus(t, student.PostForm(comment, url.Values{"body": {"Still not fixed"}}), http.StatusSeeOther)
	}
	wantRefused(t, student.PostForm(comment, url.Values{"body": {"Still not fixed"}}), 1800, "You have written 2 comments in the last hour")
	if got := ts.countRows(t, "issue_notes") - notes; got != 2 {
		t.Errorf("%d comments written, want 2", got)
	}

	// Another user, another budget.
	webtest.WantStatus(t, ts.login(t, "resident1.2@demo.test").PostForm("/limited/issues", report()), http.StatusSeeOther)

	// A request the role check refuses is refused as before and not counted.
	for range 3 {
		webtest.WantStatus(t, student.PostForm("/limited/announcements", url.Values{"title": {"Party"}, "body": {"Tonight"}}), http.StatusForbidden)
	}
	warden := ts.login(t, "warden1@demo.test")
	announcement := url.Values{"title": {"Water off"}, "body": {"From 10 to 12"}, "hostel_id": {"1"}}
	for range 2 {
		webtest.WantStatus(t, warden.PostForm("/limited/announcements", announcement), http.StatusSeeOther)
	}
	wantRefused(t, warden.PostForm("/limited/announcements", announcement), 1800, "You have posted 2 announcements in the last hour")
}

// newIssuesBy reports n issues in a hostel as the user with email.
func newIssuesBy(t testing.TB, ts *testServer, hostelID int64, email string, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		id, err := ts.store.CreateIssue(context.Background(), store.NewIssue{HostelID: hostelID, ReporterID: ts.user(t, email).ID,
			Title: fmt.Sprintf("Light %d flickers", i), Category: "electrical", Priority: store.Normal})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// A user holds at most Limits.Streams streams; one more is 429 until one
// of them ends. Other users are not affected.
func TestStreamLimitAnswers(t *testing.T) {
	ts := newLimitedServer(t, Limits{Streams: 2})
	const path = "/limited-streams/events"
	warden := ts.login(t, "warden1@demo.test")
	first := warden.Stream(path, webtest.NoLastEventID)
	warden.Stream(path, webtest.NoLastEventID)
	wantRefused(t, warden.Get(path), 30, "You have 2 live pages open, the most one person may at once. Close one, or try again in 30 seconds.")
	ts.login(t, "student1@demo.test").Stream(path, webtest.NoLastEventID)

	first.Close()
	waitForStream(t, warden, path)
	webtest.WantStatus(t, warden.Get(path), http.StatusTooManyRequests)
}

// waitForStream waits until c may open a stream at path again (a closed
// one is noticed by the server as its connection closes), and holds the
// one it opens until the test ends.
func waitForStream(t testing.TB, c *webtest.Client, path string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
		res, err := (&http.Client{Jar: c.HTTP.Jar}).Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if res.StatusCode == http.StatusOK {
			t.Cleanup(func() { cancel(); res.Body.Close() })
			return
		}
		res.Body.Close()
		cancel()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still counts against the limit")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two instances on one Redis: a user's streams on both count against one limit.
func TestStreamLimitSharedByInstances(t *testing.T) {
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	backend := func() *limits.Backend {
		b := limits.New(limits.Options{Redis: rdb, Prefix: prefix, Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		t.Cleanup(b.Close)
		return b
	}
	l := Limits{Streams: 2}
	a := newLimitedServer(t, l, func(o *testOptions) { o.limitBackend = backend() })
	b := a.beside(t, l, backend(), RateLimit{Every: time.Millisecond, Burst: 1000})
	const path = "/limited-streams/events"
	onA := a.login(t, "warden1@demo.test")
	onB := onA.Beside(b.URL) // the same session, through another instance
	first := onA.Stream(path, webtest.NoLastEventID)
	onB.Stream(path, webtest.NoLastEventID)
	wantRefused(t, onA.Get(path), 30, "You have 2 live pages open")
	wantRefused(t, onB.Get(path), 30, "You have 2 live pages open")
	first.Close()
	waitForStream(t, onB, path)
}

// The sign-in limits are counted with the others: two instances on one
// Redis share the per-address budget.
func TestSignInLimitSharedByInstances(t *testing.T) {
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	backend := func() *limits.Backend {
		return limits.New(limits.Options{Redis: rdb, Prefix: prefix, Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}
	perAddr := RateLimit{Every: time.Hour, Burst: 3}
	a := newTestServer(t, func(o *testOptions) { o.perAddr, o.limitBackend = perAddr, backend() })
	b := a.beside(t, Limits{}, backend(), perAddr)
	onA := a.client(t)
	onB := onA.Beside(b.URL)
	wrong := url.Values{"email": {"student1@demo.test"}, "password": {"wrong"}}
	for i, c := range []*webtest.Client{onA, onB, onA} {
		if got := c.PostForm("/login", wrong).StatusCode; got != http.StatusUnauthorized {
			t.Fatalf("attempt %d of 3 across two instances: got %d, want 401", i+1, got)
		}
	}
	for name, c := range map[string]*webtest.Client{"A": onA, "B": onB} {
		res := c.PostForm("/login", wrong)
		wantRefused(t, res, 3600, tooManyLogins)
		if t.Failed() {
			t.Fatalf("the 4th attempt, on %s, was not refused: the budget is not shared", name)
		}
	}
}

func TestParseLimits(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "reports=30,comments=120,metoo=120,announcements=30,streams=16", ""},
		{"reports=5", "reports=5,comments=120,metoo=120,announcements=30,streams=16", ""},
		{" reports = 5 , streams=40,metoo=1,comments=1000000,announcements=9 ", "reports=5,comments=1000000,metoo=1,announcements=9,streams=40", ""},
		{"reprots=5", "", `unknown kind "reprots"; the kinds are reports, comments, metoo, announcements, streams`},
		{"Reports=5", "", `unknown kind "Reports"`},
		{"reports=5,reports=6", "", "reports is given twice"},
		{"reports=0", "", "reports=0: the number must be a whole number from 1 to 1000000"},
		{"reports=-1", "", "the number must be a whole number"},
		{"reports=2.5", "", "the number must be a whole number"},
		{"reports=1000001", "", "the number must be a whole number"},
		{"reports=", "", "the number must be a whole number"},
		{"reports", "", `"reports" is not kind=number`},
		{"reports=5,", "", `"" is not kind=number`},
	} {
		got, err := ParseLimits(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseLimits(%q): %v", tc.in, err)
		case tc.err == "" && got.String() != tc.want:
			t.Errorf("ParseLimits(%q) = %s, want %s", tc.in, got, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseLimits(%q): error %v, want one saying %q", tc.in, err, tc.err)
		}
	}
	if d := DefaultLimits(); d != (Limits{}).orDefaults() {
		t.Errorf("zero limits take %+v, want the defaults %+v", (Limits{}).orDefaults(), d)
	}
}

func TestLimitMessages(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Millisecond:                  "1 second",
		40 * time.Second:                  "40 seconds",
		59*time.Second + time.Millisecond: "1 minute",
		119 * time.Second:                 "2 minutes",
		12 * time.Minute:                  "12 minutes",
		59*time.Minute + 30*time.Second:   "1 hour",
		time.Hour:                         "1 hour",
		61 * time.Minute:                  "1 hour and 1 minute",
		2*time.Hour + 5*time.Minute:       "2 hours and 5 minutes",
	} {
		if got := inWords(d); got != want {
			t.Errorf("inWords(%v) = %q, want %q", d, got, want)
		}
	}
	for _, tc := range []struct {
		kind limitKind
		n    int64
		want string
	}{
		{limitReports, 1, "You have reported 1 issue in the last hour"},
		{limitComments, 1, "You have written 1 comment in"},
		{limitMeToo, 1, "You have said “me too” 1 time in"},
		{limitAnnouncements, 1, "You have posted 1 announcement in"},
		{limitStreams, 1, "You have 1 live page open"},
		{limitStreams, 16, "You have 16 live pages open"},
	} {
		if got := (&tooMany{kind: tc.kind, limit: tc.n, retryAfter: time.Second}).Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s over %d: %q, want it to start %q", tc.kind, tc.n, got, tc.want)
		}
	}
	if got := retrySeconds(1500 * time.Millisecond); got != 2 {
		t.Errorf("Retry-After for 1.5s: %d, want 2", got)
	}
}
