package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/realtime/realtimetest"
	"hostelhub/store"
)

func TestStreamCarriesChangesAsFragments(t *testing.T) {
	a := newTestApp(t)
	warden := a.login("warden1@demo.test")
	student := a.login("student1@demo.test")
	wardenStream := warden.Stream("/hostels/1/events", webtest.NoLastEventID)
	studentStream := student.Stream("/hostels/1/events", webtest.NoLastEventID)

	res := student.PostForm("/issues", url.Values{"title": {`Tap <script>alert(1)</script> "leaks"`}, "category": {"plumbing"}, "priority": {"urgent"}, "location": {"Room <b>7</b>"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	id, _ := strconv.ParseInt(strings.TrimPrefix(res.Header.Get("Location"), "/issues/"), 10, 64)

	toast := wardenStream.Next("toast")
	row := wardenStream.Next("new_issue")
	if row.ID == 0 || toast.ID != row.ID {
		t.Errorf("event ids: toast %d, row %d; want the same, non-zero", toast.ID, row.ID)
	}
	for _, want := range []string{fmt.Sprintf(`id="issue-%d"`, id), `data-status="open"`, `class="status-form"`, "by Student 1",
		"Tap &lt;script&gt;alert(1)&lt;/script&gt; &#34;leaks&#34;", "Room &lt;b&gt;7&lt;/b&gt;"} {
		if !strings.Contains(string(row.Data), want) {
			t.Errorf("warden's new_issue lacks %q:\n%s", want, row.Data)
		}
	}
	if strings.Contains(string(row.Data), "<script>") || strings.Contains(string(toast.Data), "<script>") {
		t.Error("markup in a title arrived unescaped")
	}
	// The student's row is rendered for a student: "me too", no status form, no reporter.
	srow := studentStream.Next("new_issue")
	if !strings.Contains(string(srow.Data), "Me too") || strings.Contains(string(srow.Data), "status-form") || strings.Contains(string(srow.Data), "by Student 1") {
		t.Errorf("student's new_issue is not a student's row:\n%s", srow.Data)
	}

	w := warden.HTMX(http.MethodPost, fmt.Sprintf("/issues/%d/status", id), url.Values{"status": {"in_progress"}, "note": {"Plumber called"}}, "")
	webtest.WantStatus(t, w, http.StatusOK)
	for _, s := range []*webtest.Stream{wardenStream, studentStream} {
		up := s.Next("issue_status_updated")
		for _, want := range []string{fmt.Sprintf(`id="issue-%d"`, id), `data-status="in_progress"`, `hx-swap-oob="true"`, "Plumber called",
			fmt.Sprintf(`hx-swap-oob="beforeend:#history-%d"`, id)} {
			if !strings.Contains(string(up.Data), want) {
				t.Errorf("issue_status_updated lacks %q:\n%s", want, up.Data)
			}
		}
	}
	// Comments and "me too" counts reach the issue's page.
	warden.PostForm(fmt.Sprintf("/issues/%d/comments", id), url.Values{"body": {"Parts <ordered>"}})
	if c := studentStream.Next("issue_comment"); !strings.Contains(string(c.Data), "Parts &lt;ordered&gt;") {
		t.Errorf("issue_comment: %s", c.Data)
	}
	a.login("resident1.3@demo.test").PostForm(fmt.Sprintf("/issues/%d/metoo", id), nil)
	if m := wardenStream.Next("issue_metoo"); !strings.Contains(string(m.Data), ">+1<") {
		t.Errorf("issue_metoo: %s", m.Data)
	}
	// An announcement to the hostel.
	warden.PostForm("/announcements", url.Values{"title": {"Water off"}, "body": {"From 10 to 12"}})
	if ann := studentStream.Next("announcement"); !strings.Contains(string(ann.Data), "Water off") {
		t.Errorf("announcement: %s", ann.Data)
	}
}

func TestStreamsAreIsolatedByHostel(t *testing.T) {
	a := newTestApp(t)
	w2 := a.login("warden2@demo.test").Stream("/hostels/2/events", webtest.NoLastEventID)
	all := a.login("admin@demo.test").Stream("/events", webtest.NoLastEventID)
	s1 := a.login("student1@demo.test")
	s1.PostForm("/issues", url.Values{"title": {"Hostel one only"}, "category": {"water"}})
	if f := all.Next("new_issue"); !strings.Contains(string(f.Data), "Hostel one only") {
		t.Errorf("management's stream: %s", f.Data)
	}
	w2.Quiet(300 * time.Millisecond)
	// A hostel-1 announcement to all reaches hostel 2 as well.
	a.login("admin@demo.test").PostForm("/announcements", url.Values{"title": {"Everyone"}, "body": {"All hostels"}})
	if f := w2.Next("announcement"); !strings.Contains(string(f.Data), "Everyone") {
		t.Errorf("hostel 2 missed an announcement to all: %s", f.Data)
	}
	// Asking for someone else's hostel is refused, whatever the client sends.
	res := s1.OpenStream("/hostels/2/events")
	webtest.WantStatus(t, res, http.StatusForbidden)
	webtest.WantStatus(t, s1.OpenStream("/hostels/99/events"), http.StatusForbidden)
	webtest.WantStatus(t, a.login("admin@demo.test").OpenStream("/hostels/99/events"), http.StatusNotFound)
}

func TestStreamReplaysWhatWasMissed(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	warden := a.login("warden1@demo.test")
	student := a.user("student1@demo.test")
	s := warden.Stream("/hostels/1/events", webtest.NoLastEventID)
	first, _ := a.store().CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: student.ID, Title: "Before the drop", Category: "other"})
	seen := s.Next("new_issue")
	if !strings.Contains(string(seen.Data), fmt.Sprintf(`id="issue-%d"`, first)) {
		t.Fatalf("first event: %s", seen.Data)
	}
	s.Close()

	// Missed while away: in hostel 1 (replayed) and hostel 2 (not this stream's).
	var missed []int64
	for i := range 5 {
		id, _ := a.store().CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: student.ID, Title: fmt.Sprintf("Missed %d", i), Category: "other"})
		missed = append(missed, id)
		a.store().CreateIssue(ctx, store.NewIssue{HostelID: 2, ReporterID: a.user("student2@demo.test").ID, Title: "Elsewhere", Category: "other"})
	}
	back := warden.Stream("/hostels/1/events", seen.ID)
	var lastID int64 = seen.ID
	for _, id := range missed {
		f := back.Next("new_issue")
		if !strings.Contains(string(f.Data), fmt.Sprintf(`id="issue-%d"`, id)) || f.ID <= lastID {
			t.Fatalf("replay: got event %d %.80s, want issue %d after event %d", f.ID, f.Data, id, lastID)
		}
		lastID = f.ID
	}
	// Then live, with no gap and no repeat.
	live, _ := a.store().CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: student.ID, Title: "Live again", Category: "other"})
	if f := back.Next("new_issue"); !strings.Contains(string(f.Data), fmt.Sprintf(`id="issue-%d"`, live)) {
		t.Fatalf("live after replay: %.80s", f.Data)
	}
	back.Quiet(200 * time.Millisecond)

	// A page rendered at a known event resumes from the query parameter.
	q := warden.Stream(fmt.Sprintf("/hostels/1/events?last_event_id=%d", seen.ID), webtest.NoLastEventID)
	if f := q.Next("new_issue"); !strings.Contains(string(f.Data), fmt.Sprintf(`id="issue-%d"`, missed[0])) {
		t.Fatalf("resume from the query parameter: %.80s", f.Data)
	}
	// A gap too old to replay makes the page reload.
	if f := warden.Stream("/hostels/1/events?last_event_id=999999", webtest.NoLastEventID).Next("reload"); f.Event != "reload" {
		t.Fatal("no reload for an id from the future")
	}
	// Once the log is pruned past a page's event, it reloads; a page at
	// the event just before the oldest kept still replays.
	if _, err := a.store().PruneEvents(ctx, time.Now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if f := warden.Stream("/hostels/1/events", seen.ID).Next("reload"); f.Event != "reload" {
		t.Fatal("no reload for an id from before the pruned log")
	}
	oldest, _, _ := a.store().EventRange(ctx)
	if f := warden.Stream("/hostels/1/events", oldest-1).Next("new_issue"); !strings.Contains(string(f.Data), fmt.Sprintf(`id="issue-%d"`, live)) {
		t.Fatalf("replay of the one event kept: %.80s", f.Data)
	}
}

func TestPagesCarryTheirStream(t *testing.T) {
	a := newTestApp(t)
	s := a.login("student1@demo.test")
	latest, _ := a.store().LatestEventID(context.Background())
	webtest.WantContains(t, s.Get("/issues"), fmt.Sprintf(`sse-connect="/hostels/1/events?last_event_id=%d"`, latest), `id="toasts"`, `aria-live="polite"`, `sse-swap="new_issue"`)
	webtest.WantContains(t, s.Get("/announcements"), `sse-connect="/hostels/1/events?last_event_id=`, `sse-swap="announcement"`)
	admin := a.login("admin@demo.test")
	webtest.WantContains(t, admin.Get("/issues"), `sse-connect="/events?last_event_id=`)
	webtest.WantContains(t, admin.Get("/issues?hostel=2"), `sse-connect="/hostels/2/events?last_event_id=`)
	is := a.issueOf(3, "", 0)
	webtest.WantContains(t, admin.Get(fmt.Sprintf("/issues/%d", is.ID)), `sse-connect="/hostels/3/events?last_event_id=`, fmt.Sprintf(`id="history-%d"`, is.ID))
	// A filtered list does not take new issues it may not match.
	if strings.Contains(s.Get("/issues?category=water").Body, `sse-swap="new_issue"`) {
		t.Error("a filtered list takes every new issue")
	}
}

func TestStreamSendsHeartbeats(t *testing.T) {
	a := newTestApp(t, withHeartbeat(50*time.Millisecond))
	c := a.login("student1@demo.test")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+"/hostels/1/events", nil)
	res, err := (&http.Client{Jar: c.HTTP.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	for _, h := range [][2]string{{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}} {
		if got := res.Header.Get(h[0]); got != h[1] {
			t.Errorf("%s: got %q, want %q", h[0], got, h[1])
		}
	}
	if res.Header.Get("Content-Encoding") != "" {
		t.Error("the stream is compressed")
	}
	beats := make(chan string, 8)
	dec := realtimetest.NewDecoder(res.Body)
	dec.OnComment = func(text string) { beats <- text }
	go dec.Next()
	for range 2 {
		select {
		case <-beats:
		case <-ctx.Done():
			t.Fatal("no heartbeat")
		}
	}
	if dec.Retry() <= 0 {
		t.Error("no retry: line")
	}
}

// A stream that never reads is dropped; the others keep getting every
// event promptly, and the publisher never waits for it.
func TestStuckStreamIsDropped(t *testing.T) {
	a := newTestApp(t, withStreamQueue(8))
	ctx := context.Background()
	warden := a.login("warden1@demo.test")
	good := warden.Stream("/hostels/1/events", webtest.NoLastEventID)

	// The stuck client: a raw connection that sends its request and never reads.
	u, _ := url.Parse(a.Base)
	// A small receive window, set before connecting so the kernel keeps to it.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var cookies []string
	for _, ck := range warden.HTTP.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	fmt.Fprintf(conn, "GET /hostels/1/events HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", u.Host, strings.Join(cookies, "; "))
	waitUntil(t, 5*time.Second, "the stuck stream to subscribe", func() bool { return a.app.hub.Stats().Subscribers == 2 })

	student := a.user("student1@demo.test")
	long := strings.Repeat("A long description that makes each event's fragment bigger. ", 60)
	var slowest time.Duration
	for i := 0; a.app.hub.Stats().Dropped == 0; i++ {
		if i == 3000 {
			t.Fatal("the stuck stream was never dropped")
		}
		start := time.Now()
		id, err := a.store().CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: student.ID, Title: fmt.Sprintf("Flood %d", i), Description: long, Category: "other"})
		if err != nil {
			t.Fatal(err)
		}
		f := good.Next("new_issue")
		slowest = max(slowest, time.Since(start))
		if !strings.Contains(string(f.Data), fmt.Sprintf(`id="issue-%d"`, id)) {
			t.Fatalf("the good stream got %.60s, want issue %d", f.Data, id)
		}
	}
	t.Logf("stuck stream dropped; slowest commit-to-receipt on the good stream: %v", slowest)
	if slowest > time.Second {
		t.Errorf("the good stream waited %v for an event", slowest)
	}
}

// Over 1,000 events and many random disconnects, a client that resumes with
// Last-Event-ID receives every event of its hostel exactly once, in order.
func TestRandomDisconnectsLoseNothing(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	warden := a.login("warden1@demo.test")
	s1, s2 := a.user("student1@demo.test"), a.user("student2@demo.test")
	const total = 1000
	start, _ := a.store().LatestEventID(ctx)
	done := make(chan []int64, 1)
	go func() {
		var ids []int64
		for i := range total {
			hostel, reporter := int64(1), s1.ID
			if i%3 == 2 {
				hostel, reporter = 2, s2.ID // not this stream's
			}
			id, err := a.store().CreateIssue(ctx, store.NewIssue{HostelID: hostel, ReporterID: reporter, Title: fmt.Sprintf("R%d", i), Category: "other"})
			if err != nil {
				t.Error(err)
				break
			}
			if hostel == 1 {
				ids = append(ids, id)
			}
			time.Sleep(time.Millisecond) // a busy desk, not a bulk load: gaps stay replayable
		}
		done <- ids
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int64]int{}
	var order []int64
	last := start
	var want []int64
	reconnects := 0
	for want == nil || len(order) < len(want) {
		s := warden.Stream("/hostels/1/events", last)
		reconnects++
		budget := 1 + rng.IntN(40)
		for budget > 0 {
			select {
			case f := <-s.Frames:
				if f.Event == "reload" {
					t.Fatalf("a gap too old to replay after %d events", len(order))
				}
				if f.Event != "new_issue" {
					continue
				}
				var issue int64
				fmt.Sscanf(string(f.Data)[strings.Index(string(f.Data), `id="issue-`)+10:], "%d", &issue)
				seen[issue]++
				order = append(order, issue)
				last = f.ID
				budget--
			case ids := <-done:
				want = ids
			case <-time.After(3 * time.Second):
				var missing []int64
				for _, id := range want {
					if seen[id] == 0 {
						missing = append(missing, id)
					}
				}
				latest, _ := a.store().LatestEventID(ctx)
				t.Fatalf("stalled after %d events (want %d); missing issues %v; last event id seen %d, latest %d", len(order), len(want), missing, last, latest)
			}
			if want != nil && len(order) >= len(want) {
				break
			}
		}
		s.Close()
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("issue %d received %d times", id, seen[id])
		}
	}
	if len(order) != len(want) {
		t.Errorf("received %d events, want %d", len(order), len(want))
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("out of order at %d: %d after %d", i, order[i], order[i-1])
		}
	}
	t.Logf("%d events of hostel 1 (of %d committed) over %d connections, each exactly once", len(want), total, reconnects)
}

// A student or warden who belongs to no hostel (moved out of all of them)
// gets no stream at all, never every hostel's.
func TestNoHostelNoStream(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	if _, err := a.store().CreateUser(ctx, store.NewUser{Email: "nowhere@example.org", Name: "Nowhere", Password: "long enough", Role: store.Warden}); err != nil {
		t.Fatal(err)
	}
	c := a.client()
	webtest.WantStatus(t, c.PostForm("/login", url.Values{"email": {"nowhere@example.org"}, "password": {"long enough"}}), http.StatusSeeOther)
	webtest.WantStatus(t, c.OpenStream("/events"), http.StatusForbidden)
	webtest.WantStatus(t, c.OpenStream("/hostels/1/events"), http.StatusForbidden)
	list := c.Get("/issues")
	webtest.WantStatus(t, list, http.StatusOK)
	webtest.WantContains(t, list, "0 issues")
	if strings.Contains(list.Body, `sse-connect="/events`) {
		t.Error("a user of no hostel is given the every-hostel stream")
	}
}
