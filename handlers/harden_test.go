package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/realtime"
)

func TestSecurityHeaders(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	for _, path := range []string{"/login", "/issues", "/static/app.css", "/api/issues", "/nowhere"} {
		res := c.Get(path)
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline or eval: %q", path, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", path, k, got, want)
			}
		}
	}
	// The page keeps htmx inside that policy: no eval, no injected styles.
	page := c.Get("/login").Body
	for _, want := range []string{`"allowEval":false`, `"includeIndicatorStyles":false`} {
		if !strings.Contains(strings.ReplaceAll(page, "&#34;", `"`), want) {
			t.Errorf("htmx-config lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, "<style") {
		t.Error("a page has inline script or style")
	}
}

func TestCookieFlagsOverTLS(t *testing.T) {
	ts := newTestServer(t)
	hub := realtime.NewHub(realtime.HubOptions{})
	defer hub.Close()
	h := New(Options{Store: ts.store, Hub: hub, Secure: true, SessionSecret: []byte("test secret test secret test secret")})
	srv := httptest.NewTLSServer(h.Echo())
	defer srv.Close()
	c := webtest.NewClient(t, srv.URL)
	hc := srv.Client() // trusts the test certificate
	hc.Jar, hc.CheckRedirect = c.HTTP.Jar, c.HTTP.CheckRedirect
	c.HTTP = hc
	res := c.Get("/login")
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") {
		t.Errorf("HSTS over TLS: %q", hsts)
	}
	res = c.PostForm("/login", url.Values{"email": {"warden1@demo.test"}, "password": {webtest.DemoPassword}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	var names []string
	for _, ck := range append(res.Cookies(), c.Get("/login").Cookies()...) {
		names = append(names, ck.Name)
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s over TLS: Secure %v HttpOnly %v SameSite %v", ck.Name, ck.Secure, ck.HttpOnly, ck.SameSite)
		}
	}
	if !slices.Contains(names, "hostelhub_session") {
		t.Errorf("no session cookie at sign-in: %v", names)
	}
}

// Unknown emails and wrong passwords take the same work: bcrypt runs for both.
func TestSignInTimingTellsNothing(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(t)
	failOnce := func(email string) time.Duration {
		start := time.Now()
		c.PostForm("/login", url.Values{"email": {email}, "password": {"not the password"}})
		return time.Since(start)
	}
	failOnce("student1@demo.test") // warm up
	// Interleaved, so that whatever else the machine does weighs on both.
	var knowns, unknowns []time.Duration
	for range 21 {
		knowns = append(knowns, failOnce("student1@demo.test"))
		unknowns = append(unknowns, failOnce("nobody-at-all@demo.test"))
	}
	median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
	known, unknown := median(knowns), median(unknowns)
	ratio := float64(unknown) / float64(known)
	t.Logf("harden: sign-in timing: median failure for a known account %v, unknown %v (ratio %.2f)", known, unknown, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Errorf("an unknown email answers in %v, a wrong password in %v: timing tells them apart", unknown, known)
	}
}

// Fifty writers at once on two cores: every report is acknowledged or
// refused cleanly, none meets "database is locked", and every
// acknowledged one is in the database.
func TestFiftyConcurrentWriters(t *testing.T) {
	ts := newTestServer(t)
	before := ts.countRows(t, "issues")
	const writers, each = 50, 6
	clients := make([]*webtest.Client, writers)
	for i := range clients {
		clients[i] = ts.login(t, fmt.Sprintf("resident%d.%d@demo.test", 1+i%3, 2+i%11))
	}
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				res := clients[i].JSON(http.MethodPost, "/api/issues", fmt.Sprintf(`{"title":"Writer %d report %d","category":"other"}`, i, j))
				if res.StatusCode == http.StatusCreated {
					acked.Add(1)
				} else {
					failed.Add(1)
					t.Errorf("writer %d: %d %s", i, res.StatusCode, res.Body)
				}
			}
		})
	}
	wg.Wait()
	if got := ts.countRows(t, "issues") - before; int64(got) != acked.Load() {
		t.Errorf("%d reports acknowledged, %d in the database", acked.Load(), got)
	}
	t.Logf("harden: SQLite: %d concurrent writers × %d reports: %d acknowledged, %d failed", writers, each, acked.Load(), failed.Load())
}
