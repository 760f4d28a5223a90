package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// Every field's limits and enums answer 422 with the message beside the
// field, and nothing is written.
func TestReportValidation(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t, "student1@demo.test")
	valid := url.Values{"title": {"Leaking tap"}, "description": {"Drips"}, "category": {"plumbing"}, "priority": {"high"}, "location": {"Room 101"}}
	cases := []struct {
		field, value, message string
	}{
		{"title", "", "The title is required."},
		{"title", "ab", "The title must be at least 3 characters."},
		{"title", "   ab   ", "The title must be at least 3 characters."},
		{"title", strings.Repeat("é", 121), "The title must be at most 120 characters (it has 121)."},
		{"title", "bad\x00byte", "The title has characters that are not text."},
		{"title", "bad \xff utf8", "The title has characters that are not text."},
		{"description", strings.Repeat("x", 4001), "The description must be at most 4000 characters (it has 4001)."},
		{"category", "", "Choose a category from the list."},
		{"category", "Plumbing", "Choose a category from the list."},
		{"category", "roof", "Choose a category from the list."},
		{"priority", "critical", "Choose a priority: low, normal, high or urgent."},
		{"location", strings.Repeat("x", 61), "The location must be at most 60 characters (it has 61)."},
	}
	before := ts.countRows(t, "issues")
	events := ts.countRows(t, "events")
	for _, tc := range cases {
		t.Run(tc.field+"="+strings.ToValidUTF8(tc.value[:min(len(tc.value), 12)], "?"), func(t *testing.T) {
			form := url.Values{}
			for k, v := range valid {
				form[k] = v
			}
			form.Set(tc.field, tc.value)
			res := c.PostForm("/issues", form)
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			webtest.WantContains(t, res, fmt.Sprintf(`<p class="error" id="%s-error">%s</p>`, tc.field, htmlEscape(tc.message)), `aria-invalid="true"`)

			body, _ := json.Marshal(map[string]string{"title": form.Get("title"), "description": form.Get("description"),
				"category": form.Get("category"), "priority": form.Get("priority"), "location": form.Get("location")})
			if strings.Contains(tc.value, "\xff") {
				return // JSON cannot carry invalid UTF-8: encoding/json sends U+FFFD.
			}
			api := c.JSON(http.MethodPost, "/api/issues", string(body))
			webtest.WantStatus(t, api, http.StatusUnprocessableEntity)
			var got struct {
				Fields map[string]string `json:"fields"`
			}
			json.Unmarshal([]byte(api.Body), &got)
			if got.Fields[tc.field] != tc.message {
				t.Errorf("JSON: got fields %v, want %s: %q", got.Fields, tc.field, tc.message)
			}
		})
	}
	if after := ts.countRows(t, "issues"); after != before {
		t.Errorf("refused reports wrote %d issues", after-before)
	}
	if after := ts.countRows(t, "events"); after != events {
		t.Errorf("refused reports wrote %d events", after-events)
	}
	// A valid report still goes through, so the cases above failed for their field alone.
	webtest.WantStatus(t, c.PostForm("/issues", valid), http.StatusSeeOther)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestStatusAndOtherFormValidation(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	path := fmt.Sprintf("/issues/%d/status", is.ID)
	notes := ts.countRows(t, "issue_notes")
	cases := []struct {
		c       *webtest.Client
		path    string
		form    url.Values
		want    int
		message string
	}{
		{w, path, url.Values{"status": {"done"}}, 422, "Choose a status"},
		{w, path, url.Values{"status": {""}}, 422, "Choose a status"},
		{w, path, url.Values{"status": {"resolved"}}, 422, "An issue cannot move from open to resolved."},
		{w, path, url.Values{"status": {"open"}}, 422, "The issue is already open."},
		{w, path, url.Values{"status": {"rejected"}, "note": {"  "}}, 422, "a rejection needs one"},
		{w, path, url.Values{"status": {"in_progress"}, "note": {strings.Repeat("n", 1001)}}, 422, "The note must be at most 1000 characters"},
		{w, fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {""}}, 422, "The comment is required."},
		{w, fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {strings.Repeat("c", 2001)}}, 422, "at most 2000 characters"},
		{w, "/announcements", url.Values{"title": {"Hi"}, "body": {"x"}}, 422, "The title must be at least 3 characters."},
		{w, "/announcements", url.Values{"title": {"Hello"}, "body": {""}}, 422, "The message is required."},
		{admin, "/announcements", url.Values{"title": {"Hello"}, "body": {"x"}, "hostel_id": {"two"}}, 422, "Choose a hostel from the list."},
		{admin, "/announcements", url.Values{"title": {"Hello"}, "body": {"x"}, "hostel_id": {"999"}}, 422, "Choose a hostel from the list."},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"not-an-email"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, 422, "Enter an email address"},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"management"}, "hostel_id": {"1"}, "password": {"long enough"}}, 422, "Choose student or warden."},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"short"}}, 422, "at least 8 characters"},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"student"}, "password": {"long enough"}}, 422, "exactly one hostel"},
		{admin, "/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"warden"}, "hostel_id": {"1", "x"}, "password": {"long enough"}}, 422, "Choose hostels from the list."},
		{admin, "/hostels", url.Values{"name": {"A"}}, 422, "The name must be at least 2 characters."},
		{admin, "/hostels", url.Values{"name": {"Aravali"}}, 422, "already exists"},
	}
	users, hostels, announcements := ts.countRows(t, "users"), ts.countRows(t, "hostels"), ts.countRows(t, "announcements")
	for _, tc := range cases {
		res := tc.c.PostForm(tc.path, tc.form)
		if res.StatusCode != tc.want || !strings.Contains(res.Body, htmlEscape(tc.message)) {
			t.Errorf("POST %s %v: got %d, want %d with %q", tc.path, tc.form, res.StatusCode, tc.want, tc.message)
		}
	}
	if ts.countRows(t, "issue_notes") != notes || ts.countRows(t, "users") != users ||
		ts.countRows(t, "hostels") != hostels || ts.countRows(t, "announcements") != announcements {
		t.Error("a refused form wrote rows")
	}
	// Filters are checked too.
	for _, q := range []string{"status=nope", "category=roof", "page=0", "page=x", "hostel=x", "q=" + strings.Repeat("q", 101)} {
		res := w.Get("/issues?" + q)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("GET /issues?%s: got %d, want 422", q[:min(len(q), 20)], res.StatusCode)
		}
	}
}

func TestBodiesOverTheLimit(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t, "student1@demo.test")
	before := ts.countRows(t, "issues")
	res := c.PostForm("/issues", url.Values{"title": {"Big"}, "category": {"other"}, "description": {strings.Repeat("x", 1<<20)}})
	webtest.WantStatus(t, res, http.StatusRequestEntityTooLarge)
	api := c.JSON(http.MethodPost, "/api/issues", `{"title":"`+strings.Repeat("x", 1<<20)+`","category":"other"}`)
	webtest.WantStatus(t, api, http.StatusRequestEntityTooLarge)
	if ts.countRows(t, "issues") != before {
		t.Error("an oversized body wrote an issue")
	}
}

func TestAPI(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	res := student.JSON(http.MethodPost, "/api/issues", `{"title":"Fan broken","category":"electrical","priority":"urgent","location":"Room 7"}`)
	webtest.WantStatus(t, res, http.StatusCreated)
	var created struct {
		Issue struct {
			ID       int64  `json:"id"`
			Status   string `json:"status"`
			Priority string `json:"priority"`
			HostelID int64  `json:"hostel_id"`
		} `json:"issue"`
	}
	if err := json.Unmarshal([]byte(res.Body), &created); err != nil {
		t.Fatal(err)
	}
	if created.Issue.Status != "open" || created.Issue.Priority != "urgent" || created.Issue.HostelID != 1 {
		t.Errorf("created: got %+v", created.Issue)
	}
	if strings.Contains(res.Body, "reporter") || strings.Contains(res.Body, "password") {
		t.Errorf("the JSON issue carries reporter details: %s", res.Body)
	}
	// Without the CSRF header, a script in another page cannot post.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/issues", strings.NewReader(`{"title":"CSRF","category":"other"}`))
	req.Header.Set("Content-Type", "application/json")
	if r := student.Do(req); r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusForbidden {
		t.Errorf("POST without the CSRF header: got %d, want 400 or 403", r.StatusCode)
	}
	for _, bad := range []string{`{"title":"x"`, `{"title":"Fan","category":"electrical","extra":1}`, `[]`, `{"title":"Fan","category":"electrical"} {}`} {
		webtest.WantStatus(t, student.JSON(http.MethodPost, "/api/issues", bad), http.StatusBadRequest)
	}
	plain := student.JSON(http.MethodPost, "/api/issues", "")
	webtest.WantStatus(t, plain, http.StatusUnsupportedMediaType)

	list := student.JSON(http.MethodGet, "/api/issues?status=open&category=electrical", "")
	webtest.WantStatus(t, list, http.StatusOK)
	webtest.WantContains(t, list, fmt.Sprintf(`"id":%d`, created.Issue.ID), `"total":`)

	w := ts.login(t, "warden1@demo.test")
	path := fmt.Sprintf("/api/issues/%d/status", created.Issue.ID)
	webtest.WantStatus(t, w.JSON(http.MethodPatch, path, `{"status":"resolved"}`), http.StatusUnprocessableEntity)
	ok := w.JSON(http.MethodPatch, path, `{"status":"in_progress","note":"Electrician called"}`)
	webtest.WantStatus(t, ok, http.StatusOK)
	webtest.WantContains(t, ok, `"status":"in_progress"`)
	webtest.WantStatus(t, student.JSON(http.MethodPatch, path, `{"status":"resolved"}`), http.StatusForbidden)
	webtest.WantStatus(t, ts.login(t, "warden2@demo.test").JSON(http.MethodPatch, path, `{"status":"resolved"}`), http.StatusNotFound)
	anon := ts.client(t)
	r := anon.JSON(http.MethodGet, "/api/issues", "")
	webtest.WantStatus(t, r, http.StatusUnauthorized)
	webtest.WantContains(t, r, `"error":"Sign in first."`)
}
