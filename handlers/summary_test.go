package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// Errors of fields a form does not show (a student's report has no hostel
// select) are listed in the form's error summary, as every error is; a
// shown field's own message is tied to its input.
func TestErrorSummaryShowsEveryMessage(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	before := ts.countRows(t, "issues")
	res := student.PostForm("/issues", url.Values{"title": {"Leaking tap"}, "category": {"plumbing"}, "hostel_id": {"abc"}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	summary := errorSummary(t, res)
	if !strings.Contains(summary, "Choose a hostel from the list.") {
		t.Errorf("the error summary does not list the hostel's message:\n%s", summary)
	}
	// With the other fields' messages, all in one answer.
	res = student.PostForm("/issues", url.Values{"title": {"ab"}, "category": {"plumbing"}, "hostel_id": {"abc"}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	summary = errorSummary(t, res)
	for _, msg := range []string{"Choose a hostel from the list.", "The title must be at least 3 characters."} {
		if !strings.Contains(summary, msg) {
			t.Errorf("the error summary does not list %q:\n%s", msg, summary)
		}
	}
	if ts.countRows(t, "issues") != before {
		t.Error("a refused report wrote an issue")
	}

	// Several errors: each listed, each shown field's message tied to its input.
	res = student.PostForm("/issues", url.Values{"title": {"ab"}, "category": {"roof"}, "location": {strings.Repeat("l", 61)}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	summary = errorSummary(t, res)
	for field, msg := range map[string]string{
		"title":    "The title must be at least 3 characters.",
		"category": "Choose a category from the list.",
		"location": "The location must be at most 60 characters (it has 61).",
	} {
		if !strings.Contains(summary, htmlEscape(msg)) {
			t.Errorf("the error summary does not list %q", msg)
		}
		webtest.WantContains(t, res, fieldMessage(field, msg))
		input := elementWithID(res.Body, field)
		if !strings.Contains(input, `aria-invalid="true"`) || !describedBy(input, field+"-error") {
			t.Errorf("the %s input is not tied to its message: %s", field, input)
		}
	}
	// The hint stays tied to the title too.
	if input := elementWithID(res.Body, "title"); !describedBy(input, "title-hint") {
		t.Errorf("the title input lost its hint: %s", input)
	}
	// A field without an error is not marked.
	if input := elementWithID(res.Body, "description"); strings.Contains(input, `aria-invalid="true"`) || strings.Contains(input, "description-error") {
		t.Errorf("the description input is marked though it has no error: %s", input)
	}

	// Every form page that shows errors has the summary.
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	for _, tc := range []struct {
		c    *webtest.Client
		path string
		form url.Values
		msg  string
	}{
		{w, fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {""}}, "The comment is required."},
		{w, "/announcements", url.Values{"title": {"Hi"}, "body": {"x"}}, "The title must be at least 3 characters."},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"student"}, "password": {"long enough"}}, "A student belongs to exactly one hostel."},
		{admin, "/hostels", url.Values{"name": {"A"}}, "The name must be at least 2 characters."},
	} {
		res := tc.c.PostForm(tc.path, tc.form)
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		if s := errorSummary(t, res); !strings.Contains(s, htmlEscape(tc.msg)) {
			t.Errorf("POST %s: the error summary does not list %q:\n%s", tc.path, tc.msg, s)
		}
	}
	// The reporter's reopen form says why it was refused.
	ctx := t.Context()
	me, warden := ts.user(t, "student1@demo.test"), ts.user(t, "warden1@demo.test")
	id, err := ts.store.CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: me.ID, Title: "Tap again", Category: "plumbing"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.Status{store.StatusInProgress, store.StatusResolved} {
		if err := ts.store.ChangeStatus(ctx, id, warden.ID, st, "Fixed"); err != nil {
			t.Fatal(err)
		}
	}
	msg := "The note has a bidirectional control character (U+202E): remove it."
	res = student.PostForm("/issues/"+itoa(id)+"/status", url.Values{"status": {"open"}, "note": {"abc\u202egnp"}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	if s := errorSummary(t, res); !strings.Contains(s, htmlEscape(msg)) {
		t.Errorf("the reopen form's summary does not list %q:\n%s", msg, s)
	}
	webtest.WantContains(t, res, fieldMessage("reopen-note", msg))
	if input := elementWithID(res.Body, "reopen-note"); !strings.Contains(input, `aria-invalid="true"`) || !describedBy(input, "reopen-note-error") {
		t.Errorf("the reopen note is not tied to its message: %s", input)
	}

	// A page without errors has no summary.
	if strings.Contains(student.Get("/issues/new").Body, `id="error-summary"`) {
		t.Error("the report form shows an error summary before any error")
	}
}

// errorSummary is the page's error summary, failing the test unless there
// is exactly one, announced as an alert.
func errorSummary(t *testing.T, res webtest.Response) string {
	t.Helper()
	if n := strings.Count(res.Body, `id="error-summary"`); n != 1 {
		t.Fatalf("%s %s: %d error summaries, want 1\n%.2000s", res.Request.Method, res.Request.URL.Path, n, res.Body)
	}
	i := strings.Index(res.Body, `id="error-summary"`)
	start := strings.LastIndex(res.Body[:i], "<")
	end := strings.Index(res.Body[i:], "</div>")
	if end < 0 {
		t.Fatalf("the error summary is not closed")
	}
	s := res.Body[start : i+end]
	if !strings.Contains(s[:strings.Index(s, ">")], `role="alert"`) {
		t.Errorf("the error summary is not role=alert: %s", s)
	}
	return s
}

// elementWithID is the opening tag of the element whose id is id.
func elementWithID(body, id string) string {
	i := strings.Index(body, ` id="`+id+`"`)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(body[:i], "<")
	end := strings.Index(body[i:], ">")
	return body[start : i+end+1]
}

// describedBy says whether a tag's aria-describedby names id.
func describedBy(tag, id string) bool {
	_, rest, ok := strings.Cut(tag, `aria-describedby="`)
	if !ok {
		return false
	}
	ids, _, _ := strings.Cut(rest, `"`)
	for _, s := range strings.Fields(ids) {
		if s == id {
			return true
		}
	}
	return false
}
