package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"hostelhub/store/cache"
	"hostelhub/store/redistest"
)

func TestDashboardCacheFollowsChanges(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-process", true: "redis"}[withRedis], func(t *testing.T) {
			var rdb *redis.Client
			prefix := fmt.Sprintf("hostelhub-test-%d:", time.Now().UnixNano())
			if withRedis {
				rdb = redistest.Client(t)
			}
			reg := prometheus.NewRegistry()
			opts := cache.Options{Prefix: prefix, Registerer: reg}
			if rdb != nil {
				opts.Redis = rdb
			}
			dc := cache.New(opts)
			ts := newTestServer(t, func(o *testOptions) { o.cache = dc })
			admin := ts.login(t, "admin@demo.test")
			xcache := func(path string) string {
				t.Helper()
				res := admin.get(path)
				wantStatus(t, res, http.StatusOK)
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
					ts.login(t, "student1@demo.test").postForm("/issues", url.Values{"title": {"Broken fan"}, "category": {"electrical"}})
				}, "MISS", "after a report"},
				{nil, "HIT", "view after that"},
				{func() {
					is := ts.issueOf(t, 1, "open", 0)
					ts.login(t, "warden1@demo.test").postForm(fmt.Sprintf("/issues/%d/status", is.ID), url.Values{"status": {"in_progress"}})
				}, "MISS", "after a status change"},
				{func() {
					is := ts.issueOf(t, 1, "open", 0)
					ts.login(t, "warden1@demo.test").postForm(fmt.Sprintf("/issues/%d/comments", is.ID), url.Values{"body": {"noted"}})
				}, "HIT", "after a comment, which changes no figure"},
				{func() { admin.postForm("/hostels/2", url.Values{"name": {"Nilgiri House"}}) }, "MISS", "after a hostel is renamed"},
			}
			for _, st := range steps {
				if st.do != nil {
					st.do()
				}
				if got := xcache("/dashboard"); got != st.want {
					t.Fatalf("%s: X-Cache %s, want %s", st.why, got, st.want)
				}
			}
			if !strings.Contains(admin.get("/dashboard").Body, "Nilgiri House") {
				t.Error("the renamed hostel is not on the dashboard")
			}
			// The JSON summary is its own entry, with the same rules.
			if got := admin.get("/api/dashboard/summary").Header.Get("X-Cache"); got != "MISS" {
				t.Errorf("first JSON view: %s", got)
			}
			if got := admin.get("/api/dashboard/summary").Header.Get("X-Cache"); got != "HIT" {
				t.Errorf("second JSON view: %s", got)
			}
			if rdb != nil {
				key := fmt.Sprintf("%sdashboard:v%d:html", prefix, dc.Version())
				ttl, err := rdb.TTL(context.Background(), key).Result()
				if err != nil || ttl < 299*time.Second || ttl > 300*time.Second {
					t.Errorf("TTL of %s: got %v %v, want 300 s", key, ttl, err)
				}
			}
		})
	}
}

func TestDashboardStampedeRendersOnce(t *testing.T) {
	rdb := redistest.Client(t)
	reg := prometheus.NewRegistry()
	dc := cache.New(cache.Options{Redis: rdb, Prefix: fmt.Sprintf("hostelhub-test-%d:", time.Now().UnixNano()), Registerer: reg})
	ts := newTestServer(t, func(o *testOptions) { o.cache = dc })
	admin := ts.login(t, "admin@demo.test")
	admin.get("/issues") // a token, and a warm connection pool
	var wg sync.WaitGroup
	statuses := make(chan int, 200)
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/dashboard/summary", nil)
			res, err := admin.http.Do(req)
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
	renders := counterValue(t, reg, "hostelhub_dashboard_cache_renders_total")
	if renders != 1 {
		t.Errorf("200 concurrent requests on a cold key rendered %v times, want 1", renders)
	}
}

// counterValue sums a counter's series in reg; 0 before its first increment.
func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, err := counterSum(reg, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func counterSum(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum, nil
		}
	}
	return 0, nil
}
