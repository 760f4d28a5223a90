package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
	"hostelhub/store/redistest"
)

// The one harness of the whole-app tests (of instances, streams, the
// dashboard, XSS, faults, and the browser tests): hostelhub as main builds
// it, serving on a free port until the test ends, on a SQLite file of the
// test's own, with the demo's data and accounts unless told otherwise.
// With Redis, keys are the test's own too: each database is born with a
// random epoch that prefixes them. (A test that needs the server in a
// process of its own has startProcess, in process_test.go.)

// testApp is one running instance.
type testApp struct {
	t           testing.TB
	Base        string // its URL
	Addr        string // its host:port
	MetricsBase string // the URL of its metrics' own address; empty without one
	cfg         config
	app         *app
	Out         *bytes.Buffer // what it printed at start (the demo's accounts)
	stop        func()

	scraper *webtest.Client // management, signed in to read /metrics
}

// appOption changes a test's configuration.
type appOption func(testing.TB, *config)

// withRedis shares the cache and events through the test Redis.
func withRedis() appOption {
	return func(t testing.TB, c *config) { c.RedisURL = redistest.URL(t) }
}

// withRedisURL shares the cache and events through the Redis at url (a
// test's private one, say, that it kills).
func withRedisURL(url string) appOption {
	return func(_ testing.TB, c *config) { c.RedisURL = url }
}

// withJSONLog logs as a deployment does, in JSON through the log buffer,
// to w.
func withJSONLog(w io.Writer) appOption { return func(_ testing.TB, c *config) { c.testLog = w } }

// withSessionLifetime makes a sign-in last d.
func withSessionLifetime(d time.Duration) appOption {
	return func(_ testing.TB, c *config) { c.sessionLifetime = d }
}

// withoutDemo starts on an empty database with no accounts.
func withoutDemo() appOption { return func(_ testing.TB, c *config) { c.Demo = false } }

// withTLS serves HTTPS, and so HTTP/2, with a certificate and its key.
func withTLS(certFile, keyFile string) appOption {
	return func(_ testing.TB, c *config) { c.TLSCert, c.TLSKey = certFile, keyFile }
}

// withHeartbeat makes a silent stream send a heartbeat every d, not every 20 s.
func withHeartbeat(d time.Duration) appOption {
	return func(_ testing.TB, c *config) { c.streamHeartbeat = d }
}

// withMetricsAddr serves the metrics on an address of their own, as
// METRICS_ADDR does: a free port of 127.0.0.1.
func withMetricsAddr() appOption {
	return func(_ testing.TB, c *config) { c.MetricsAddr = "127.0.0.1:0" }
}

// withStreamQueue bounds each stream's queue to n events, so that one that
// does not read overflows soon.
func withStreamQueue(n int) appOption { return func(_ testing.TB, c *config) { c.streamQueue = n } }

// testConfig is the configuration of a test's app: a new SQLite file, demo
// data, a cheap bcrypt cost.
func testConfig(t testing.TB, opts ...appOption) config {
	cfg := config{Addr: "127.0.0.1:0", DatabaseURL: filepath.Join(t.TempDir(), "hostelhub.db"), Demo: true,
		SessionSecret: "a test secret that is long enough..", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		passwordCost: bcrypt.MinCost}
	for _, o := range opts {
		o(t, &cfg)
	}
	return cfg
}

// newTestApp starts an app on a configuration of its own.
func newTestApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	return startApp(t, testConfig(t, opts...))
}

// startApp starts an app with cfg: another instance, when cfg is one
// already running's.
func startApp(t testing.TB, cfg config) *testApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startAppOn(t, cfg, ln)
}

// startAppOn serves cfg on ln. Stop (and the test's end) stop it as a
// deployment does: cancel, wait for Serve to return (its streams ended
// cleanly), release the app.
func startAppOn(t testing.TB, cfg config, ln net.Listener) *testApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(bytes.Buffer)
	l := logs{logger: discardLogger()}
	if cfg.testLog != nil {
		var buf *logBuffer
		l, buf = newLogs("json", cfg.testLog)
		t.Cleanup(func() { buf.Close() })
	}
	a, err := newApp(ctx, cfg, l, out)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	ta := &testApp{t: t, cfg: cfg, app: a, Out: out, Addr: ln.Addr().String(), Base: "http://" + ln.Addr().String()}
	if cfg.TLSCert != "" {
		ta.Base = "https://" + ta.Addr
	}
	if a.metricsListener != nil {
		ta.MetricsBase = "http://" + a.metricsListener.Addr().String()
	}
	var once sync.Once
	ta.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
				a.Close()
			case <-time.After(cfg.ShutdownGrace + 5*time.Second):
				t.Errorf("the server did not stop within its grace period and 5 s")
			}
		})
	}
	t.Cleanup(ta.stop)
	return ta
}

// Stop stops the instance now.
func (a *testApp) Stop() { a.stop() }

// store is the instance's store, for setting things up and checking rows.
func (a *testApp) store() *store.Store { return a.app.store }

// client is a browser without JavaScript that has not signed in.
func (a *testApp) client() *webtest.Client { return webtest.NewClient(a.t, a.Base) }

// login is a browser without JavaScript signed in to a demo account.
func (a *testApp) login(email string) *webtest.Client {
	a.t.Helper()
	c := a.client()
	c.SignIn(email, webtest.DemoPassword)
	return c
}

// user is a demo account as the store has it.
func (a *testApp) user(email string) *store.User {
	a.t.Helper()
	u, err := a.store().UserByEmail(context.Background(), email)
	if err != nil {
		a.t.Fatal(err)
	}
	return u
}

// issueOf is an issue of the hostel with the status ("" for any), filed
// by anyone but notBy.
func (a *testApp) issueOf(hostelID int64, status store.Status, notBy int64) *store.Issue {
	a.t.Helper()
	page, err := a.store().Issues(context.Background(), store.IssueFilter{HostelIDs: []int64{hostelID}, Status: status, PerPage: 1000})
	if err != nil {
		a.t.Fatal(err)
	}
	for i := range page.Issues {
		if page.Issues[i].ReporterID != notBy {
			return &page.Issues[i]
		}
	}
	a.t.Fatalf("no %s issue in hostel %d", status, hostelID)
	return nil
}

// metric is the sum of a metric's series on the instance's metrics: 0
// before a counter's first increment. They are read where a deployment's
// scraper reads them: on their own address, or else as management.
func (a *testApp) metric(name string) float64 {
	a.t.Helper()
	base, client := a.MetricsBase, http.DefaultClient
	if base == "" {
		if a.scraper == nil {
			a.scraper = a.login("admin@demo.test")
		}
		base, client = a.Base, a.scraper.HTTP
	}
	m, err := scrapeMetrics(client, base)
	if err != nil {
		a.t.Fatal(err)
	}
	return sumMetric(m, name)
}

// scrapeMetrics reads the samples of base's /metrics (Prometheus's text
// format) with client, keyed by the series as written: the name, and its
// labels if any.
func scrapeMetrics(client *http.Client, base string) (map[string]float64, error) {
	res, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the series, whose label values may hold spaces.
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// sumMetric adds up the series of the metric called name.
func sumMetric(m map[string]float64, name string) float64 {
	var sum float64
	for series, v := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			sum += v
		}
	}
	return sum
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
