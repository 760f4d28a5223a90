package handlers

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// /metrics is for management: others signed in are refused, and a caller
// who is not signed in is sent to sign in, as on every signed-in page.
func TestMetricsAreForManagement(t *testing.T) {
	ts := newTestServer(t)
	anon := ts.client(t)
	res := anon.Get("/metrics")
	webtest.WantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/login" {
		t.Errorf("GET /metrics signed out: got Location %q, want /login", loc)
	}
	for _, email := range []string{"student1@demo.test", "warden1@demo.test"} {
		res := ts.login(t, email).Get("/metrics")
		webtest.WantStatus(t, res, http.StatusForbidden)
		if strings.Contains(res.Body, "hostelhub_http_requests_total") {
			t.Errorf("%s reads the metrics", email)
		}
	}
	res = ts.login(t, "admin@demo.test").Get("/metrics")
	webtest.WantStatus(t, res, http.StatusOK)
	webtest.WantContains(t, res, "hostelhub_http_requests_total", "hostelhub_http_request_duration_seconds_bucket")
}

// With an address of its own for metrics, the app's own /metrics is not
// there, for anyone; the metrics handler serves them.
func TestMetricsElsewhere(t *testing.T) {
	ts := newTestServer(t, func(o *testOptions) { o.metricsElsewhere = true })
	for _, c := range []*webtest.Client{ts.client(t), ts.login(t, "admin@demo.test")} {
		webtest.WantStatus(t, c.Get("/metrics"), http.StatusNotFound)
	}
	srv := httptest.NewServer(ts.handler.Metrics())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`hostelhub_http_requests_total{code="404",host="",method="GET"`)) {
		t.Errorf("the metrics handler: got %d\n%.500s", res.StatusCode, body)
	}
}
