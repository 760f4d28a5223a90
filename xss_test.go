package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"

	"hostelhub/handlers/webtest"
)

// xssPayloads is the corpus in handlers/testdata/xss.txt (it stays beside
// the handlers' other inputs: the top level has no folders of its own),
// plus payloads that need a real line break (to try to split a stream
// event).
func xssPayloads(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("handlers", "testdata", "xss.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			ps = append(ps, sc.Text())
		}
	}
	return append(ps, "one\nevent: reload\ndata: <script>alert(1)</script>\n\nid: 1", "x\r\n\r\ndata: injected\r")
}

func clip(s string, n int) string {
	for utf8.RuneCountInString(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// shape is a document's structure: every tag and attribute name, in order,
// without text or attribute values. A payload that is inert leaves a page's
// shape exactly as a plain value does.
func shape(doc string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			fmt.Fprintf(&b, "%v<%s", tt, name)
			for hasAttr {
				var key []byte
				key, _, hasAttr = z.TagAttr()
				fmt.Fprintf(&b, " %s", key)
			}
			b.WriteString(">\n")
		}
	}
}

// inert fails t if doc has markup no hostelhub page has: event handler
// attributes, scripts other than the app's own files, javascript: URLs,
// or elements that load or run something.
func inert(t *testing.T, where, doc string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "iframe", "object", "embed", "img", "style", "base", "video", "audio", "math", "template", "keygen", "isindex", "marquee", "input" + "x":
			t.Errorf("%s: a <%s> element", where, tok.Data)
		}
		for _, a := range tok.Attr {
			k, v := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(k, "on") || strings.HasPrefix(k, "hx-on") {
				t.Errorf("%s: <%s %s=%q>", where, tok.Data, a.Key, a.Val)
			}
			if (k == "href" || k == "src" || k == "action" || k == "data" || k == "formaction") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.Contains(v, "evil.example")) {
				t.Errorf("%s: <%s %s=%q>", where, tok.Data, a.Key, a.Val)
			}
		}
		if tok.Data == "script" {
			src := ""
			for _, a := range tok.Attr {
				if a.Key == "src" {
					src = a.Val
				}
			}
			if !strings.HasPrefix(src, "/static/") {
				t.Errorf("%s: a <script> that is not the app's: %q", where, src)
			}
		}
		if tok.Data == "link" || tok.Data == "meta" {
			for _, a := range tok.Attr {
				if a.Key == "http-equiv" || (a.Key == "href" && !strings.HasPrefix(a.Val, "/static/")) {
					t.Errorf("%s: <%s %s=%q>", where, tok.Data, a.Key, a.Val)
				}
			}
		}
	}
}

// Every free-text field comes back inert in pages, htmx fragments, stream
// events and JSON, for a corpus of XSS payloads.
func TestXSSPayloadsComeBackInert(t *testing.T) {
	// One report, comment and announcement per payload: more than a person's hour.
	a := newTestApp(t, withLimits("reports=1000,comments=1000,announcements=1000"))
	student := a.login("student1@demo.test")
	warden := a.login("warden1@demo.test")
	admin := a.login("admin@demo.test")
	stream := warden.Stream("/hostels/1/events", webtest.NoLastEventID)

	// file reports an issue with value in every field it can hold, and
	// comments, announces and names things with it too.
	file := func(i int, value string) int64 {
		t.Helper()
		title := clip(value, 120)
		if utf8.RuneCountInString(strings.TrimSpace(title)) < 3 {
			title = "x: " + title
		}
		body, _ := json.Marshal(map[string]string{"title": title, "description": value, "category": "other", "priority": "high", "location": clip(value, 60)})
		res := student.JSON(http.MethodPost, "/api/issues", string(body))
		webtest.WantStatus(t, res, http.StatusCreated)
		var got struct {
			Issue struct {
				ID    int64  `json:"id"`
				Title string `json:"title"`
			} `json:"issue"`
		}
		if err := json.Unmarshal([]byte(res.Body), &got); err != nil || got.Issue.Title != strings.TrimSpace(title) {
			t.Errorf("payload %d: JSON does not round-trip: %v %q", i, err, got.Issue.Title)
		}
		if strings.ContainsAny(res.Body, "<>") {
			t.Errorf("payload %d: raw < or > in JSON", i)
		}
		id := got.Issue.ID
		webtest.WantStatus(t, warden.PostForm(fmt.Sprintf("/issues/%d/comments", id), url.Values{"body": {clip(value, 2000)}}), http.StatusSeeOther)
		webtest.WantStatus(t, warden.PostForm(fmt.Sprintf("/issues/%d/status", id), url.Values{"status": {"in_progress"}, "note": {clip(value, 1000)}}), http.StatusSeeOther)
		return id
	}

	baseline := file(0, "A plain value")
	baseRow := stream.Next("new_issue")
	basePage := shape(warden.Get(fmt.Sprintf("/issues/%d", baseline)).Body)
	baseStudent := shape(student.Get(fmt.Sprintf("/issues/%d", baseline)).Body)
	stream.Next("issue_comment")
	baseStatus := shape(string(stream.Next("issue_status_updated").Data))

	payloads := xssPayloads(t)
	for i, p := range payloads {
		// Bidirectional controls are refused in every free-text field: the
		// payload is tried, then sent on without them.
		if strings.ContainsFunc(p, isBidiControl) {
			body, _ := json.Marshal(map[string]string{"title": "Reversed", "description": p, "category": "other"})
			res := student.JSON(http.MethodPost, "/api/issues", string(body))
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			webtest.WantContains(t, res, "bidirectional control character")
			p = strings.Map(func(r rune) rune {
				if isBidiControl(r) {
					return -1
				}
				return r
			}, p)
		}
		id := file(i+1, p)
		where := fmt.Sprintf("payload %d %q", i+1, clip(p, 30))
		row := stream.Next("new_issue")
		inert(t, where+" new_issue event", string(row.Data))
		if shape(string(row.Data)) != shape(string(baseRow.Data)) {
			t.Errorf("%s: the new_issue fragment's shape changed:\n%s", where, row.Data)
		}
		if c := stream.Next("issue_comment"); true {
			inert(t, where+" issue_comment event", string(c.Data))
		}
		if s := stream.Next("issue_status_updated"); shape(string(s.Data)) != baseStatus {
			t.Errorf("%s: the status fragment's shape changed:\n%s", where, s.Data)
		}
		page := warden.Get(fmt.Sprintf("/issues/%d", id)).Body
		inert(t, where+" issue page", page)
		if shape(page) != basePage {
			t.Errorf("%s: the warden's issue page changed shape", where)
		}
		if shape(student.Get(fmt.Sprintf("/issues/%d", id)).Body) != baseStudent {
			t.Errorf("%s: the student's issue page changed shape", where)
		}
		// The search box reflects the query back.
		inert(t, where+" search", student.Get("/issues?q="+url.QueryEscape(clip(p, 100))).Body)
		frag := warden.HTMX(http.MethodPost, fmt.Sprintf("/issues/%d/status", id), url.Values{"status": {"closed"}, "note": {clip(p, 1000)}}, "")
		inert(t, where+" htmx error fragment", frag.Body)

		// Announcements, account names and hostel names.
		admin.PostForm("/announcements", url.Values{"title": {clip("An "+p, 120)}, "body": {p}, "hostel_id": {"1"}})
		inert(t, where+" announcement event", string(stream.Next("announcement").Data))
		admin.PostForm("/users", url.Values{"name": {clip(p, 80)}, "email": {fmt.Sprintf("x%d@example.org", i)}, "role": {"student"}, "hostel_id": {"1"}, "password": {"long enough"}})
		admin.PostForm("/hostels", url.Values{"name": {clip(fmt.Sprintf("%d %s", i, p), 60)}})
	}
	for _, path := range []string{"/issues", "/announcements", "/users", "/hostels", "/dashboard"} {
		inert(t, "admin "+path, admin.Get(path).Body)
	}
	inert(t, "student /announcements", student.Get("/announcements").Body)
	for _, path := range []string{"/api/issues", "/api/dashboard/summary"} {
		body := admin.JSON(http.MethodGet, path, "").Body
		if strings.ContainsAny(body, "<>") || !json.Valid([]byte(body)) {
			t.Errorf("%s: raw markup or invalid JSON", path)
		}
	}
	t.Logf("harden: XSS: %d payloads through every free-text field; pages, fragments, stream events and JSON inert", len(payloads))
}

// isBidiControl reports the embedding, override and isolate controls,
// which no free-text field takes.
func isBidiControl(r rune) bool {
	return '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}
