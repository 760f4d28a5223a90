package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// An id is digits only: "+340" or " 340" is no more issue 340 than "abc"
// is. In a path it is not found; in a form it is refused with a message;
// in the list's filter it is a message too.
func TestIDsAreDigitsOnly(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	id := itoa(is.ID)
	target := ts.user(t, "resident1.5@demo.test")
	// The plain id works, so the refusals below are for the sign alone.
	webtest.WantStatus(t, w.Get("/issues/"+id), http.StatusOK)
	for _, bad := range []string{"+" + id, "%2B" + id, "-" + id, id + "x", "0x1", "%20" + id, id + "%20", "1e2", "9999999999999999999999"} {
		for _, tc := range []struct {
			c      *webtest.Client
			method string
			path   string
			form   url.Values
		}{
			{w, http.MethodGet, "/issues/" + bad, nil},
			{w, http.MethodPost, "/issues/" + bad + "/status", url.Values{"status": {"in_progress"}}},
			{w, http.MethodPost, "/issues/" + bad + "/comments", url.Values{"body": {"A comment"}}},
			{student, http.MethodPost, "/issues/" + bad + "/metoo", url.Values{}},
			{admin, http.MethodPost, "/users/" + strings.Replace(bad, id, itoa(target.ID), 1), url.Values{"hostel_id": {"1"}}},
			{admin, http.MethodPost, "/hostels/" + strings.Replace(bad, id, "3", 1), url.Values{"name": {"Renamed"}}},
		} {
			var res webtest.Response
			if tc.method == http.MethodGet {
				res = tc.c.Get(tc.path)
			} else {
				res = tc.c.PostForm(tc.path, tc.form)
			}
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s: got %d, want 404", tc.method, tc.path, res.StatusCode)
			}
		}
		path := "/api/issues/" + bad + "/status"
		if res := w.JSON(http.MethodPatch, path, `{"status":"in_progress"}`); res.StatusCode != http.StatusNotFound {
			t.Errorf("PATCH %s: got %d, want 404", path, res.StatusCode)
		}
		path = "/hostels/" + strings.Replace(bad, id, "1", 1) + "/events"
		if res := w.OpenStream(path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, res.StatusCode)
		}
	}
	if got, _ := ts.store.Issue(t.Context(), is.ID); got.Status != "open" {
		t.Errorf("a refused id moved the issue to %s", got.Status)
	}

	// In forms and the filter: a message.
	for _, bad := range []string{"+1", " 1", "1 ", "-1", "0x1", "1.0", "01a"} {
		res := student.PostForm("/issues", url.Values{"title": {"Leaking tap"}, "category": {"plumbing"}, "hostel_id": {bad}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, "Choose a hostel from the list.")
		res = admin.PostForm("/announcements", url.Values{"title": {"Hello"}, "body": {"x"}, "hostel_id": {bad}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, "Choose a hostel from the list.")
		res = admin.PostForm("/users", url.Values{"name": {"A"}, "email": {"a@example.org"}, "role": {"student"}, "hostel_id": {bad}, "password": {"long enough"}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, "Choose hostels from the list.")
		res = admin.PostForm("/users/"+itoa(target.ID), url.Values{"hostel_id": {bad}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, "Choose hostels from the list.")
		res = w.Get("/issues?hostel=" + url.QueryEscape(bad))
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, "The hostel must be a number.")
	}
	if u := ts.user(t, "resident1.5@demo.test"); len(u.HostelIDs) != 1 || u.HostelIDs[0] != 1 {
		t.Errorf("a refused form moved the account to %v", u.HostelIDs)
	}
}
