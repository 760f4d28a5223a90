package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"hostelhub/handlers/webtest"
)

// A refused value comes back in its form no longer than the field may be,
// and as text: never a NUL byte or a byte that is not UTF-8, on any form.
func TestRefusedValuesAreNotEchoedWhole(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	huge := strings.Repeat("x", 900<<10)
	junk := "a\x00b\xffc\x00" + strings.Repeat("y", 10)
	status := fmt.Sprintf("/issues/%d/status", is.ID)
	cases := []struct {
		name  string
		c     *webtest.Client
		path  string
		form  url.Values
		field string
		max   int
		htmx  bool
	}{
		{"report title", student, "/issues", url.Values{"category": {"other"}}, "title", 120, false},
		{"report description", student, "/issues", url.Values{"title": {"Tap"}, "category": {"other"}}, "description", 4000, false},
		{"report location", student, "/issues", url.Values{"title": {"Tap"}, "category": {"other"}}, "location", 60, false},
		{"status note", w, status, url.Values{"status": {"in_progress"}}, "note", 1000, false},
		{"status note (htmx)", w, status, url.Values{"status": {"in_progress"}}, "note", 1000, true},
		{"comment", w, fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{}, "body", 2000, false},
		{"announcement title", w, "/announcements", url.Values{"body": {"x"}}, "title", 120, false},
		{"announcement body", w, "/announcements", url.Values{"title": {"Water off"}}, "body", 4000, false},
		{"user name", admin, "/users", url.Values{"email": {"e@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "name", 80, false},
		{"user email", admin, "/users", url.Values{"name": {"E"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "email", 254, false},
		{"user room", admin, "/users", url.Values{"name": {"E"}, "email": {"e@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "room", 20, false},
		{"new hostel", admin, "/hostels", url.Values{}, "name", 60, false},
		{"login email", ts.client(t), "/login", url.Values{"password": {"wrong"}}, "email", 254, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			baseline := 0 // the size of the answer to a short refused value
			for _, value := range []string{junk, huge} {
				form := url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				form.Set(tc.field, value)
				var res webtest.Response
				if tc.htmx {
					res = tc.c.HTMX(http.MethodPost, tc.path, form, "issue-"+itoa(is.ID))
				} else {
					res = tc.c.PostForm(tc.path, form)
				}
				if res.StatusCode < 400 {
					t.Fatalf("POST %s: got %d, want a refusal", tc.path, res.StatusCode)
				}
				if value == huge {
					if limit := baseline + 4*tc.max + 1024; len(res.Body) > limit {
						t.Errorf("POST %s with %d bytes: the answer is %d bytes, want at most %d", tc.path, len(huge), len(res.Body), limit)
					}
					if strings.Contains(res.Body, strings.Repeat("x", tc.max+1)) {
						t.Errorf("POST %s: the answer shows more than %d characters of %s", tc.path, tc.max, tc.field)
					}
					if !strings.Contains(res.Body, strings.Repeat("x", tc.max)) {
						t.Errorf("POST %s: the answer does not keep the first %d characters of %s", tc.path, tc.max, tc.field)
					}
				}
				if value == junk {
					baseline = len(res.Body)
				}
				if strings.ContainsRune(res.Body, 0) || !utf8.ValidString(res.Body) {
					t.Errorf("POST %s with %q: the answer has a NUL or bytes that are not UTF-8", tc.path, value[:min(len(value), 12)])
				}
			}
		})
	}
}

// No answer carries a NUL byte, whatever field or query it was sent in.
func TestNoNULInAnyAnswer(t *testing.T) {
	ts := newTestServer(t)
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	nul := "x\x00y"
	is := ts.issueOf(t, 1, "open", 0)
	for _, q := range []string{"status", "category", "q", "hostel", "page"} {
		for _, c := range []*webtest.Client{w, admin, ts.client(t)} {
			res := c.Get("/issues?" + q + "=" + url.QueryEscape(nul))
			if strings.ContainsRune(res.Body, 0) {
				t.Errorf("GET /issues?%s=x%%00y: the answer has a NUL", q)
			}
			res = c.JSON(http.MethodGet, "/api/issues?"+q+"="+url.QueryEscape(nul), "")
			if strings.ContainsRune(res.Body, 0) {
				t.Errorf("GET /api/issues?%s=x%%00y: the answer has a NUL", q)
			}
		}
	}
	for _, path := range []string{"/issues/" + url.PathEscape(nul), "/x%00", "/static/%00", "/api/issues/%00/status"} {
		if res := w.Get(path); strings.ContainsRune(res.Body, 0) {
			t.Errorf("GET %s: the answer has a NUL", path)
		}
	}
	for _, body := range []string{`{"title":"a\u0000b","category":"other"}`, "{\"title\":\"a\x00b\"}", `{"title":"Tap","category":"x\u0000"}`} {
		if res := w.JSON(http.MethodPost, "/api/issues", body); strings.ContainsRune(res.Body, 0) {
			t.Errorf("POST /api/issues %q: the answer has a NUL", body)
		}
		if res := w.JSON(http.MethodPatch, fmt.Sprintf("/api/issues/%d/status", is.ID), strings.Replace(body, "title", "status", 1)); strings.ContainsRune(res.Body, 0) {
			t.Errorf("PATCH status %q: the answer has a NUL", body)
		}
	}
}
