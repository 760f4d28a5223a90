package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With METRICS_ADDR, the metrics are served there, by the app, for a
// scraper that signs in to nothing; the app's own address has no
// /metrics; and the listener stops with the app.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	a := newTestApp(t, withMetricsAddr())
	if a.MetricsBase == "" || a.MetricsBase == a.Base {
		t.Fatalf("metrics at %q, the app at %q: want an address of their own", a.MetricsBase, a.Base)
	}
	a.login("warden1@demo.test").Get("/issues")
	res, err := http.Get(a.MetricsBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `hostelhub_http_requests_total{code="200",host="",method="GET",url="/issues"}`) ||
		!strings.Contains(string(body), "hostelhub_dashboard_cache_hits_total") || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("GET %s/metrics: got %d\n%.800s", a.MetricsBase, res.StatusCode, body)
	}
	if res, err := http.Get(a.MetricsBase + "/issues"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("the metrics address serves more than /metrics: %v %v", res.Status, err)
	}
	for _, c := range [](func() int){
		func() int { return a.client().Get("/metrics").StatusCode },
		func() int { return a.login("admin@demo.test").Get("/metrics").StatusCode },
	} {
		if got := c(); got != http.StatusNotFound {
			t.Errorf("GET /metrics on the app's address: got %d, want 404", got)
		}
	}
	if got := a.metric("hostelhub_http_requests_total"); got == 0 {
		t.Error("the harness reads no requests from the metrics address")
	}

	a.Stop()
	addr := strings.TrimPrefix(a.MetricsBase, "http://")
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("the metrics address %s still answers after the app stopped", addr)
	}
}

// Without METRICS_ADDR, the app's /metrics is management's.
func TestMetricsForManagementOnly(t *testing.T) {
	a := newTestApp(t)
	res := a.client().Get("/metrics")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Errorf("GET /metrics signed out: got %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	for _, email := range []string{"student1@demo.test", "warden1@demo.test"} {
		if res := a.login(email).Get("/metrics"); res.StatusCode != http.StatusForbidden {
			t.Errorf("GET /metrics as %s: got %d, want 403", email, res.StatusCode)
		}
	}
	res = a.login("admin@demo.test").Get("/metrics")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "hostelhub_http_requests_total") {
		t.Errorf("GET /metrics as management: got %d\n%.300s", res.StatusCode, res.Body)
	}
	if got := a.metric("hostelhub_http_requests_total"); got == 0 {
		t.Error("the harness reads no requests from /metrics")
	}
}
