package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"hostelhub/store"
)

// checkAccepted fails t if a stored issue breaks a rule validation enforces.
func checkAccepted(t *testing.T, ts *testServer, location string) {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(strings.TrimPrefix(location, "/issues/"), &id); err != nil {
		t.Fatalf("Location %q", location)
	}
	is, err := ts.store.Issue(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := utf8.RuneCountInString
	if n(is.Title) < 3 || n(is.Title) > 120 || n(is.Description) > 4000 || n(is.Location) > 60 ||
		!store.ValidCategory(is.Category) || is.Priority < store.Low || is.Priority > store.Urgent ||
		!utf8.ValidString(is.Title+is.Description+is.Location) || strings.ContainsRune(is.Title+is.Description+is.Location, 0) {
		t.Fatalf("stored an issue that breaks the rules: %+v", is)
	}
}

// Any form body: the answer is a redirect (accepted, and within the rules)
// or a clean refusal, never a 5xx.
func FuzzReportForm(f *testing.F) {
	for _, seed := range []string{
		"title=Leaking+tap&category=plumbing&priority=high&location=Room+1",
		"title=ab&category=plumbing",
		"title=%00%00%00&category=other",
		"title=ok+title&category=other&category=plumbing&priority=urgent&priority=low",
		"title=%ff%fe%fd&category=water",
		"title=x&description=" + strings.Repeat("d", 5000),
		"&&&===;;;",
		"hostel_id=2&title=Other+hostel&category=other",
		"hostel_id=abc&title=Bad+hostel&category=other",
	} {
		f.Add([]byte(seed))
	}
	ts := newTestServer(f)
	c := ts.login(f, "student1@demo.test")
	token := c.CSRF() // read now: f's methods may not be called inside the target
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/issues", bytes.NewReader(append([]byte("_csrf="+token+"&"), body...)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusSeeOther:
			checkAccepted(t, ts, res.Header.Get("Location"))
		case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("body %q: got %d", body, res.StatusCode)
		}
	})
}

// Any JSON body: 201 within the rules, or a clean 4xx.
func FuzzReportJSON(f *testing.F) {
	for _, seed := range []string{
		`{"title":"Fan broken","category":"electrical","priority":"urgent"}`,
		`{"title":"Fan","category":"electrical","hostel_id":2}`,
		`{"title":123}`,
		`{"title":"a\u0000b c","category":"other"}`,
		`{"title":"` + strings.Repeat("é", 200) + `","category":"other"}`,
		`[]`, `null`, `{"title":"x"} trailing`, `{"unknown":1}`,
	} {
		f.Add([]byte(seed))
	}
	ts := newTestServer(f)
	c := ts.login(f, "student1@demo.test")
	token := c.CSRF() // read now: f's methods may not be called inside the target
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/issues", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", token)
		res, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Issue struct {
				ID int64 `json:"id"`
			} `json:"issue"`
			Error string `json:"error"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatalf("body %q: the answer is not JSON: %v", body, err)
		}
		switch res.StatusCode {
		case http.StatusCreated:
			checkAccepted(t, ts, "/issues/"+itoa(out.Issue.ID))
		case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			if out.Error == "" {
				t.Fatalf("body %q: %d without a message", body, res.StatusCode)
			}
		default:
			t.Fatalf("body %q: got %d", body, res.StatusCode)
		}
	})
}

// Any status form on an issue: a redirect that followed the workflow, or a
// clean refusal.
func FuzzStatusForm(f *testing.F) {
	for _, seed := range []string{"status=in_progress", "status=rejected&note=dup", "status=rejected", "status=closed", "status=OPEN", "status=resolved&note=" + strings.Repeat("n", 1200)} {
		f.Add([]byte(seed))
	}
	ts := newTestServer(f)
	c := ts.login(f, "warden1@demo.test")
	token := c.CSRF() // read now: f's methods may not be called inside the target
	st := ts.user(f, "student1@demo.test")
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := ts.store.CreateIssue(context.Background(), store.NewIssue{HostelID: 1, ReporterID: st.ID, Title: "Fuzzed", Category: "other"})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/issues/"+itoa(id)+"/status", bytes.NewReader(append([]byte("_csrf="+token+"&"), body...)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		is, _ := ts.store.Issue(context.Background(), id)
		switch res.StatusCode {
		case http.StatusSeeOther:
			if store.CheckTransition(store.StatusOpen, is.Status) != nil {
				t.Fatalf("body %q: open moved to %s", body, is.Status)
			}
		case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			if is.Status != store.StatusOpen {
				t.Fatalf("body %q: refused, yet the status is %s", body, is.Status)
			}
		default:
			t.Fatalf("body %q: got %d", body, res.StatusCode)
		}
	})
}
