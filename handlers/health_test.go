package handlers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
)

// /healthz tells an anonymous caller that the database does not answer,
// not what its driver says (on PostgreSQL, the host and user); the log
// has the detail.
func TestHealthzTellsNoDetails(t *testing.T) {
	var log syncBuffer
	ts := newTestServer(t, func(o *testOptions) { o.logger = slog.New(slog.NewTextHandler(&log, nil)) })
	webtest.WantStatus(t, ts.client(t).Get("/healthz"), http.StatusOK)
	if err := ts.store.DB().Close(); err != nil {
		t.Fatal(err)
	}
	res := ts.client(t).Get("/healthz")
	webtest.WantStatus(t, res, http.StatusServiceUnavailable)
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("healthz: %v: %s", err, res.Body)
	}
	if len(body) != 1 || body["status"] != "unavailable" {
		t.Errorf("healthz: got %s, want only {\"status\":\"unavailable\"}", res.Body)
	}
	if !strings.Contains(log.String(), "database is closed") {
		t.Errorf("the log does not say why:\n%s", log.String())
	}
}
