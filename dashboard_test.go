package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store/redistest"
)

func TestDashboardCacheFollowsChanges(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "redis"}[shared], func(t *testing.T) {
			var opts []appOption
			if shared {
				opts = append(opts, withRedis())
			}
			a := newTestApp(t, opts...)
			admin := a.login("admin@demo.test")
			xcache := func(path string) string {
				t.Helper()
				res := admin.Get(path)
				webtest.WantStatus(t, res, http.StatusOK)
				return res.Header.Get("X-Cache")
			}
			steps := []struct {
				do   func()
				want string
				why  string
			}{
				{nil, "MISS", "first view"},
				{nil, "HIT", "second view"},
				{func() {
					a.login("student1@demo.test").PostForm("/issues", url.Values{"title": {"Broken fan"}, "category": {"electrical"}})
				}, "MISS", "after a report"},
				{nil, "HIT", "view after that"},
				{func() {
					is := a.issueOf(1, "open", 0)
					a.login("warden1@demo.test").PostForm(fmt.Sprintf("/issues/%d/status", is.ID), url.Values{"status": {"in_progress"}})
				}, "MISS", "after a status change"},
				{func() {
					is := a.issueOf(1, "open", 0)
					a.login("warden1@demo.test").PostForm(fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {"noted"}})
				}, "HIT", "after a comment, which changes no figure"},
				{func() { admin.PostForm("/hostels/2", url.Values{"name": {"Nilgiri House"}}) }, "MISS", "after a hostel is renamed"},
			}
			for _, st := range steps {
				if st.do != nil {
					st.do()
				}
				if got := xcache("/dashboard"); got != st.want {
					t.Fatalf("%s: X-Cache %s, want %s", st.why, got, st.want)
				}
			}
			if !strings.Contains(admin.Get("/dashboard").Body, "Nilgiri House") {
				t.Error("the renamed hostel is not on the dashboard")
			}
			// The JSON summary is its own entry, with the same rules.
			if got := admin.Get("/api/dashboard/summary").Header.Get("X-Cache"); got != "MISS" {
				t.Errorf("first JSON view: %s", got)
			}
			if got := admin.Get("/api/dashboard/summary").Header.Get("X-Cache"); got != "HIT" {
				t.Errorf("second JSON view: %s", got)
			}
			if shared {
				ctx := context.Background()
				epoch, err := a.store().Epoch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				// The app's keys: hostelhub:{epoch}:, then the cache's own.
				key := fmt.Sprintf("hostelhub:%s:dashboard:v%d:html", epoch, a.app.dashboard.Version())
				ttl, err := redistest.Client(t).TTL(ctx, key).Result()
				if err != nil || ttl < 299*time.Second || ttl > 300*time.Second {
					t.Errorf("TTL of %s: got %v %v, want 300 s", key, ttl, err)
				}
			}
		})
	}
}

func TestDashboardStampedeRendersOnce(t *testing.T) {
	a := newTestApp(t, withRedis())
	admin := a.login("admin@demo.test")
	admin.Get("/issues") // a token, and a warm connection pool
	var wg sync.WaitGroup
	statuses := make(chan int, 200)
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodGet, a.Base+"/api/dashboard/summary", nil)
			res, err := admin.HTTP.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("got %d, want 200", s)
		}
	}
	if renders := a.metric("hostelhub_dashboard_cache_renders_total"); renders != 1 {
		t.Errorf("200 concurrent requests on a cold key rendered %v times, want 1", renders)
	}
}
