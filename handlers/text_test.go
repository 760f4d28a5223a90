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

// fieldMessage is the message beside a field, as a page shows it.
func fieldMessage(field, msg string) string {
	return fmt.Sprintf(`<p class="error" id="%s-error">%s</p>`, field, htmlEscape(msg))
}

// A text field needs a character a reader can see: a value made only of
// invisible characters (format characters such as U+200B, spaces of any
// kind) is "required" in a required field and refused in an optional one.
// Invisible characters inside visible text (a ZWJ emoji sequence) pass.
func TestTextNeedsAVisibleCharacter(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t, "student1@demo.test")
	valid := url.Values{"title": {"Leaking tap"}, "description": {"Drips"}, "category": {"plumbing"}, "priority": {"high"}, "location": {"Room 101"}}
	invisible := map[string]string{
		"U+200B zero-width space":        "\u200b\u200b\u200b",
		"U+200C zero-width non-joiner":   "\u200c\u200c\u200c",
		"U+200D zero-width joiner":       "\u200d\u200d\u200d",
		"U+2060 word joiner":             "\u2060\u2060\u2060",
		"U+FEFF zero-width no-break":     "\ufeff\ufeff\ufeff",
		"U+00A0 no-break space":          "\u00a0\u00a0\u00a0",
		"U+3000 ideographic space":       "\u3000\u3000\u3000",
		"U+2800 braille blank":           "\u2800\u2800\u2800",
		"U+3164 hangul filler":           "\u3164\u3164\u3164",
		"U+034F combining grapheme join": "\u034f\u034f\u034f",
		"a mix":                          "\u200b \u00a0\u3000\u2060\ufeff\u200d\u180e",
	}
	before := ts.countRows(t, "issues")
	for name, value := range invisible {
		t.Run(name, func(t *testing.T) {
			cases := []struct{ field, message string }{
				{"title", "The title is required."},
				{"location", "The location has no visible character: type some text or leave it empty."},
				{"description", "The description has no visible character: type some text or leave it empty."},
			}
			for _, tc := range cases {
				if tc.field != "title" && strings.TrimSpace(value) == "" {
					continue // spaces are trimmed: an optional field of spaces is empty (below)
				}
				form := url.Values{}
				for k, v := range valid {
					form[k] = v
				}
				form.Set(tc.field, value)
				res := c.PostForm("/issues", form)
				webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
				webtest.WantContains(t, res, fieldMessage(tc.field, tc.message))

				body, _ := json.Marshal(map[string]string{"title": form.Get("title"), "description": form.Get("description"),
					"category": "plumbing", "location": form.Get("location")})
				api := c.JSON(http.MethodPost, "/api/issues", string(body))
				webtest.WantStatus(t, api, http.StatusUnprocessableEntity)
				var got struct {
					Fields map[string]string `json:"fields"`
				}
				json.Unmarshal([]byte(api.Body), &got)
				if got.Fields[tc.field] != tc.message {
					t.Errorf("JSON %s: got fields %v, want %q", tc.field, got.Fields, tc.message)
				}
			}
		})
	}
	// Spaces of every kind are trimmed: an optional field of spaces is empty.
	res := c.PostForm("/issues", url.Values{"title": {"Leaking tap"}, "category": {"other"}, "location": {"\u00a0\u3000 "}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
	before++
	if page := c.Get(res.Header.Get("Location")); strings.Contains(page.Body, "\u00a0\u3000") {
		t.Error("a location of spaces was kept")
	}
	// Invisible characters pad nothing: the minimum counts what can be seen.
	form := url.Values{"title": {"ab\u200b\u200b\u200b"}, "category": {"other"}}
	res = c.PostForm("/issues", form)
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	webtest.WantContains(t, res, fieldMessage("title", "The title must be at least 3 characters."))
	if n := ts.countRows(t, "issues"); n != before {
		t.Errorf("refused reports wrote %d issues", n-before)
	}

	// Other forms' free text follows the same rule.
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	others := []struct {
		c       *webtest.Client
		path    string
		form    url.Values
		message string
	}{
		{w, fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {"\u200b\u200b"}}, "The comment is required."},
		{w, fmt.Sprintf("/issues/%d/status", is.ID), url.Values{"status": {"in_progress"}, "note": {"\u2060"}}, "The note has no visible character: type some text or leave it empty."},
		{w, fmt.Sprintf("/issues/%d/status", is.ID), url.Values{"status": {"rejected"}, "note": {"\ufeff\u200b"}}, "The note has no visible character"},
		{w, "/announcements", url.Values{"title": {"\u200b\u200b\u200b"}, "body": {"x"}}, "The title is required."},
		{w, "/announcements", url.Values{"title": {"Water off"}, "body": {"\u3000\u200c"}}, "The message is required."},
		{admin, "/users", url.Values{"name": {"\u200b"}, "email": {"zw@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "The name is required."},
		{admin, "/users", url.Values{"name": {"Zed"}, "email": {"zw@example.org"}, "role": {"student"}, "room": {"\u200b"}, "hostel_id": {"1"}, "password": {"long enough"}}, "The room has no visible character"},
		{admin, "/hostels", url.Values{"name": {"\u200b\u200b"}}, "The name is required."},
		{admin, "/users", url.Values{"name": {"Zed"}, "email": {"z\u200bw@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "Enter an email address like name@example.org."},
		{admin, "/users", url.Values{"name": {"Zed"}, "email": {"\u202ezw@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, "Enter an email address like name@example.org."},
	}
	rows := func() int {
		return ts.countRows(t, "issue_notes") + ts.countRows(t, "announcements") + ts.countRows(t, "users") + ts.countRows(t, "hostels")
	}
	n := rows()
	for _, tc := range others {
		res := tc.c.PostForm(tc.path, tc.form)
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, htmlEscape(tc.message)) {
			t.Errorf("POST %s %q: got %d, want 422 with %q", tc.path, tc.form, res.StatusCode, tc.message)
		}
	}
	if rows() != n {
		t.Error("a refused form wrote rows")
	}
	if res := w.Get("/issues?q=%E2%80%8B"); res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a search of only U+200B: got %d, want 422", res.StatusCode)
	}

	// Visible text with invisible characters inside passes, and is kept as typed.
	for _, title := range []string{"Family room 👨\u200d👩\u200d👧\u200d👦 fan", "👩\u200d🔧👩\u200d🔧👩\u200d🔧", "नमस्ते\u200d tap", "\u00a0Tap\u00a0leak\u00a0"} {
		res := c.PostForm("/issues", url.Values{"title": {title}, "category": {"other"}, "location": {"Room\u200b 4"}})
		webtest.WantStatus(t, res, http.StatusSeeOther)
		page := c.Get(res.Header.Get("Location"))
		webtest.WantContains(t, page, strings.TrimSpace(title))
	}
}

// Bidirectional override and isolate controls reorder what a reader sees
// ("abc\u202Egnp.exe" shows as "abcexe.png"): no free-text field takes them.
func TestBidiControlsAreRefused(t *testing.T) {
	ts := newTestServer(t)
	student := ts.login(t, "student1@demo.test")
	w := ts.login(t, "warden1@demo.test")
	admin := ts.login(t, "admin@demo.test")
	is := ts.issueOf(t, 1, "open", 0)
	tables := []string{"issues", "issue_notes", "announcements", "users", "hostels"}
	count := func() (n int) {
		for _, tb := range tables {
			n += ts.countRows(t, tb)
		}
		return n
	}
	before := count()
	for _, r := range []rune{0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069} {
		bad := "abc" + string(r) + "gnp.exe"
		msg := func(name string) string {
			return fmt.Sprintf("%s has a bidirectional control character (U+%04X): remove it.", name, r)
		}
		report := url.Values{"title": {"Leaking tap"}, "category": {"plumbing"}}
		cases := []struct {
			c       *webtest.Client
			path    string
			field   string
			form    url.Values
			message string
		}{
			{student, "/issues", "title", report, msg("The title")},
			{student, "/issues", "description", report, msg("The description")},
			{student, "/issues", "location", report, msg("The location")},
			{w, fmt.Sprintf("/issues/%d/status", is.ID), "note", url.Values{"status": {"in_progress"}}, msg("The note")},
			{w, fmt.Sprintf("/issues/%d/comments", is.ID), "body", url.Values{}, msg("The comment")},
			{w, "/announcements", "title", url.Values{"body": {"Water off"}}, msg("The title")},
			{w, "/announcements", "body", url.Values{"title": {"Water"}}, msg("The message")},
			{admin, "/users", "name", url.Values{"email": {"b@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, msg("The name")},
			{admin, "/users", "room", url.Values{"name": {"B"}, "email": {"b@example.org"}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}}, msg("The room")},
			{admin, "/hostels", "name", url.Values{}, msg("The name")},
			{admin, "/hostels/3", "name", url.Values{}, msg("The name")},
		}
		for _, tc := range cases {
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			form.Set(tc.field, bad)
			res := tc.c.PostForm(tc.path, form)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(res.Body, htmlEscape(tc.message)) {
				t.Errorf("POST %s %s=%q: got %d, want 422 with %q", tc.path, tc.field, bad, res.StatusCode, tc.message)
			}
		}
		api := student.JSON(http.MethodPost, "/api/issues", fmt.Sprintf(`{"title":"abc\u%04Xgnp.exe","category":"other"}`, r))
		webtest.WantStatus(t, api, http.StatusUnprocessableEntity)
		webtest.WantContains(t, api, "bidirectional control character")
		if res := w.Get("/issues?q=" + url.QueryEscape(bad)); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("a search with U+%04X: got %d, want 422", r, res.StatusCode)
		}
	}
	if n := count(); n != before {
		t.Errorf("refused forms wrote %d rows", n-before)
	}
	// Marks that only hint at direction (LRM, RLM, ALM) are text, as in Arabic or Hebrew.
	res := student.PostForm("/issues", url.Values{"title": {"שלום\u200f tap\u200e \u061c"}, "category": {"other"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
}

// Control characters other than tab and line breaks are not text.
func TestControlCharactersAreNotText(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login(t, "student1@demo.test")
	for _, bad := range []string{"bad\x01ctl", "esc\x1b[31mred", "del\x7f", "c1\u0085x\u009b"} {
		res := c.PostForm("/issues", url.Values{"title": {"Leaking tap"}, "description": {bad}, "category": {"other"}})
		webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
		webtest.WantContains(t, res, fieldMessage("description", "The description has characters that are not text."))
	}
	res := c.PostForm("/issues", url.Values{"title": {"Leaking tap"}, "description": {"line one\r\nline\ttwo\n"}, "category": {"other"}})
	webtest.WantStatus(t, res, http.StatusSeeOther)
}
