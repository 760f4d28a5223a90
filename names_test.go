package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// A student never sees another student's name, on any surface: the list,
// the page and its history, the stream's rows and history lines,
// the JSON. Staff see it; the student who wrote sees "You".
func TestStudentsSeeNoOtherStudentsName(t *testing.T) {
	a := newTestApp(t)
	const name = "Quokkaname Zyxwv" // appears nowhere else
	if _, err := a.store().CreateUser(context.Background(), store.NewUser{Email: "q@demo.test", Name: name,
		Password: webtest.DemoPassword, Role: store.Student, Room: "107", HostelIDs: []int64{1}}); err != nil {
		t.Fatal(err)
	}
	other, warden, writer := a.login("student1@demo.test"), a.login("warden1@demo.test"), a.login("q@demo.test")
	stream := other.Stream("/hostels/1/events", webtest.NoLastEventID)

	res := writer.PostForm("/issues", url.Values{"title": {"Window will not shut"}, "category": {"furniture"}})
	var id int64
	fmt.Sscanf(res.Header.Get("Location"), "/issues/%d", &id)
	if id == 0 {
		t.Fatalf("report: %d", res.StatusCode)
	}
	path := fmt.Sprintf("/issues/%d", id)
	writer.PostForm(path+"/comments", url.Values{"body": {"It rattles at night."}})
	warden.HTMX(http.MethodPost, path+"/status", url.Values{"status": {"in_progress"}, "note": {"Carpenter called"}}, "")
	var seen strings.Builder
	for end := time.After(500 * time.Millisecond); ; {
		select {
		case f := <-stream.Frames:
			seen.WriteString(f.Event + " " + string(f.Data) + "\n")
			continue
		case <-end:
		}
		break
	}

	surfaces := map[string]string{
		"the list":         other.Get("/issues").Body,
		"the issue's page": other.Get(path).Body,
		"the JSON list":    other.Get("/api/issues").Body,
		"the stream":       seen.String(),
	}
	for where, body := range surfaces {
		if strings.Contains(body, name) {
			t.Errorf("another student sees the name on %s", where)
		}
	}
	if !strings.Contains(surfaces["the issue's page"], "A resident") || !strings.Contains(surfaces["the stream"], "A resident") {
		t.Error("another student's history does not say \"A resident\"")
	}
	if !strings.Contains(seen.String(), "issue_comment") || !strings.Contains(seen.String(), "issue_status_updated") {
		t.Fatalf("the stream carried no comment or status change:\n%.500s", seen.String())
	}
	if page := warden.Get(path).Body; !strings.Contains(page, name) {
		t.Error("the warden does not see who reported")
	}
	page := writer.Get(path).Body
	i := strings.Index(page, fmt.Sprintf(`id="history-%d"`, id))
	if i < 0 {
		t.Fatal("no history on the writer's page")
	}
	if h := page[i:]; strings.Contains(h, name) || !strings.Contains(h, "<strong>You</strong>") {
		t.Error("the writer does not see themselves as \"You\" in the history")
	}
}
