package main

// Real-browser tests of the live updates: what one user does reaches the
// others' open pages without a reload, and announcements reach their
// hostel only. Beside them, what every live test uses: a recorder of what
// a page's stream does, and the tab helpers that read it. A page whose
// stream is cut is in browser_reconnect_test.go; many pages of one user
// (HTTP/2, hidden tabs, pages not shown) in browser_tabs_test.go. Each
// test starts its own app with demo data and its own Chromium; see
// browser_helpers_test.go for the tab helpers every browser test uses.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"hostelhub/handlers/webtest"
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
// keeps.
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

// reportAs files an issue through the form with a client signed in as a
// student (no browser), and returns its id.
func reportAs(t *testing.T, c *webtest.Client, title string) int64 {
	t.Helper()
	res := c.PostForm("/issues", url.Values{"title": {title}, "category": {"water"}, "priority": {"high"}, "location": {"Block B"}})
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
	_, b := startWithBrowser(t)

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

// announcement to hostel 1 through the form; a hostel-1 student sees it
// arrive on /announcements and as a toast on /issues, without a reload; a
// hostel-2 student's pages never get it (watched for a second after hostel
// 1 had it), though their streams work: hostel 2's own announcement, posted
// next, reaches them.
func TestBrowserLiveAnnouncementsReachTheirHostelOnly(t *testing.T) {
	_, b := startWithBrowser(t)

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
