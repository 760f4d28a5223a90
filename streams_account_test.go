package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// A stream belongs to a session: signing out, the session expiring, the
// account being disabled, or its hostels changing ends it at once, on
// every instance, and it carries nothing committed after the change; the
// last it carries is a reload, so the page asks the server what it may
// show now.
func TestStreamsFollowTheirAccount(t *testing.T) {
	for _, where := range []string{"one instance", "two instances"} {
		t.Run(where, func(t *testing.T) {
			opts := []appOption{withSessionLifetime(6 * time.Second)}
			if where == "two instances" {
				opts = append(opts, withRedis())
			}
			a := newTestApp(t, opts...)
			b := a
			if where == "two instances" {
				b = startApp(t, a.cfg)
			}
			admin := func() *webtest.Client { return a.login("admin@demo.test") } // a sign-in outlives no test
			changes := []struct {
				name   string
				change func(t *testing.T, warden *webtest.Client, id int64)
			}{
				{"signed out", func(t *testing.T, warden *webtest.Client, _ int64) {
					if res := warden.PostForm("/logout", nil); res.StatusCode != http.StatusSeeOther {
						t.Fatalf("sign out: %d", res.StatusCode)
					}
				}},
				{"disabled", func(t *testing.T, _ *webtest.Client, id int64) {
					if res := admin().PostForm(userPath(id), url.Values{"hostel_id": {"1"}, "disabled": {"on"}}); res.StatusCode != http.StatusSeeOther {
						t.Fatalf("disable: %d", res.StatusCode)
					}
				}},
				{"moved to another hostel", func(t *testing.T, _ *webtest.Client, id int64) {
					if res := admin().PostForm(userPath(id), url.Values{"hostel_id": {"2"}}); res.StatusCode != http.StatusSeeOther {
						t.Fatalf("move: %d", res.StatusCode)
					}
				}},
				{"session expired", func(t *testing.T, _ *webtest.Client, _ int64) {}},
			}
			for i, ch := range changes {
				t.Run(ch.name, func(t *testing.T) {
					// A warden of hostels 1 and 2, so that a move to 2 alone still sees hostel 2's events.
					email := []string{"w-out@demo.test", "w-off@demo.test", "w-move@demo.test", "w-exp@demo.test"}[i]
					id, err := a.store().CreateUser(context.Background(), store.NewUser{Email: email, Name: "Warden " + ch.name,
						Password: webtest.DemoPassword, Role: store.Warden, HostelIDs: []int64{1, 2}})
					if err != nil {
						t.Fatal(err)
					}
					warden := a.login(email)
					stream := warden.Beside(b.Base).Stream("/events", webtest.NoLastEventID)
					if ch.name != "session expired" {
						ch.change(t, warden, id)
					}
					start := time.Now()
					// Once the change is committed, nothing after it reaches the stream.
					reportIn(t, a, "student1@demo.test", "After the change "+ch.name)
					reportIn(t, a, "student2@demo.test", "After the change in hostel 2 "+ch.name)
					within := time.Second
					if ch.name == "session expired" {
						within = 8 * time.Second
					}
					deadline := time.After(within)
					for {
						select {
						case f, ok := <-stream.Frames:
							if !ok {
								t.Fatalf("the stream ended without the reload frame")
							}
							if strings.Contains(string(f.Data), "After the change") && ch.name != "session expired" {
								t.Fatalf("an event committed after the change reached the stream: %.100s", f.Data)
							}
							if f.Event != "reload" {
								continue
							}
							t.Logf("%s on %s: the stream ended %v after the change", ch.name, where, time.Since(start).Round(time.Millisecond))
							if f, ok := <-stream.Frames; ok {
								t.Fatalf("after the reload frame: %s", f)
							}
							return
						case <-deadline:
							t.Fatalf("the stream outlived its account's change by %v", within)
						}
					}
				})
			}
		})
	}
}

func userPath(id int64) string { return "/users/" + strconv.FormatInt(id, 10) }

// reportIn files an issue as a demo student, through the form.
func reportIn(t *testing.T, a *testApp, email, title string) {
	t.Helper()
	res := a.login(email).PostForm("/issues", url.Values{"title": {title}, "category": {"water"}})
	if res.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/issues/\d+$`).MatchString(res.Header.Get("Location")) {
		t.Fatalf("report %q: %d %s", title, res.StatusCode, res.Header.Get("Location"))
	}
}
