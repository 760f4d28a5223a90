package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hostelhub/handlers"
	"hostelhub/handlers/webtest"
	"hostelhub/store"
	"hostelhub/store/redistest"
)

// withLimits sets LIMITS.
func withLimits(spec string) appOption {
	return func(t testing.TB, c *config) {
		l, err := handlers.ParseLimits(spec)
		if err != nil {
			t.Fatalf("LIMITS=%q: %v", spec, err)
		}
		c.Limits = l
	}
}

// withPatientLimits bounds the limits' Redis calls by a second, not 50 ms:
// for tests of sharing, where a machine busy with other tests must not
// turn a slow answer into a count in memory.
func withPatientLimits() appOption {
	return func(_ testing.TB, c *config) { c.limitsTimeout = time.Second }
}

// countRows is how many rows a table of the instance's database holds.
func (a *testApp) countRows(table string) int {
	a.t.Helper()
	var n int
	if err := a.store().DB().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *testApp) countIssues() int { return a.countRows("issues") }

// wantTooMany checks a limit's refusal: 429, Retry-After in whole seconds, the message.
func wantTooMany(t testing.TB, res webtest.Response, msg string) {
	t.Helper()
	webtest.WantStatus(t, res, http.StatusTooManyRequests)
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want whole seconds, at least 1", res.Header.Get("Retry-After"))
	}
	webtest.WantContains(t, res, msg)
}

// Two instances on one Redis: a student's reports on both spend one budget,
// and the form and the JSON API spend it alike.
func TestWriteLimitSharedAcrossInstances(t *testing.T) {
	a := newTestApp(t, withRedis(), withLimits("reports=3"), withPatientLimits())
	b := startApp(t, a.cfg)
	before := a.countIssues()
	onA := a.login("student1@demo.test")
	onB := onA.Beside(b.Base)
	report := func(c *webtest.Client, title string) webtest.Response {
		return c.PostForm("/issues", url.Values{"title": {title}, "category": {"water"}})
	}
	webtest.WantStatus(t, report(onA, "First on A"), http.StatusSeeOther)
	webtest.WantStatus(t, report(onB, "Second on B"), http.StatusSeeOther)
	webtest.WantStatus(t, onA.JSON(http.MethodPost, "/api/issues", `{"title":"Third on A, by script","category":"water"}`), http.StatusCreated)

	wantTooMany(t, report(onB, "Fourth on B"), "You have reported 3 issues in the last hour")
	wantTooMany(t, report(onA, "Fourth on A"), "You have reported 3 issues in the last hour")
	wantTooMany(t, onB.JSON(http.MethodPost, "/api/issues", `{"title":"Fourth by script","category":"water"}`), `{"error":"You have reported 3 issues`)
	if got := a.countIssues() - before; got != 3 {
		t.Errorf("%d issues written, want 3: the budget is not shared, or a refusal wrote", got)
	}
	// Another student's budget is their own.
	webtest.WantStatus(t, report(b.login("student2@demo.test"), "Someone else's"), http.StatusSeeOther)
}

// Redis dies under two instances: every report is answered at once, and
// each instance goes on counting in its own memory (from what it let
// through itself): a student's budget becomes one per instance, never none.
func TestWriteLimitWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestApp(t, withRedisURL(srv.URL()), withLimits("reports=2"))
	b := startApp(t, a.cfg)
	before := a.countIssues()
	onA := a.login("student1@demo.test")
	onB := onA.Beside(b.Base)
	report := func(c *webtest.Client, title string) (int, time.Duration) {
		start := time.Now()
		res := c.PostForm("/issues", url.Values{"title": {title}, "category": {"water"}})
		return res.StatusCode, time.Since(start)
	}
	if code, _ := report(onA, "Before the outage"); code != http.StatusSeeOther {
		t.Fatalf("a report with Redis up: %d", code)
	}

	srv.Kill()
	var codes []int
	var slowest time.Duration
	for i, c := range []*webtest.Client{onA, onA, onB, onB, onB} {
		code, took := report(c, fmt.Sprintf("During the outage %d", i))
		codes = append(codes, code)
		slowest = max(slowest, took)
	}
	// A let one through before: one more. B none: two more.
	if want := fmt.Sprint([]int{303, 429, 303, 303, 429}); fmt.Sprint(codes) != want {
		t.Errorf("reports with Redis down (A, A, B, B, B): %v, want %s", codes, want)
	}
	if slowest > time.Second {
		t.Errorf("a report with Redis down took %v", slowest)
	}
	if got := a.countIssues() - before; got != 4 {
		t.Errorf("%d issues written, want 4", got)
	}
	if a.metric("hostelhub_limits_redis_errors_total") == 0 {
		t.Error("no Redis error counted on A")
	}
	t.Logf("harden: limits with Redis killed under two instances: reports answered %v, slowest %v; each instance counted in its own memory", codes, slowest.Round(time.Millisecond))
}

// The issue's attack, 200 reports from one student as fast as the server
// answers: the first 30 (SPEC's default) are written, the rest are 429
// with Retry-After and write nothing.
func TestRapidReportsRefused(t *testing.T) {
	a := newTestApp(t)
	before := a.countIssues()
	student := a.login("student1@demo.test")
	token := student.CSRF()
	const n, workers = 200, 8
	var mu sync.Mutex
	codes := map[int]int{}
	noRetryAfter := 0
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				req, _ := http.NewRequest(http.MethodPost, a.Base+"/api/issues", strings.NewReader(fmt.Sprintf(`{"title":"Rapid report %d","category":"other"}`, i)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-CSRF-Token", token)
				res, err := student.HTTP.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				res.Body.Close()
				mu.Lock()
				codes[res.StatusCode]++
				if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
					noRetryAfter++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	written := a.countIssues() - before
	t.Logf("harden: limits: %d rapid reports from one student in %v: %d written, %d refused with 429 (%d without Retry-After), %d other; %d rows from the refused",
		n, took.Round(time.Millisecond), codes[http.StatusCreated], codes[http.StatusTooManyRequests], noRetryAfter,
		n-codes[http.StatusCreated]-codes[http.StatusTooManyRequests], written-codes[http.StatusCreated])
	if codes[http.StatusCreated] != 30 || codes[http.StatusTooManyRequests] != n-30 || noRetryAfter > 0 {
		t.Errorf("answers %v, want 30 × 201 and %d × 429, each with Retry-After", codes, n-30)
	}
	if written != 30 {
		t.Errorf("%d issues written, want 30", written)
	}
}

// LIMITS is read strictly: a mistake refuses to start, saying what is wrong.
func TestLimitsConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) (config, error) {
		env["DEMO"] = "1"
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		return parseConfig(fs, args, func(k string) string { return env[k] })
	}
	cfg, err := parse(map[string]string{})
	if err != nil || cfg.Limits != handlers.DefaultLimits() {
		t.Errorf("no LIMITS: %+v, %v; want the defaults", cfg.Limits, err)
	}
	cfg, err = parse(map[string]string{"LIMITS": "reports=5,streams=40"})
	if err != nil || cfg.Limits.Reports != 5 || cfg.Limits.Streams != 40 || cfg.Limits.Comments != 120 {
		t.Errorf("LIMITS=reports=5,streams=40: %+v, %v", cfg.Limits, err)
	}
	cfg, err = parse(map[string]string{"LIMITS": "reports=5"}, "-limits", "reports=7")
	if err != nil || cfg.Limits.Reports != 7 {
		t.Errorf("-limits beats LIMITS: %+v, %v", cfg.Limits, err)
	}
	for spec, want := range map[string]string{
		"report=5":    `LIMITS: unknown kind "report"; the kinds are reports, comments, metoo, announcements, streams`,
		"streams=0":   "LIMITS: streams=0: the number must be a whole number from 1 to 1000000",
		"streams=ten": "LIMITS: streams=ten: the number must be a whole number",
	} {
		if _, err := parse(map[string]string{"LIMITS": spec}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LIMITS=%s: %v, want an error saying %q", spec, err, want)
		}
	}
	// And hostelhub does not start.
	var stderr strings.Builder
	err = run(t.Context(), []string{"-limits", "report=5"}, func(k string) string { return map[string]string{"DEMO": "1"}[k] }, nil, new(strings.Builder), &stderr)
	if err == nil || !strings.Contains(err.Error(), `unknown kind "report"`) {
		t.Errorf("run with a bad LIMITS: %v, want the error", err)
	}
}

// In a browser, a refused htmx form shows its message as a toast in the
// aria-live #toasts, and the row it aimed at stays as it was.
func TestBrowserLimitRefusalIsAToast(t *testing.T) {
	a, b := startWithBrowser(t, withLimits("metoo=1"))
	var ids []int64
	for i := range 2 {
		id, err := a.store().CreateIssue(t.Context(), store.NewIssue{HostelID: 1, ReporterID: a.user("warden1@demo.test").ID,
			Title: fmt.Sprintf("Corridor light %d out", i), Category: "electrical", Priority: store.Normal})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	s := b.newTab("student1")
	s.signIn("student1@demo.test", "demo")
	metoo := func(id int64) (row string, marker string) {
		s.openOK(fmt.Sprintf("/issues/%d", id))
		s.waitFor("htmx to load", `typeof htmx === "object"`)
		row = fmt.Sprintf("issue-%d", id)
		marker = s.setMarker()
		s.tagNode(row)
		s.click("#" + row + " form.metoo-form button")
		return row, marker
	}
	row, _ := metoo(ids[0])
	s.waitFor("the row swapped in", swapped(row))

	before := a.countRows("metoos")
	row, marker := metoo(ids[1])
	s.waitFor("the refusal as a toast", `Array.from(document.querySelectorAll("#toasts .toast")).some(e => e.textContent.includes("me too"))`)
	s.sameDocument(marker, "the refused me too")
	if got := s.text("#toasts"); !strings.Contains(got, "You have said “me too” 1 time in the last hour, the most one person may. Try again in ") {
		t.Errorf("the toast says %q", got)
	}
	if evalJS[bool](s, swapped(row)) {
		t.Error("the refusal replaced the row")
	}
	if got := a.countRows("metoos"); got != before {
		t.Errorf("me-toos: %d after the refusal, want %d", got, before)
	}
}

// A user may hold so many live streams at once across instances; one more
// answers 429 with Retry-After, and a stream that ends (here, a page left:
// the connection closed) gives its place back.
func TestStreamLimitSharedAcrossInstances(t *testing.T) {
	a := newTestApp(t, withRedis(), withLimits("streams=3"), withPatientLimits())
	b := startApp(t, a.cfg)
	warden := a.login("warden1@demo.test")
	var open []*webtest.Stream
	for _, c := range []*webtest.Client{warden, warden.Beside(b.Base), warden} {
		open = append(open, c.Stream("/hostels/1/events", webtest.NoLastEventID))
	}
	wantTooMany(t, warden.Beside(b.Base).OpenStream("/events"), "live pages")
	if res := a.login("warden2@demo.test").OpenStream("/hostels/2/events"); res.StatusCode != http.StatusOK {
		t.Fatalf("another warden's stream: %d", res.StatusCode)
	}
	open[0].Close()
	waitUntil(t, 3*time.Second, "a closed stream's place given back", func() bool {
		res := warden.Beside(b.Base).OpenStream("/events")
		return res.StatusCode == http.StatusOK
	})
}
