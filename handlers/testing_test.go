package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/cache"
)

// testServer is the whole HTTP layer over a real SQLite file.
type testServer struct {
	*httptest.Server
	store   *store.Store
	handler *Handler
	echo    *echo.Echo
	hub     *realtime.Hub
}

type testOptions struct {
	issues    int
	hostels   int
	days      int
	perAddr   RateLimit
	perAcct   RateLimit
	heartbeat time.Duration
	queueSize int
	cache     *cache.Cache // given a cache, commits advance it as the app's do
}

func newTestServer(t testing.TB, opts ...func(*testOptions)) *testServer {
	t.Helper()
	o := testOptions{issues: 60, hostels: 3, days: 30, perAddr: RateLimit{Every: time.Millisecond, Burst: 1000}, perAcct: RateLimit{Every: time.Millisecond, Burst: 1000}}
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	var follower *realtime.Follower
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "hostelhub.db"), store.Options{PasswordCost: bcrypt.MinCost, OnCommit: func(evs []store.Event) {
		for _, e := range evs {
			if o.cache != nil && e.Kind.ChangesDashboard() {
				o.cache.Advance(e.ID)
			}
		}
		follower.Wake(evs[len(evs)-1].ID)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Seed(ctx, store.SeedOptions{Hostels: o.hostels, Issues: o.issues, Days: o.days, Password: "demo", Seed: 7}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := realtime.NewHub(Fragments{Store: st}.Render, realtime.HubOptions{Logger: logger, QueueSize: o.queueSize})
	follower = realtime.NewFollower(EventSource{Store: st}, hub, nil, realtime.FollowerOptions{Logger: logger, OnMessage: func(m realtime.Message) {
		if o.cache != nil && store.EventKind(m.Kind).ChangesDashboard() {
			o.cache.Advance(m.ID)
		}
	}})
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { follower.Run(fctx); close(done) }()
	t.Cleanup(func() { hub.Close(); stop(); <-done })
	h := New(Options{
		Store: st, Logger: logger, SessionSecret: []byte("test secret test secret test secret"),
		Dashboard: o.cache, LoginPerAddress: o.perAddr, LoginPerAccount: o.perAcct, Hub: hub, Heartbeat: o.heartbeat,
	})
	e := h.Echo()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, store: st, handler: h, echo: e, hub: hub}
}

// client is one browser without JavaScript: a cookie jar, redirects not followed.
type client struct {
	t    testing.TB
	srv  *testServer
	http *http.Client
	csrf string
	hx   bool // send every request as htmx does (HX-Request, the CSRF header)
}

func (ts *testServer) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: ts, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

// login signs in as email with the demo password, failing the test if it cannot.
func (ts *testServer) login(t testing.TB, email string) *client {
	t.Helper()
	c := ts.client(t)
	res := c.postForm("/login", url.Values{"email": {email}, "password": {"demo"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: got %d, want 303", email, res.StatusCode)
	}
	return c
}

type response struct {
	*http.Response
	Body string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"|name="csrf-token" content="([^"]+)"`)

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	if c.hx {
		req.Header.Set("HX-Request", "true")
		if c.csrf != "" && req.Header.Get("X-CSRF-Token") == "" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1] + m[2]
	}
	return response{Response: res, Body: string(b)}
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.srv.URL+path, nil)
	return c.do(req)
}

// token fetches a page first when the client has no CSRF token yet.
func (c *client) token() string {
	if c.csrf == "" {
		c.get("/login")
	}
	return c.csrf
}

func (c *client) postForm(path string, v url.Values) response {
	c.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if !v.Has("_csrf") {
		v.Set("_csrf", c.token())
	}
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// htmx posts a form as htmx does: the CSRF token in a header, HX-Request set.
func (c *client) htmx(method, path string, v url.Values, target string) response {
	c.t.Helper()
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader(v.Encode())
	} else if v != nil {
		path += "?" + v.Encode()
	}
	req, _ := http.NewRequest(method, c.srv.URL+path, body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", target)
	req.Header.Set("X-CSRF-Token", c.token())
	return c.do(req)
}

func (c *client) json(method, path, body string) response {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-CSRF-Token", c.token())
	return c.do(req)
}

func (ts *testServer) user(t testing.TB, email string) *store.User {
	t.Helper()
	u, err := ts.store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// issueOf returns an issue of the hostel with the given status, filed by someone else than not.
func (ts *testServer) issueOf(t testing.TB, hostelID int64, status store.Status, notBy int64) *store.Issue {
	t.Helper()
	page, err := ts.store.Issues(context.Background(), store.IssueFilter{HostelIDs: []int64{hostelID}, Status: status, PerPage: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range page.Issues {
		if page.Issues[i].ReporterID != notBy {
			return &page.Issues[i]
		}
	}
	t.Fatalf("no %s issue in hostel %d", status, hostelID)
	return nil
}

func (ts *testServer) countRows(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := ts.store.DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantStatus(t testing.TB, res response, want int) {
	t.Helper()
	if res.StatusCode != want {
		body := res.Body
		if len(body) > 600 {
			body = body[:600]
		}
		t.Fatalf("%s %s: got %d, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, body)
	}
}

func wantContains(t testing.TB, res response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(res.Body, s) {
			t.Errorf("%s %s: body does not contain %q", res.Request.Method, res.Request.URL.Path, s)
		}
	}
}

// openStream opens an event stream, reads only its status, and hangs up.
func (c *client) openStream(path string) response {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+path, nil)
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return response{Response: res}
}
