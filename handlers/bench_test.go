package handlers

import (
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
)

// benchIssues, benchHostels and benchDays are the size the desk is held to.
const (
	benchIssues  = 50000
	benchHostels = 10
	benchDays    = 90
)

var (
	benchOnce   sync.Once
	benchServer *testServer
	benchDirs   []string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchServer != nil {
		benchServer.Close()
		benchServer.store.Close()
	}
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// bigServer is the whole app over 50,000 issues in 10 hostels over 90 days,
// filled by the demo's own seeding code, without a dashboard cache.
func bigServer(b *testing.B) *testServer {
	benchOnce.Do(func() {
		benchServer = newTestServer(&onceTB{B: b}, func(o *testOptions) {
			o.issues, o.hostels, o.days = benchIssues, benchHostels, benchDays
		})
	})
	return benchServer
}

// onceTB keeps the shared server alive past the benchmark that built it.
type onceTB struct{ *testing.B }

func (onceTB) Cleanup(func()) {}
func (o onceTB) TempDir() string {
	dir, err := os.MkdirTemp("", "hostelhub-bench-")
	if err != nil {
		o.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	return dir
}

// benchGet serves path b.N times and reports the median and 95th percentile.
func benchGet(b *testing.B, c *webtest.Client, path string) {
	b.Helper()
	if res := c.Get(path); res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res := c.Get(path)
		times = append(times, time.Since(start))
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "ms-p95")
	b.ReportMetric(benchIssues, "issues")
}

func BenchmarkIssueListPage(b *testing.B) {
	ts := bigServer(b)
	warden := ts.login(b, "warden3@demo.test")
	for _, bc := range []struct{ name, query string }{
		{"unfiltered", ""},
		{"status", "?status=open"},
		{"category", "?category=plumbing"},
		{"search", "?q=" + url.QueryEscape("wi-fi")},
		{"page5", "?page=5"},
	} {
		b.Run(bc.name, func(b *testing.B) { benchGet(b, warden, "/issues"+bc.query) })
	}
	admin := ts.login(b, "admin@demo.test")
	b.Run("management-all-hostels", func(b *testing.B) { benchGet(b, admin, "/issues") })
}

func BenchmarkDashboardUncached(b *testing.B) {
	ts := bigServer(b)
	admin := ts.login(b, "admin@demo.test")
	b.Run("page", func(b *testing.B) { benchGet(b, admin, "/dashboard") })
	b.Run("json", func(b *testing.B) { benchGet(b, admin, "/api/dashboard/summary") })
}
