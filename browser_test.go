package main

// Real-browser tests: headless Chromium driven through chromedp against the
// whole app (newTestApp) with demo data. Each test starts its own app and its
// own browser; each user gets a tab in a browser context of its own, so
// sessions never leak between users. See browser_helpers_test.go.
//
// Set HOSTELHUB_SCREENSHOTS=/some/dir to keep the phone-sized screenshots
// of TestBrowserPhoneLayout for a look by eye.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hostelhub/store"
)

// TestBrowserWorksWithoutJavaScript: every form works as a plain form, and
// two users at once keep their own sessions.
func TestBrowserWorksWithoutJavaScript(t *testing.T) {
	_, b := startWithBrowser(t)

	student := b.newTab("student1", withoutJS())
	if home := student.signIn("student1@demo.test", "demo"); home != "/issues" {
		t.Errorf("student's home: got %s, want /issues", home)
	}
	if got := evalJS[string](student, "typeof window.htmx"); got != "undefined" {
		t.Fatalf("scripts are off, yet htmx is %s: the test would not prove anything", got)
	}

	// Report an issue through the form.
	word := uniqueWord()
	title := "Sparking socket " + word
	id := student.reportIssue(issueReport{Title: title, Category: "electrical", Priority: "urgent", Location: "Room 204",
		Description: "The socket by the desk sparks when a charger goes in."})
	row := fmt.Sprintf("#issue-%d", id)
	if got := student.text(row + " .issue-title"); got != title {
		t.Errorf("the issue's page shows title %q, want %q", got, title)
	}
	if got := student.rowStatus(id); got != "open" {
		t.Errorf("new issue's data-status: got %q, want open", got)
	}
	if got := student.text(".description"); !strings.Contains(got, "sparks when a charger") {
		t.Errorf("the issue's page shows description %q", got)
	}
	if got := student.text(".flash"); !strings.Contains(got, "reported") {
		t.Errorf("flash after reporting: got %q", got)
	}

	// Filter the list with a plain GET.
	student.openOK("/issues")
	student.choose("#status", "open")
	student.choose("#category", "electrical")
	student.typeInto("#q", word)
	res := student.submitBy(`form.filters button[type="submit"]`)
	if res.Status != 200 {
		t.Fatalf("filter: got %s", resStatus(res))
	}
	u, _ := url.Parse(student.path())
	if q := u.Query(); u.Path != "/issues" || q.Get("status") != "open" || q.Get("category") != "electrical" || q.Get("q") != word {
		t.Errorf("filter went to %s, want /issues with status=open, category=electrical and q=%s", u, word)
	}
	if ids := student.rowIDs("article.issue"); !slices.Equal(ids, []int64{id}) {
		t.Errorf("filtered list: got rows %v, want only %d", ids, id)
	}
	if got := student.text("#issue-list-section .count"); got != "1 issue" {
		t.Errorf("filtered count: got %q, want \"1 issue\"", got)
	}

	// A warden, signed in at the same time in another browser context,
	// moves it on through the row's plain status form.
	warden := b.newTab("warden1", withoutJS())
	warden.signIn("warden1@demo.test", "demo")
	list := "/issues?q=" + url.QueryEscape(word)
	warden.openOK(list)
	if got := warden.rowStatus(id); got != "open" {
		t.Fatalf("warden's list: row %s has status %q, want open", row, got)
	}
	warden.choose(fmt.Sprintf("#status-%d", id), "in_progress")
	warden.typeInto(fmt.Sprintf("#note-%d", id), "Electrician booked for today")
	res = warden.submitBy(row + ` form.status-form button[type="submit"]`)
	if res.Status != 200 || warden.path() != list {
		t.Errorf("status change: landed on %s (%s), want back on %s", warden.path(), resStatus(res), list)
	}
	if got := warden.rowStatus(id); got != "in_progress" {
		t.Errorf("after the change the row's data-status is %q, want in_progress", got)
	}
	if got := warden.text(".flash"); !strings.Contains(got, "in progress") {
		t.Errorf("flash after the change: got %q", got)
	}

	// The student is still the student: their session is their own.
	student.openOK(fmt.Sprintf("/issues/%d", id))
	if got := student.rowStatus(id); got != "in_progress" {
		t.Errorf("student sees status %q, want in_progress", got)
	}
	if n := student.count(row + " form.status-form"); n != 0 {
		t.Errorf("the student's page has %d status forms: the warden's session leaked into it", n)
	}
	if got := student.text(fmt.Sprintf("#history-%d", id)); !strings.Contains(got, "Electrician booked for today") {
		t.Errorf("history the student sees: %q, want the warden's note", got)
	}
}

// TestBrowserHTMXSwapsInPlace: with JavaScript, a status change swaps the
// row and a filter swaps the list, neither loading a page; a refused move
// shows its reason inside the row.
func TestBrowserHTMXSwapsInPlace(t *testing.T) {
	_, b := startWithBrowser(t)
	w := b.newTab("warden1")
	w.signIn("warden1@demo.test", "demo")
	word := uniqueWord()
	id := w.reportIssue(issueReport{Title: "Dripping tap " + word, Category: "plumbing", Priority: "urgent", Location: "Washroom, second floor"})
	w.openOK("/issues?status=open")
	w.waitFor("htmx to load", `typeof htmx === "object"`)
	if got := w.rowStatus(id); got != "open" {
		t.Fatalf("the new issue %d is not an open row of /issues?status=open (status %q)", id, got)
	}
	rowID := fmt.Sprintf("issue-%d", id)
	row := "#" + rowID
	marker := w.setMarker()

	// A status change swaps the row in place.
	streamed := w.streamSeen("issue_status_updated")
	w.tagNode(rowID)
	w.choose(fmt.Sprintf("#status-%d", id), "in_progress")
	w.typeInto(fmt.Sprintf("#note-%d", id), "Plumber called")
	w.click(row + ` form.status-form button[type="submit"]`)
	w.waitFor("the row swapped in with the new status",
		swapped(rowID)+` && document.getElementById(`+jsString(rowID)+`).dataset.status === "in_progress"`)
	w.sameDocument(marker, "the status change")
	if n := w.count(row + " .error"); n != 0 {
		t.Errorf("the row shows %d errors after an allowed change: %q", n, w.text(row+" .error"))
	}

	if w.hasStream() {
		// The stream echoes the change, replacing the row once more: let it
		// land first, or it could replace the refusal below.
		w.waitStream("issue_status_updated", streamed)
	}

	// A move the workflow refuses (a stale or tampered form: in progress
	// cannot go straight to closed) is answered inside the row.
	w.tagNode(rowID)
	evalJS[bool](w, `(() => { const s = document.getElementById("status-`+strconv.FormatInt(id, 10)+`");
		s.add(new Option("Closed", "closed")); return true; })()`)
	w.choose(fmt.Sprintf("#status-%d", id), "closed")
	w.typeInto(fmt.Sprintf("#note-%d", id), "Done, I think")
	w.click(row + ` form.status-form button[type="submit"]`)
	w.waitFor("the refusal inside the row", swapped(rowID)+` && !!document.querySelector(`+jsString(row+" .error")+`)`)
	w.sameDocument(marker, "the refused change")
	if got := w.text(row + " .error"); !strings.Contains(got, "cannot move from in progress to closed") {
		t.Errorf("the refusal says %q, want it to name the move", got)
	}
	if got := w.rowStatus(id); got != "in_progress" {
		t.Errorf("after the refusal the row's data-status is %q, want in_progress", got)
	}
	if got := evalJS[string](w, `document.getElementById("note-`+strconv.FormatInt(id, 10)+`").value`); got != "Done, I think" {
		t.Errorf("the note typed with the refused change is %q, want it kept", got)
	}

	// The filter form swaps the list, and the URL follows (hx-push-url).
	w.tagNode("issue-list-section")
	w.choose("#status", "in_progress")
	w.waitFor("the filtered list swapped in",
		swapped("issue-list-section")+` && new URLSearchParams(location.search).get("status") === "in_progress"`)
	w.sameDocument(marker, "the filter")
	sts := evalJS[[]string](w, `Array.from(document.querySelectorAll("#issue-list article.issue")).map(e => e.dataset.status)`)
	if slices.ContainsFunc(sts, func(s string) bool { return s != "in_progress" }) {
		t.Errorf("filtered by in progress, the list shows statuses %v", sts)
	}
	if w.rowStatus(id) != "in_progress" {
		t.Errorf("filtered by in progress, the list lacks issue %d", id)
	}

	// Typing in the search box filters too (keyup, after a pause).
	w.tagNode("issue-list-section")
	w.typeInto("#q", word)
	w.waitFor("the searched list swapped in",
		swapped("issue-list-section")+` && new URLSearchParams(location.search).get("q") === `+jsString(word))
	w.sameDocument(marker, "the search")
	if q, _ := url.ParseQuery(strings.TrimPrefix(evalJS[string](w, "location.search"), "?")); q.Get("status") != "in_progress" {
		t.Errorf("the pushed URL lost the status filter: %v", q)
	}
	if ids := w.rowIDs("article.issue"); !slices.Equal(ids, []int64{id}) {
		t.Errorf("searched for %s: rows %v, want only %d", word, ids, id)
	}

	if v := w.cspViolations(); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %v", v)
	}

	// The change was stored: a fresh page shows it.
	w.openOK(fmt.Sprintf("/issues/%d", id))
	if got := w.rowStatus(id); got != "in_progress" {
		t.Errorf("reloaded, the issue's status is %q, want in_progress", got)
	}
	if got := w.text(fmt.Sprintf("#history-%d", id)); !strings.Contains(got, "Plumber called") || strings.Contains(got, "Done, I think") {
		t.Errorf("history: %q, want the allowed change's note and not the refused one's", got)
	}
}

// TestBrowserDashboardMatchesTheDatabase: management's dashboard draws its
// chart and shows figures that agree with the database, also right after
// a change.
func TestBrowserDashboardMatchesTheDatabase(t *testing.T) {
	a, b := startWithBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := a.store().DB().DB

	admin := b.newTab("admin")
	if home := admin.signIn("admin@demo.test", "demo"); home != "/dashboard" {
		t.Errorf("management's home: got %s, want /dashboard", home)
	}
	res := admin.openOK("/dashboard")
	if xc := resHeader(res, "X-Cache"); xc != "HIT" && xc != "MISS" {
		t.Errorf("X-Cache: got %q, want HIT or MISS", xc)
	}
	before := checkDashboard(t, ctx, admin, db)

	// Change one issue; the next dashboard must not be the cached one.
	admin.openOK("/issues?status=open")
	ids := admin.rowIDs(`article.issue[data-status="open"]`)
	if len(ids) == 0 {
		t.Fatal("no open issue to change")
	}
	rowID := fmt.Sprintf("issue-%d", ids[0])
	admin.waitFor("htmx to load", `typeof htmx === "object"`)
	admin.tagNode(rowID)
	admin.choose(fmt.Sprintf("#status-%d", ids[0]), "in_progress")
	admin.click("#" + rowID + ` form.status-form button[type="submit"]`)
	admin.waitFor("the row swapped in", swapped(rowID)+` && document.getElementById(`+jsString(rowID)+`).dataset.status === "in_progress"`)

	res = admin.openOK("/dashboard")
	if xc := resHeader(res, "X-Cache"); xc != "MISS" {
		t.Errorf("X-Cache right after a change: got %q, want MISS (a HIT is a stale dashboard)", xc)
	}
	after := checkDashboard(t, ctx, admin, db)
	if after["total-open"] != before["total-open"]-1 || after["total-in_progress"] != before["total-in_progress"]+1 {
		t.Errorf("after one open → in progress: open %d → %d, in progress %d → %d",
			before["total-open"], after["total-open"], before["total-in_progress"], after["total-in_progress"])
	}
	res = admin.openOK("/dashboard")
	t.Logf("X-Cache of an unchanged dashboard shown again: %s", resHeader(res, "X-Cache"))
	checkDashboard(t, ctx, admin, db)
}

// checkDashboard compares the dashboard on the tab with counts computed
// from the database, and returns the status totals it shows.
func checkDashboard(t *testing.T, ctx context.Context, tb *tab, db *sql.DB) map[string]int {
	t.Helper()
	if n := tb.count("svg#trend-chart rect.created"); n != store.DashboardDays {
		t.Errorf("trend chart: %d rect.created bars, want %d", n, store.DashboardDays)
	}
	if n := tb.count("svg#trend-chart rect.resolved"); n != store.DashboardDays {
		t.Errorf("trend chart: %d rect.resolved bars, want %d", n, store.DashboardDays)
	}
	at, err := time.Parse(time.RFC3339, evalJS[string](tb, `document.querySelector("#dashboard time").getAttribute("datetime")`))
	if err != nil {
		t.Fatalf("the dashboard's time: %v", err)
	}
	query := func(q string, args ...any) [][]int64 {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]int64
		for rows.Next() {
			r := make([]int64, len(cols))
			ptrs := make([]any, len(cols))
			for i := range r {
				ptrs[i] = &r[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// Totals by status.
	shown := evalJS[map[string]int](tb, `Object.fromEntries(Array.from(document.querySelectorAll("#dashboard dd[id^='total-']")).map(e => [e.id, Number(e.textContent.trim())]))`)
	want := map[string]int{"total-all": 0}
	for _, s := range store.Statuses {
		want["total-"+string(s)] = 0
	}
	rows, err := db.QueryContext(ctx, `SELECT status, COUNT(*) FROM issues GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		want["total-"+s] += n
		want["total-all"] += n
	}
	rows.Close()
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("#%s shows %d, the database has %d", k, shown[k], v)
		}
	}
	if len(shown) != len(want) {
		t.Errorf("status totals shown: %v, want the keys of %v", shown, want)
	}

	// By hostel: open and in progress.
	type hostelRow struct{ ID, Open, InProgress int64 }
	hostels := evalJS[[]hostelRow](tb, `Array.from(document.querySelectorAll("#by-hostel tbody tr")).map(r => ({
		ID: Number(r.dataset.hostel), Open: Number(r.cells[1].textContent), InProgress: Number(r.cells[2].textContent)}))`)
	wantHostels := map[int64][2]int64{}
	for _, r := range query(`SELECT h.id,
			COALESCE(SUM(CASE WHEN i.status = 'open' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN i.status = 'in_progress' THEN 1 ELSE 0 END), 0)
		FROM hostels h LEFT JOIN issues i ON i.hostel_id = h.id GROUP BY h.id`) {
		wantHostels[r[0]] = [2]int64{r[1], r[2]}
	}
	if len(hostels) != len(wantHostels) {
		t.Errorf("by hostel: %d rows, the database has %d hostels", len(hostels), len(wantHostels))
	}
	for _, h := range hostels {
		if w := wantHostels[h.ID]; w != [2]int64{h.Open, h.InProgress} {
			t.Errorf("hostel %d shows open %d, in progress %d; the database has %d, %d", h.ID, h.Open, h.InProgress, w[0], w[1])
		}
	}

	// By category: unresolved and all.
	type catRow struct {
		Category          string
		Unresolved, Total int64
	}
	cats := evalJS[[]catRow](tb, `Array.from(document.querySelectorAll("#by-category tbody tr")).map(r => ({
		Category: r.dataset.category, Unresolved: Number(r.cells[1].textContent), Total: Number(r.cells[2].textContent)}))`)
	for _, c := range cats {
		r := query(`SELECT COALESCE(SUM(CASE WHEN status IN ('open', 'in_progress') THEN 1 ELSE 0 END), 0), COUNT(*) FROM issues WHERE category = ?`, c.Category)
		if r[0][0] != c.Unresolved || r[0][1] != c.Total {
			t.Errorf("category %s shows unresolved %d of %d; the database has %d of %d", c.Category, c.Unresolved, c.Total, r[0][0], r[0][1])
		}
	}
	if len(cats) != len(store.Categories) {
		t.Errorf("by category: %d rows, want %d", len(cats), len(store.Categories))
	}

	// The chart: each day's bars, from their titles ("2 Jan: 5 reported").
	today := at.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(store.DashboardDays - 1)).Unix()
	barCounts := func(class string) []int64 {
		titles := evalJS[[]string](tb, `Array.from(document.querySelectorAll("svg#trend-chart rect.`+class+` title")).map(e => e.textContent)`)
		var ns []int64
		for _, s := range titles {
			f := strings.Fields(s)
			n, err := strconv.ParseInt(f[len(f)-2], 10, 64)
			if err != nil {
				t.Fatalf("bar title %q: %v", s, err)
			}
			ns = append(ns, n)
		}
		return ns
	}
	created, resolved := barCounts("created"), barCounts("resolved")
	days := query(`WITH RECURSIVE days (d) AS (SELECT ? UNION ALL SELECT d + 86400 FROM days WHERE d < ?)
		SELECT (SELECT COUNT(*) FROM issues WHERE created_at >= d AND created_at < d + 86400),
			(SELECT COUNT(*) FROM issues WHERE resolved_at >= d AND resolved_at < d + 86400)
		FROM days ORDER BY d`, first, today.Unix())
	for i, d := range days {
		if i >= len(created) || i >= len(resolved) || created[i] != d[0] || resolved[i] != d[1] {
			t.Errorf("chart day %d (%s): bars %v/%v, the database has %d reported and %d resolved", i,
				time.Unix(first, 0).UTC().AddDate(0, 0, i).Format("2 Jan"), barAt(created, i), barAt(resolved, i), d[0], d[1])
		}
	}

	// Open longer than 72 hours.
	overdue := query(`SELECT COUNT(*) FROM issues WHERE status IN ('open', 'in_progress') AND created_at < ?`, at.Add(-store.OverdueAfter).Unix())
	if got := tb.text("#overdue-heading .badge"); got != strconv.FormatInt(overdue[0][0], 10) {
		t.Errorf("overdue: shows %s, the database has %d", got, overdue[0][0])
	}
	return shown
}

func barAt(ns []int64, i int) any {
	if i < len(ns) {
		return ns[i]
	}
	return "none"
}

// TestBrowserPhoneLayout: at a phone's width nothing scrolls sideways and
// every field has a label.
func TestBrowserPhoneLayout(t *testing.T) {
	_, b := startWithBrowser(t)
	shots := os.Getenv("HOSTELHUB_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	check := func(tb *tab, name, path string) {
		t.Helper()
		if path != "" {
			tb.openOK(path)
		}
		checkPhonePage(t, tb, name)
		if shots != "" {
			file := filepath.Join(shots, "phone-"+name+".png")
			tb.screenshot(file)
			t.Logf("screenshot: %s", file)
		}
	}

	student := b.newTab("student1-phone", withPhone(390, 844))
	check(student, "login", "/login")
	student.signIn("student1@demo.test", "demo")
	check(student, "student-issues", "/issues")
	check(student, "student-new-issue", "/issues/new")

	warden := b.newTab("warden1-phone", withPhone(390, 844))
	warden.signIn("warden1@demo.test", "demo")
	check(warden, "warden-issues", "/issues")
	ids := warden.rowIDs("article.issue")
	if len(ids) == 0 {
		t.Fatal("the warden's list is empty")
	}
	check(warden, "warden-issue", fmt.Sprintf("/issues/%d", ids[0]))

	admin := b.newTab("admin-phone", withPhone(390, 844))
	admin.signIn("admin@demo.test", "demo")
	check(admin, "admin-dashboard", "/dashboard")
}

// checkPhonePage checks the page on the tab for sideways scrolling and
// unlabelled fields.
func checkPhonePage(t *testing.T, tb *tab, name string) {
	t.Helper()
	tb.waitFor("the page to finish loading", `document.readyState === "complete"`)
	type overflow struct {
		ScrollWidth, InnerWidth int
		Wide                    []string
	}
	o := evalJS[overflow](tb, `(() => {
		const w = window.innerWidth, wide = [];
		for (const el of document.body.querySelectorAll("*")) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && r.right > w + 0.5 && !el.closest(".scroll")) {
				wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") + " right=" + Math.round(r.right));
				if (wide.length >= 8) break;
			}
		}
		return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Wide: wide};
	})()`)
	if o.InnerWidth != 390 {
		t.Errorf("%s: innerWidth %d, want the phone's 390", name, o.InnerWidth)
	}
	if o.ScrollWidth > o.InnerWidth {
		t.Errorf("%s scrolls sideways on a phone: scrollWidth %d > innerWidth %d; too wide: %v", name, o.ScrollWidth, o.InnerWidth, o.Wide)
	}
	unlabelled := evalJS[[]string](tb, `(() => {
		const bad = [];
		for (const el of document.querySelectorAll("input, select, textarea")) {
			if (el.type === "hidden") continue;
			const cs = getComputedStyle(el), r = el.getBoundingClientRect();
			if (el.closest("[hidden]") || cs.display === "none" || cs.visibility === "hidden" || (r.width === 0 && r.height === 0)) continue;
			const byLabel = Array.from(el.labels || []).some(l => l.textContent.trim() !== "");
			const byAria = (el.getAttribute("aria-label") || "").trim() !== "" ||
				(el.getAttribute("aria-labelledby") || "").split(/\s+/).some(id => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== "");
			if (!byLabel && !byAria) bad.push(el.outerHTML.slice(0, 140));
		}
		return bad;
	})()`)
	for _, u := range unlabelled {
		t.Errorf("%s: a field without a label: %s", name, u)
	}
}

// TestBrowserContentSecurityPolicyHolds: the pages run under the strict
// policy without a console error or a blocked script or style, and htmx loads.
func TestBrowserContentSecurityPolicyHolds(t *testing.T) {
	_, b := startWithBrowser(t)
	w := b.newTab("warden1")
	w.signIn("warden1@demo.test", "demo")
	id := w.reportIssue(issueReport{Title: "Wi-Fi down " + uniqueWord(), Category: "internet", Priority: "urgent"})
	res := w.openOK("/issues")
	csp := resHeader(res, "Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy of /issues: %q, want script-src 'self' and nothing unsafe", csp)
	}
	w.waitFor("htmx to load", `typeof htmx === "object" && typeof htmx.process === "function"`)
	if v := evalJS[string](w, "htmx.version"); !strings.HasPrefix(v, "2.") {
		t.Errorf("htmx.version: %q, want 2.x", v)
	}

	// Make htmx work under the policy: a filter swap and a row swap.
	w.tagNode("issue-list-section")
	w.choose("#status", "open")
	w.waitFor("the filtered list", swapped("issue-list-section")+` && location.search.includes("status=open")`)
	rowID := fmt.Sprintf("issue-%d", id)
	streamed := w.streamSeen("issue_status_updated")
	w.tagNode(rowID)
	w.choose(fmt.Sprintf("#status-%d", id), "in_progress")
	w.click("#" + rowID + ` form.status-form button[type="submit"]`)
	w.waitFor("the row swapped in", swapped(rowID)+` && document.getElementById(`+jsString(rowID)+`).dataset.status === "in_progress"`)
	if w.hasStream() {
		// The page holds a live stream: connect-src must let it connect,
		// and what it brings must apply cleanly too.
		w.waitFor("the live stream to connect", `document.getElementById("live").dataset.state === "live"`)
		w.waitStream("issue_status_updated", streamed)
	}

	// The recorder starts afresh with each document: read it on each page.
	noViolations := func(tb *tab) {
		t.Helper()
		if v := tb.cspViolations(); len(v) > 0 {
			t.Errorf("%s: Content-Security-Policy violations on %s: %v", tb.name, tb.path(), v)
		}
	}
	noViolations(w)
	for _, path := range []string{"/issues/new", fmt.Sprintf("/issues/%d", id), "/announcements"} {
		w.openOK(path)
		noViolations(w)
	}
	admin := b.newTab("admin")
	admin.signIn("admin@demo.test", "demo")
	admin.openOK("/dashboard")
	noViolations(admin)

	var lines []string
	for _, tb := range []*tab{w, admin} {
		evalJS[int](tb, "1") // a round trip: every event before it has been recorded
		lines = append(lines, tb.consoleLines()...)
	}
	for _, l := range lines {
		lower := strings.ToLower(l)
		if strings.HasPrefix(l, "exception:") || strings.HasPrefix(l, "console.error") || strings.HasPrefix(l, "console.assert") ||
			strings.HasPrefix(l, "log.error") || strings.Contains(lower, "content security policy") || strings.Contains(lower, "refused to") {
			if strings.Contains(l, "htmx:oobErrorNoTarget") {
				t.Errorf("console: %s: a fragment marked hx-swap-oob names an element this page does not have", l)
				continue
			}
			t.Errorf("console: %s", l)
		}
	}
	t.Logf("console: %d message(s) over the whole visit", len(lines))
}
