package main

// Real-browser tests of the live updates: what one user does reaches the
// others' open pages without a reload, a page whose stream is cut catches
// up exactly once, announcements reach their hostel only, and one user can
// keep more than six pages open (HTTP/2, or hidden tabs giving their stream
// back over HTTP/1.1). Each test starts its own app with demo data and its
// own Chromium; see browser_helpers_test.go for the tab helpers.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"hostelhub/store"
)

// liveRecorder runs in every document of a tab that records (liveTab),
// before the page's own scripts. It keeps, with the time (Date.now(), the
// machine's clock, as Go's time.Now):
//   - seen: when each element with an id first appeared after the page
//     loaded (rows, announcements, history lines);
//   - toasts: every toast added to the page, even one that has faded since;
//   - messages: every message the stream handed to htmx, before app.js
//     drops a duplicate row, so a message the server sent twice shows;
//   - states: the data-state values #live went through.
const liveRecorder = `(function () {
	var rec = window.__live = {seen: {}, toasts: [], messages: [], states: []};
	document.addEventListener("htmx:sseBeforeMessage", function (e) {
		rec.messages.push({type: e.detail.type, id: String(e.detail.lastEventId), at: Date.now()});
	});
	document.addEventListener("DOMContentLoaded", function () {
		var live = document.getElementById("live");
		if (live) {
			rec.states.push(live.dataset.state);
			new MutationObserver(function () { rec.states.push(live.dataset.state); })
				.observe(live, {attributes: true, attributeFilter: ["data-state"]});
		}
		new MutationObserver(function (ms) {
			var now = Date.now();
			ms.forEach(function (m) {
				m.addedNodes.forEach(function (n) {
					if (n.nodeType !== 1) return;
					if (n.classList.contains("toast")) rec.toasts.push({text: n.textContent.trim(), at: now});
					[n].concat(Array.from(n.querySelectorAll("[id]"))).forEach(function (el) {
						if (el.id && !(el.id in rec.seen)) rec.seen[el.id] = now;
					});
				});
			});
		}).observe(document.body, {childList: true, subtree: true});
	});
})();`

// liveTab opens a tab in a new browser context (a user of their own) that
// records what its pages' streams do.
func liveTab(b *browser, name string) *tab {
	b.t.Helper()
	tb := b.newTab(name)
	tb.recordLive()
	return tb
}

// liveTabBeside opens another recording tab of the same user as of.
func liveTabBeside(b *browser, of *tab, name string) *tab {
	b.t.Helper()
	tb := b.newTabBeside(of, name)
	tb.recordLive()
	return tb
}

func (tb *tab) recordLive() {
	tb.t.Helper()
	tb.do("add the live recorder", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: liveRecorder})
		return err
	}))
}

// openAt loads an absolute URL (another origin than the browser's base,
// e.g. through the cutter) and insists on a 200.
func (tb *tab) openAt(u string) {
	tb.t.Helper()
	res := tb.navigation("open "+u, chromedp.Navigate(u))
	if res == nil || res.Status != 200 {
		tb.t.Fatalf("%s: open %s: got %s, want 200", tb.name, u, resStatus(res))
	}
}

// inParallel runs f for every tab at once, one goroutine per tab (tabs may
// be driven in parallel, each by one goroutine), and fails the test with
// every error once all are done. f must not call t.Fatal: it returns errors.
func inParallel(t *testing.T, tabs []*tab, what string, f func(tb *tab) error) {
	t.Helper()
	errs := make([]error, len(tabs))
	var wg sync.WaitGroup
	for i, tb := range tabs {
		wg.Go(func() { errs[i] = f(tb) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %s: %v", tabs[i].name, what, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// goTo loads path in the tab and wants a 200, within one step's time.
func goTo(path string) func(*tab) error {
	return func(tb *tab) error {
		ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
		defer cancel()
		res, err := chromedp.RunResponse(ctx, chromedp.Navigate(tb.b.base+path))
		if err == nil && (res == nil || res.Status != 200) {
			err = fmt.Errorf("open %s: got %s, want 200", path, resStatus(res))
		}
		return err
	}
}

// signInAs signs in through the form (its fields filled without key
// events, to save time) and wants to land on home: a page the test then
// keeps, since a page with a stream that is left keeps its stream open in
// Chrome's back/forward cache (see the skipped test at the end).
func signInAs(email, home string) func(*tab) error {
	return func(tb *tab) error {
		if err := goTo("/login")(tb); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
		defer cancel()
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#email"), email, chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS("#password"), "demo", chromedp.NodeVisible),
		); err != nil {
			return err
		}
		res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`), chromedp.NodeVisible))
		if err != nil {
			return err
		}
		path, err := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname"))
		if err == nil && (res == nil || res.Status != 200 || path != home) {
			err = fmt.Errorf("sign in as %s: landed on %s (%s), want 200 on %s", email, path, resStatus(res), home)
		}
		return err
	}
}

// waitAllLive waits until every tab's #live says live.
func waitAllLive(t *testing.T, tabs ...*tab) {
	t.Helper()
	for _, tb := range tabs {
		tb.waitLiveState("live")
	}
}

const liveStateJS = `((document.getElementById("live") || {dataset: {}}).dataset.state || "")`

// liveState is #live's data-state: connecting, live, reconnecting or paused.
func (tb *tab) liveState() string {
	tb.t.Helper()
	return evalJS[string](tb, liveStateJS)
}

func (tb *tab) waitLiveState(state string) {
	tb.t.Helper()
	tb.waitFor(`#live data-state="`+state+`"`, liveStateJS+" === "+jsString(state))
}

// copies is how many elements on the page have this id: 1 is once, 2 a duplicate.
func (tb *tab) copies(id string) int {
	tb.t.Helper()
	return tb.count(`[id="` + id + `"]`)
}

// seenAt is when the element with this id first appeared on the page.
func (tb *tab) seenAt(id string) time.Time {
	tb.t.Helper()
	ms := evalJS[int64](tb, `(window.__live && window.__live.seen[`+jsString(id)+`]) || 0`)
	if ms == 0 {
		tb.t.Fatalf("%s: #%s was never added to the page (or was there from the start)", tb.name, id)
	}
	return time.UnixMilli(ms)
}

type liveToast struct {
	Text string
	At   int64
}

// toasts lists the toasts added to the page whose text contains s.
func (tb *tab) toasts(s string) []liveToast {
	tb.t.Helper()
	return evalJS[[]liveToast](tb, `(window.__live ? window.__live.toasts : []).filter(t => t.text.includes(`+jsString(s)+`)).map(t => ({Text: t.text, At: t.at}))`)
}

// waitToast waits for a toast containing s.
func (tb *tab) waitToast(s string) liveToast {
	tb.t.Helper()
	tb.waitFor("a toast saying "+strconv.Quote(s), `window.__live && window.__live.toasts.some(t => t.text.includes(`+jsString(s)+`))`)
	return tb.toasts(s)[0]
}

// messages is how many stream messages of this type (and event id, unless
// empty) the page was handed.
func (tb *tab) messages(typ, id string) int {
	tb.t.Helper()
	return evalJS[int](tb, `(window.__live ? window.__live.messages : []).filter(m => m.type === `+jsString(typ)+
		` && (`+jsString(id)+` === "" || m.id === `+jsString(id)+`)).length`)
}

// lastMessageID is the event id of the newest message of this type the page was handed.
func (tb *tab) lastMessageID(typ string) string {
	tb.t.Helper()
	return evalJS[string](tb, `(() => { const ms = (window.__live ? window.__live.messages : []).filter(m => m.type === `+jsString(typ)+`);
		return ms.length ? ms[ms.length - 1].id : ""; })()`)
}

func (tb *tab) liveStates() []string {
	tb.t.Helper()
	return evalJS[[]string](tb, `window.__live ? window.__live.states : []`)
}

// setHidden makes the page believe it was hidden or shown, as switching
// tabs does: headless tabs are always visible, so document.hidden and
// document.visibilityState are overridden and visibilitychange dispatched.
func (tb *tab) setHidden(hidden bool) {
	tb.t.Helper()
	state := "visible"
	if hidden {
		state = "hidden"
	}
	evalJS[bool](tb, `(() => {
		Object.defineProperty(document, "hidden", {configurable: true, get: () => `+strconv.FormatBool(hidden)+`});
		Object.defineProperty(document, "visibilityState", {configurable: true, get: () => `+jsString(state)+`});
		document.dispatchEvent(new Event("visibilitychange"));
		return true;
	})()`)
}

// nextHop is the protocol the page's document came over ("h2", "http/1.1").
func (tb *tab) nextHop() string {
	tb.t.Helper()
	return evalJS[string](tb, `performance.getEntriesByType("navigation")[0].nextHopProtocol`)
}

// startAppOn serves hostelhub with cfg on ln, as startApp does, and returns
// its URL (https when cfg has a certificate) and a func that stops it as a
// deployment stops it: cancel, wait for Serve to return (its streams ended
// cleanly), release the app. The test's end stops it if it still runs.
func startAppOn(t *testing.T, cfg config, ln net.Listener) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, discardLogger(), io.Discard)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
				a.Close()
			case <-time.After(cfg.ShutdownGrace + 5*time.Second):
				t.Errorf("the server did not stop within its grace period and 5 s")
			}
		})
	}
	t.Cleanup(stop)
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String(), stop
}

// listenOn listens on addr again, once the server that had it has let go.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reportAs files an issue through the form with a plain HTTP client signed
// in as a student (no browser), and returns its id.
func reportAs(t *testing.T, c *http.Client, base, title string) int64 {
	t.Helper()
	res := postForm(t, c, base, "/issues", url.Values{"title": {title}, "category": {"water"}, "priority": {"high"}, "location": {"Block B"}})
	m := regexp.MustCompile(`^/issues/(\d+)$`).FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("report %q: got %d to %q, want 303 to /issues/{id}", title, res.StatusCode, res.Header.Get("Location"))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

func issueID(id int64) string { return "issue-" + strconv.FormatInt(id, 10) }

// TestBrowserLiveIssueFlow: a student reports an issue through the form and
// the warden's open list shows the row and a toast within 2 s, without a
// reload; the warden moves it on with a note, and the student's list and
// the student's open issue page show the new status (and the page the
// note) without a reload. Each page gets the row rendered for its viewer.
func TestBrowserLiveIssueFlow(t *testing.T) {
	b := startWithBrowser(t, testConfig(t, true))

	// Both sign in through the form and land on their open list.
	warden := liveTab(b, "warden1-list")
	studentList := liveTab(b, "student1-list")
	email := map[*tab]string{warden: "warden1@demo.test", studentList: "student1@demo.test"}
	inParallel(t, []*tab{warden, studentList}, "sign in", func(tb *tab) error { return signInAs(email[tb], "/issues")(tb) })
	student := liveTabBeside(b, studentList, "student1-report")
	waitAllLive(t, warden, studentList)
	wardenMark, listMark := warden.setMarker(), studentList.setMarker()

	// The student reports through the form.
	title := "Window latch broken " + uniqueWord()
	student.openOK("/issues/new")
	student.typeInto("#title", title)
	student.choose("#category", "furniture")
	student.choose("#priority", "high")
	student.typeInto("#location", "Room 118")
	submitted := time.Now()
	res := student.submitBy(`form[action="/issues"] button[type="submit"]`)
	m := regexp.MustCompile(`^/issues/(\d+)$`).FindStringSubmatch(student.path())
	if res.Status != 200 || m == nil {
		t.Fatalf("report: landed on %s (%s), want /issues/{id}", student.path(), resStatus(res))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	rowID := issueID(id)
	row := "#" + rowID

	// The warden's open list: the row and a toast, no reload, within 2 s.
	warden.waitFor("the new row on the warden's list", `!!document.querySelector("#issue-list > `+row+`")`)
	toast := warden.waitToast("New issue: " + title)
	warden.sameDocument(wardenMark, "the new issue")
	rowIn, toastIn := warden.seenAt(rowID).Sub(submitted), time.UnixMilli(toast.At).Sub(submitted)
	t.Logf("submit → warden's row %v, toast %v", rowIn.Round(time.Millisecond), toastIn.Round(time.Millisecond))
	if rowIn > 2*time.Second || toastIn > 2*time.Second {
		t.Errorf("the warden saw the row %v and the toast %v after the submit, want both within 2 s", rowIn, toastIn)
	}
	if n := warden.copies(rowID); n != 1 {
		t.Errorf("the warden's list has %d copies of %s, want 1", n, row)
	}
	if first := evalJS[string](warden, `document.querySelector("#issue-list > article.issue").id`); first != rowID {
		t.Errorf("the warden's list starts with %s, want the new %s on top", first, rowID)
	}
	if got := warden.rowStatus(id); got != "open" {
		t.Errorf("the warden's new row: data-status %q, want open", got)
	}
	if warden.count(row+" form.status-form") != 1 || warden.count(row+" form.metoo-form") != 0 {
		t.Errorf("the warden's streamed row should carry the status form and no \"me too\": %s", evalJS[string](warden, `document.querySelector("`+row+`").outerHTML`))
	}
	if got := warden.text(row + " .issue-title"); got != title {
		t.Errorf("the warden's row is titled %q, want %q", got, title)
	}

	// The student's own list got the row too, rendered for a student.
	studentList.waitFor("the new row on the student's list", `!!document.getElementById(`+jsString(rowID)+`)`)
	if studentList.count(row+" form.status-form") != 0 || studentList.count(row+" form.metoo-form") != 1 {
		t.Errorf("the student's streamed row should carry \"me too\" and no status form: %s", evalJS[string](studentList, `document.querySelector("`+row+`").outerHTML`))
	}

	// The student's issue page (where the report landed) is live too.
	issuePage := student
	issuePage.waitLiveState("live")
	pageMark := issuePage.setMarker()
	history := fmt.Sprintf("#history-%d", id)
	notesBefore := issuePage.count(history + " li.note")

	// The warden moves it on from the row's form, with a note.
	note := "Carpenter booked for 4 pm " + uniqueWord()
	warden.tagNode(rowID)
	warden.choose(fmt.Sprintf("#status-%d", id), "in_progress")
	warden.typeInto(fmt.Sprintf("#note-%d", id), note)
	changed := time.Now()
	warden.click(row + ` form.status-form button[type="submit"]`)
	warden.waitFor("the warden's row in progress", swapped(rowID)+` && document.getElementById(`+jsString(rowID)+`).dataset.status === "in_progress"`)

	inProgress := `document.getElementById(` + jsString(rowID) + `) && document.getElementById(` + jsString(rowID) + `).dataset.status === "in_progress"`
	studentList.waitFor("the student's list to show in progress", inProgress)
	listIn := time.Since(changed)
	issuePage.waitFor("the student's issue page to show in progress and the note",
		inProgress+` && document.querySelector(`+jsString(history)+`).textContent.includes(`+jsString(note)+`)`)
	pageIn := time.Since(changed)
	t.Logf("warden's change → student's list %v, issue page %v (upper bounds, polled)", listIn.Round(time.Millisecond), pageIn.Round(time.Millisecond))

	studentList.sameDocument(listMark, "the status change")
	issuePage.sameDocument(pageMark, "the status change")
	for _, tb := range []*tab{studentList, issuePage} {
		if n := tb.copies(rowID); n != 1 {
			t.Errorf("%s: %d copies of %s after the change, want 1", tb.name, n, row)
		}
		if tb.count(row+" form.status-form") != 0 {
			t.Errorf("%s: the student's updated row carries the warden's status form", tb.name)
		}
		if got := tb.text(row + " .badge.status-in_progress"); got != "In progress" {
			t.Errorf("%s: the row's status badge says %q, want \"In progress\"", tb.name, got)
		}
	}
	if n := issuePage.count(history + " li.note"); n != notesBefore+1 {
		t.Errorf("the issue page's history has %d lines, want %d (one more, once)", n, notesBefore+1)
	}
	last := issuePage.text(history + " li.note:last-child")
	if !strings.Contains(last, "moved it from") || !strings.Contains(last, "In progress") || !strings.Contains(last, note) {
		t.Errorf("the history's new line says %q, want the warden's move with the note %q", last, note)
	}
	if n := studentList.count(history); n != 0 {
		t.Errorf("the student's list grew a history (%d): a fragment for the issue page landed on the list", n)
	}
	studentList.waitToast(title + ": now in progress")
}

// cutter is a TCP proxy between the browser and the app that can drop
// every connection through it at once (a reset, as a network drop) and
// refuse new ones until told otherwise, while the server runs on.
type cutter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) url() string { return "http://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go c.relay(conn)
	}
}

func (c *cutter) relay(client net.Conn) {
	defer c.wg.Done()
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
	if down {
		reset(client)
		return
	}
	server, err := net.DialTimeout("tcp", c.target, 2*time.Second)
	if err != nil {
		reset(client)
		return
	}
	c.mu.Lock()
	if c.down || c.conns == nil {
		c.mu.Unlock()
		reset(client)
		server.Close()
		return
	}
	c.conns[client], c.conns[server] = true, true
	c.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, client); done <- struct{}{} }()
	go func() { io.Copy(client, server); done <- struct{}{} }()
	<-done
	c.mu.Lock()
	delete(c.conns, client)
	delete(c.conns, server)
	c.mu.Unlock()
	client.Close()
	server.Close()
	<-done
}

// reset closes a connection with a TCP reset, as a dropped network shows itself.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cut drops every connection through the cutter and refuses new ones until up.
func (c *cutter) cut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	n := 0
	for conn := range c.conns {
		reset(conn)
		n++
	}
	return n / 2
}

func (c *cutter) up() {
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
}

func (c *cutter) close() {
	c.ln.Close()
	c.mu.Lock()
	for conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
	c.mu.Unlock()
	c.wg.Wait()
}

// TestBrowserLiveCatchesUpAfterADropAndARestart: a warden's page whose
// stream is cut shows "reconnecting", then catches up with what it missed,
// exactly once and without a reload, and goes back to "live": first after a
// dropped connection with the server running on (a proxy cuts it), then
// across a restart of the server on the same address and database.
func TestBrowserLiveCatchesUpAfterADropAndARestart(t *testing.T) {
	chromiumPath(t)
	cfg := testConfig(t, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	base, stop := startAppOn(t, cfg, ln)
	link := startCutter(t, addr)
	b := newBrowser(t, base)

	// Two tabs of the warden: one straight to the server, one through a link the test can cut.
	direct := liveTab(b, "warden1-direct")
	if home := direct.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	linked := liveTabBeside(b, direct, "warden1-through-the-cutter")
	linked.openAt(link.url() + "/issues")
	direct.waitLiveState("live")
	linked.waitLiveState("live")
	directMark, linkedMark := direct.setMarker(), linked.setMarker()

	student := newClient()
	signIn(t, student, base, "student1@demo.test", "demo")

	// 1. The network drops under one page; the server runs on.
	cutAt := time.Now()
	t.Logf("the cutter reset %d connections (the stream's, and idle ones)", link.cut())
	linked.waitLiveState("reconnecting")
	dropped := reportAs(t, student, base, "Geyser tripped during the drop "+uniqueWord())
	direct.waitFor("the issue on the page that kept its stream", `!!document.getElementById(`+jsString(issueID(dropped))+`)`)
	if n := linked.copies(issueID(dropped)); n != 0 || linked.liveState() != "reconnecting" {
		t.Fatalf("the cut page has %d copies of the issue and says %q while its link is down; want 0 and reconnecting", n, linked.liveState())
	}
	link.up()
	linked.waitLiveState("live")
	linked.waitFor("the missed issue after the reconnect", `!!document.getElementById(`+jsString(issueID(dropped))+`)`)
	t.Logf("drop: cut → reconnecting → live with the missed issue in %v", time.Since(cutAt).Round(time.Millisecond))
	if n := linked.copies(issueID(dropped)); n != 1 {
		t.Errorf("after the drop the page shows the missed issue %d times, want once", n)
	}
	linked.sameDocument(linkedMark, "the reconnect after a drop")

	// 2. The server restarts on the same address and database.
	stopAt := time.Now()
	stop()
	t.Logf("the server stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	direct.waitLiveState("reconnecting")
	linked.waitLiveState("reconnecting")

	// An issue reported while the server is down, straight into its database.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(ctx, "student1@demo.test")
	if err != nil {
		t.Fatal(err)
	}
	gap, err := st.CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: u.ID, Title: "Power cut while the server was down " + uniqueWord(),
		Category: "electrical", Priority: store.Urgent, Location: "Block A"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tb := range []*tab{direct, linked} {
		if s := tb.liveState(); s != "reconnecting" {
			t.Errorf("%s: #live says %q while the server is down, want reconnecting", tb.name, s)
		}
	}

	startAppOn(t, cfg, listenOn(t, addr))
	restartedAt := time.Now()
	// And one through the new server, most likely before the pages reconnect.
	student = newClient()
	signIn(t, student, base, "student1@demo.test", "demo")
	after := reportAs(t, student, base, "Lift stuck after the restart "+uniqueWord())
	t.Logf("reported %d through the new server while the pages said %q and %q", after, direct.liveState(), linked.liveState())

	for _, tb := range []*tab{direct, linked} {
		tb.waitLiveState("live")
		tb.waitFor("the issues reported across the restart", `!!document.getElementById(`+jsString(issueID(gap))+`) && !!document.getElementById(`+jsString(issueID(after))+`)`)
	}
	t.Logf("restart: new server up → both pages live with both issues in %v (stopped → up: %v)",
		time.Since(restartedAt).Round(time.Millisecond), restartedAt.Sub(stopAt).Round(time.Millisecond))
	direct.sameDocument(directMark, "the reconnect after a restart")
	linked.sameDocument(linkedMark, "the reconnect after a restart")
	for _, tb := range []*tab{direct, linked} {
		for _, id := range []int64{dropped, gap, after} {
			if n := tb.copies(issueID(id)); n != 1 {
				t.Errorf("%s: issue %d shows %d times, want once", tb.name, id, n)
			}
		}
		// Once by the server too, not only once on the page thanks to app.js.
		if n := tb.messages("new_issue", ""); n != 3 {
			t.Errorf("%s: the stream handed the page %d new_issue messages, want 3 (one per issue)", tb.name, n)
		}
		if ids := tb.rowIDs("article.issue"); len(ids) < 3 || ids[0] != after || ids[1] != gap || ids[2] != dropped {
			t.Errorf("%s: the list starts %v, want the newest first: %d, %d, %d", tb.name, ids[:min(3, len(ids))], after, gap, dropped)
		}
		t.Logf("%s: #live went %v", tb.name, tb.liveStates())
	}
}

// TestBrowserLiveAnnouncementsReachTheirHostelOnly: management posts an
// announcement to hostel 1 through the form; a hostel-1 student sees it
// arrive on /announcements and as a toast on /issues, without a reload; a
// hostel-2 student's pages never get it (watched for a second after hostel
// 1 had it), though their streams work: hostel 2's own announcement, posted
// next, reaches them.
func TestBrowserLiveAnnouncementsReachTheirHostelOnly(t *testing.T) {
	b := startWithBrowser(t, testConfig(t, true))

	// Each student signs in on /issues and opens /announcements beside it.
	s1iss, s2iss, admin := liveTab(b, "student1-issues"), liveTab(b, "student2-issues"), b.newTab("admin")
	signIns := map[*tab][2]string{s1iss: {"student1@demo.test", "/issues"}, s2iss: {"student2@demo.test", "/issues"}, admin: {"admin@demo.test", "/dashboard"}}
	inParallel(t, []*tab{s1iss, s2iss, admin}, "sign in", func(tb *tab) error { return signInAs(signIns[tb][0], signIns[tb][1])(tb) })
	s1ann, s2ann := liveTabBeside(b, s1iss, "student1-announcements"), liveTabBeside(b, s2iss, "student2-announcements")
	inParallel(t, []*tab{s1ann, s2ann, admin}, "open /announcements", goTo("/announcements"))
	waitAllLive(t, s1iss, s2iss, s1ann, s2ann)
	marks := map[*tab]string{}
	for _, tb := range []*tab{s1iss, s2iss, s1ann, s2ann} {
		marks[tb] = tb.setMarker()
	}

	// Management posts through the form; a plain POST lands back on /announcements.
	post := func(hostel, title string) time.Time {
		t.Helper()
		admin.click("details.compose summary")
		admin.choose("#hostel_id", hostel)
		admin.do("fill in the announcement", chromedp.SetValue(chromedp.CSS("#title"), title, chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS("#body"), "Posted by "+t.Name(), chromedp.NodeVisible))
		posted := time.Now()
		if res := admin.submitBy(`form[action="/announcements"] button[type="submit"]`); res.Status != 200 || admin.path() != "/announcements" {
			t.Fatalf("post an announcement: landed on %s (%s)", admin.path(), resStatus(res))
		}
		return posted
	}
	onList := func(title string) string {
		return `Array.from(document.querySelectorAll("#announcement-list > article.announcement h2")).some(h => h.textContent.trim() === ` + jsString(title) + `)`
	}

	// Hostel 1's announcement reaches hostel 1.
	title1 := "Water off on Sunday " + uniqueWord()
	posted := post("1", title1)
	s1ann.waitFor("the announcement on hostel 1's list", onList(title1))
	s1iss.waitToast("Announcement: " + title1)
	arrived := time.Now()
	t.Logf("post → hostel 1's pages (list and toast) in %v (upper bound, polled)", arrived.Sub(posted).Round(time.Millisecond))
	if first := s1ann.text("#announcement-list > article.announcement:first-child h2"); first != title1 {
		t.Errorf("hostel 1's list starts with %q, want the new announcement on top", first)
	}
	if n := s1ann.messages("announcement", ""); n != 1 {
		t.Errorf("hostel 1's announcements page was handed %d announcement messages, want 1", n)
	}
	if n := evalJS[int](s1ann, `Array.from(document.querySelectorAll("#announcement-list h2")).filter(h => h.textContent.trim() === `+jsString(title1)+`).length`); n != 1 {
		t.Errorf("hostel 1's list shows the announcement %d times, want once", n)
	}
	eventID := s1ann.lastMessageID("announcement")

	// Hostel 2 never gets it: watch its pages for a second after hostel 1 had it.
	leaked := func() string {
		if s2ann.messages("announcement", eventID) > 0 || s2iss.messages("toast", eventID) > 0 || s2ann.messages("toast", eventID) > 0 {
			return fmt.Sprintf("hostel 2's stream was handed event %s", eventID)
		}
		if evalJS[bool](s2ann, onList(title1)) {
			return "hostel 2's announcements list shows it"
		}
		if n := len(s2iss.toasts(title1)) + len(s2ann.toasts(title1)); n > 0 {
			return fmt.Sprintf("hostel 2's pages showed %d toasts of it", n)
		}
		return ""
	}
	for watch := arrived.Add(time.Second); time.Now().Before(watch); time.Sleep(100 * time.Millisecond) {
		if why := leaked(); why != "" {
			t.Fatalf("hostel 1's announcement reached hostel 2: %s", why)
		}
	}

	// Hostel 2's streams do work: its own announcement, posted next, arrives.
	// Events reach a stream in order, so hostel 1's would have come first.
	title2 := "Hostel 2 mess timings " + uniqueWord()
	post("2", title2)
	s2ann.waitFor("hostel 2's own announcement", onList(title2))
	s2iss.waitToast("Announcement: " + title2)
	if why := leaked(); why != "" {
		t.Errorf("hostel 1's announcement reached hostel 2: %s", why)
	}
	if s2ann.messages("announcement", "") != 1 {
		t.Errorf("hostel 2's announcements page was handed %d announcement messages, want 1 (its own)", s2ann.messages("announcement", ""))
	}
	// And the other way round: hostel 2's never reaches hostel 1.
	if evalJS[bool](s1ann, onList(title2)) || len(s1iss.toasts(title2)) > 0 {
		t.Errorf("hostel 2's announcement reached hostel 1's pages")
	}
	for tb, m := range marks {
		tb.sameDocument(m, "the announcements")
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to files,
// and returns them with a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestBrowserLiveEightTabsOverHTTP2: over HTTPS the app speaks HTTP/2, so
// one user's eight tabs (one browser context: one cookie jar, one
// connection pool) all load and all hold a live stream at once, where
// HTTP/1.1 allows six connections; a report then reaches all eight.
func TestBrowserLiveEightTabsOverHTTP2(t *testing.T) {
	chromiumPath(t)
	cfg := testConfig(t, true)
	certFile, keyFile, pool := selfSignedCert(t)
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startAppOn(t, cfg, ln)
	b := newBrowserWith(t, base, chromedp.IgnoreCertErrors)

	first := liveTab(b, "warden1-tab1")
	if home := first.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	tabs := []*tab{first}
	for i := 2; i <= 8; i++ {
		tabs = append(tabs, liveTabBeside(b, first, fmt.Sprintf("warden1-tab%d", i)))
	}
	began := time.Now()
	inParallel(t, tabs[1:], "open /issues", goTo("/issues"))
	for _, tb := range tabs {
		tb.waitLiveState("live")
		if p := tb.nextHop(); p != "h2" {
			t.Errorf("%s: the page came over %q, want h2", tb.name, p)
		}
	}
	t.Logf("7 more tabs loaded, and all 8 live over HTTP/2, in %v", time.Since(began).Round(time.Millisecond))

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer transport.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	student := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn(t, student, base, "student1@demo.test", "demo")
	reported := time.Now()
	id := reportAs(t, student, base, "Corridor light flickers "+uniqueWord())
	var slowest time.Duration
	for _, tb := range tabs {
		tb.waitFor("the report on every tab", `!!document.getElementById(`+jsString(issueID(id))+`)`)
		slowest = max(slowest, tb.seenAt(issueID(id)).Sub(reported))
		if n := tb.copies(issueID(id)); n != 1 {
			t.Errorf("%s: the report shows %d times, want once", tb.name, n)
		}
		if s := tb.liveState(); s != "live" {
			t.Errorf("%s: #live says %q, want live", tb.name, s)
		}
	}
	t.Logf("report → all 8 tabs within %v", slowest.Round(time.Millisecond))
}

// TestBrowserLiveHiddenTabsGiveBackTheirConnection: over HTTP/1.1 a browser
// opens six connections per origin, and each page with a stream holds one.
// Seven pages of one user are six streams and a page that cannot load; the
// hidden ones give their stream back five seconds after being hidden
// (app.js), so the waiting page loads and goes live, and so does an eighth.
// Shown again, a hidden page reconnects, replays what it missed and shows
// it once.
func TestBrowserLiveHiddenTabsGiveBackTheirConnection(t *testing.T) {
	b := startWithBrowser(t, testConfig(t, true))

	// The eighth tab opens the user's browser context and waits, blank.
	eighth := liveTab(b, "warden1-tab8")
	var tabs []*tab
	for i := 1; i <= 7; i++ {
		tabs = append(tabs, liveTabBeside(b, eighth, fmt.Sprintf("warden1-tab%d", i)))
	}
	six, seventh := tabs[:6], tabs[6]

	// Six pages of the list: six streams, one connection each.
	if home := six[0].signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	inParallel(t, six[1:], "open /issues", goTo("/issues"))
	waitAllLive(t, six...)
	if p := six[0].nextHop(); p != "http/1.1" {
		t.Fatalf("the page came over %q: this test is about HTTP/1.1", p)
	}

	// The seventh page cannot load while six streams hold the connections.
	// The six are hidden at once; watch the seventh until just before app.js
	// releases their streams (5 s after hiding), then see it load.
	loaded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(seventh.ctx, 20*time.Second)
		defer cancel()
		res, err := chromedp.RunResponse(ctx, chromedp.Navigate(b.base+"/issues"))
		if err == nil && (res == nil || res.Status != 200) {
			err = fmt.Errorf("got %s, want 200", resStatus(res))
		}
		loaded <- err
	}()
	hidden := time.Now()
	for _, tb := range six {
		tb.setHidden(true)
	}
	select {
	case err := <-loaded:
		t.Fatalf("a seventh page loaded %v after the six were hidden, before their streams were released (%v): the six-connection limit this test is about is not there",
			time.Since(hidden), err)
	case <-time.After(time.Until(hidden.Add(4500 * time.Millisecond))):
	}
	select {
	case err := <-loaded:
		if err != nil {
			t.Fatalf("the seventh page: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the seventh page did not load within 20 s of hiding the six")
	}
	loadedIn := time.Since(hidden)
	seventh.waitLiveState("live")
	t.Logf("hid six → the seventh page loaded %v later", loadedIn.Round(time.Millisecond))
	seventh.setHidden(true)
	for _, tb := range six {
		tb.waitLiveState("paused")
	}
	seventh.waitLiveState("paused")

	// With seven hidden and paused, the eighth opens the list and goes live.
	eighth.openOK("/issues")
	eighth.waitLiveState("live")
	mark := map[*tab]string{eighth: eighth.setMarker()}
	for _, tb := range tabs {
		mark[tb] = tb.setMarker()
	}
	t.Logf("seven hidden and paused, the eighth live: %v after hiding six", time.Since(hidden).Round(time.Millisecond))

	// A report reaches the visible tab live; the hidden ones hold no stream.
	student := newClient()
	signIn(t, student, b.base, "student1@demo.test", "demo")
	id := reportAs(t, student, b.base, "Bathroom tap leaks "+uniqueWord())
	rowID := issueID(id)
	eighth.waitFor("the report on the visible tab", `!!document.getElementById(`+jsString(rowID)+`)`)
	for _, tb := range tabs {
		if tb.copies(rowID) != 0 || tb.liveState() != "paused" {
			t.Errorf("%s: hidden, it shows the report %d times and says %q; want 0 and paused", tb.name, tb.copies(rowID), tb.liveState())
		}
	}

	// Shown again, each reconnects and replays what it missed, once. Five
	// at a time (with the eighth: six streams); the user then closes them
	// and looks at the last two.
	show := func(group []*tab) {
		t.Helper()
		shown := time.Now()
		for _, tb := range group {
			tb.setHidden(false)
		}
		for _, tb := range group {
			tb.waitLiveState("live")
			tb.waitFor("the missed report after the replay", `!!document.getElementById(`+jsString(rowID)+`)`)
		}
		t.Logf("showed %d tabs → all live with the missed report in %v", len(group), time.Since(shown).Round(time.Millisecond))
		for _, tb := range group {
			if n := tb.copies(rowID); n != 1 {
				t.Errorf("%s: shown again, it shows the report %d times, want once", tb.name, n)
			}
			if n := tb.messages("new_issue", ""); n != 1 {
				t.Errorf("%s: shown again, its stream was handed %d new_issue messages, want 1", tb.name, n)
			}
			if ids := tb.rowIDs("article.issue"); len(ids) == 0 || ids[0] != id {
				t.Errorf("%s: the list starts %v, want the report on top", tb.name, ids[:min(1, len(ids))])
			}
			tb.sameDocument(mark[tb], "showing the tab again")
		}
	}
	show(tabs[:5])
	var wg sync.WaitGroup
	for _, tb := range tabs[:5] {
		wg.Go(tb.close)
	}
	wg.Wait()
	show(tabs[5:])
	eighth.sameDocument(mark[eighth], "the report")
	if n := eighth.copies(rowID); n != 1 {
		t.Errorf("the eighth tab shows the report %d times, want once", n)
	}
}

// TestBrowserLivePagesNotShownGiveBackTheirStream: a page the user has left
// (Chrome keeps it, frozen, in its back/forward cache) and a tab opened in
// the background hold no stream. Over HTTP/1.1 one tab can then click
// through more than six pages; a page shown again from the cache resumes
// and catches up without a reload; a page loaded hidden pauses as one
// hidden later does.
func TestBrowserLivePagesNotShownGiveBackTheirStream(t *testing.T) {
	b := startWithBrowser(t, testConfig(t, true))
	w := liveTab(b, "warden1")
	if home := w.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	w.waitLiveState("live")
	ids := w.rowIDs("article.issue")
	if len(ids) < 7 {
		t.Fatalf("the warden's list has %d issues, want 7 to click through", len(ids))
	}
	var mark string
	for i, id := range ids[:7] {
		w.openOK(fmt.Sprintf("/issues/%d", id))
		w.waitLiveState("live")
		if i == 5 {
			mark = w.setMarker()
		}
	}

	// Back: the sixth page comes from the cache, resumes, and catches up
	// with a report made meanwhile.
	student := newClient()
	signIn(t, student, b.base, "student1@demo.test", "demo")
	title := "Reported while the page was cached " + uniqueWord()
	reportAs(t, student, b.base, title)
	evalJS[chromedp.Void](w, "history.back()")
	w.waitFor("the previous page", fmt.Sprintf("location.pathname === \"/issues/%d\"", ids[5]))
	w.waitLiveState("live")
	w.waitToast("New issue: " + title)
	w.sameDocument(mark, "going back (the page should come from the back/forward cache)")

	// A tab opened in the background: hidden from its first script on.
	bg := liveTabBeside(b, w, "warden1-background")
	bg.do("start hidden", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
			Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});`})
		return err
	}))
	bg.openOK("/issues")
	bg.waitLiveState("paused")
	bg.setHidden(false)
	bg.waitLiveState("live")
}
