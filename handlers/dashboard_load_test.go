package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"hostelhub/store/cache"
	"hostelhub/views"
)

// BenchmarkDashboardLoad is the dashboard's load test (make bench-dashboard).
// It runs once, whatever b.N is: each figure is a phase of fixed duration.
var (
	dashConns    = flag.Int("dash.conns", 50, "BenchmarkDashboardLoad: concurrent connections, one worker goroutine each")
	dashDuration = flag.Duration("dash.duration", 10*time.Second, "BenchmarkDashboardLoad: length of each measured phase")
	dashWarmup   = flag.Duration("dash.warmup", 2*time.Second, "BenchmarkDashboardLoad: length of each warm-up phase")
	dashIssues   = flag.Int("dash.issues", benchIssues, "BenchmarkDashboardLoad: issues seeded (in 10 hostels over 90 days)")
	dashMisses   = flag.Int("dash.misses", 200, "BenchmarkDashboardLoad: sequential cache misses timed per figure")
	dashChange   = flag.Int("dash.change-every", 100, "BenchmarkDashboardLoad: in the mixed phase, one request in this many is a change")
	dashRounds   = flag.Int("dash.rounds", 2, "BenchmarkDashboardLoad: rounds of hit and control phases (odd rounds in one order, even rounds reversed)")
	dashGroups   = flag.String("dash.groups", "html,json,html-gz,json-gz,mixed,miss", "BenchmarkDashboardLoad: which groups of phases to run (e.g. html alone, to profile it); the -gz groups send Accept-Encoding: gzip, as browsers do")
	dashQuiet    = flag.Float64("dash.quiet", 15, "BenchmarkDashboardLoad: before each phase, wait (up to a minute) until other processes use less than this % of the CPUs; 0 does not wait")
	dashCalib    = flag.Bool("dash.calibrate", false, "BenchmarkDashboardLoad: also serve showDashboard and dashboardSummary themselves through the controls' route middleware (/bench/dashboard, /bench/summary)")
)

// The original Express + Redis design's cached dashboard rate on this
// machine (50 connections, load generator on the same cores), and the
// targets the issue sets.
const (
	expressCachedRPS = 5700
	targetRatio      = 0.8
	targetMissMS     = 25
	targetCut        = 0.95
)

func BenchmarkDashboardLoad(b *testing.B) {
	// `make bench` runs -bench . over the package: this minutes-long load
	// test runs only when named (make bench-dashboard).
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "DashboardLoad") {
		b.Skip("a load test of several minutes: run it by name, make bench-dashboard")
	}
	d := newDashLoad(b)
	d.header()

	// Cache hits of the page against controls, interleaved ABCD DCBA so
	// that drift over the run cancels out of the ratios.
	group := func(name string, fn func(b *testing.B)) {
		if slices.Contains(strings.Split(*dashGroups, ","), name) {
			b.Run(name, fn)
		}
	}
	group("html", func(b *testing.B) {
		d.warm(b, "/dashboard", "/bench/control")
		order := []dashPhase{{"hit", "/dashboard"}, {"control", "/bench/control"}, {"blob", "/bench/blob"}, {"raw", "/bench/raw"}}
		if *dashCalib {
			order = slices.Insert(order, 2, dashPhase{"calib", "/bench/dashboard"})
		}
		d.rounds(b, order)
		d.ratios(b, "html")
	})
	group("json", func(b *testing.B) {
		d.warm(b, "/api/dashboard/summary", "/bench/control.json")
		order := []dashPhase{{"hit", "/api/dashboard/summary"}, {"control", "/bench/control.json"}, {"blob", "/bench/blob.json"}}
		if *dashCalib {
			order = slices.Insert(order, 2, dashPhase{"calib", "/bench/summary"})
		}
		d.rounds(b, order)
		d.ratios(b, "json")
	})
	// As browsers ask: the bodies come compressed. The blob and raw
	// controls would be compressed per request by the Gzip middleware (or
	// not at all), so these groups hold the hit to the control alone.
	gzipped := func(name, hit, control string) {
		group(name, func(b *testing.B) {
			d.gzip = true
			defer func() { d.gzip = false }()
			d.warm(b, hit, control)
			d.rounds(b, []dashPhase{{"hit", hit}, {"control", control}})
			d.ratios(b, name)
		})
	}
	gzipped("html-gz", "/dashboard", "/bench/control")
	gzipped("json-gz", "/api/dashboard/summary", "/bench/control.json")
	// Mixed before misses: the miss phase advances the cache to synthetic
	// versions above every real event id, after which commits no longer
	// invalidate.
	group("mixed", d.mixed)
	group("miss", d.misses)
	d.summary()
}

type dashPhase struct{ kind, path string }

// rounds runs the phases -dash.rounds times, reversing the order every
// other round (ABCD DCBA ...).
func (d *dashLoad) rounds(b *testing.B, order []dashPhase) {
	for round := 1; round <= *dashRounds; round++ {
		for i := range order {
			o := order[i]
			if round%2 == 0 {
				o = order[len(order)-1-i]
			}
			d.phase(b, fmt.Sprintf("%s-r%d", o.kind, round), o.path, o.kind == "hit" || o.kind == "calib")
		}
	}
}

// dashLoad is the app over the benchmark's data, a Redis-backed dashboard
// cache, and the control routes, served by one httptest server.
type dashLoad struct {
	ts      *testServer // the app as newTestServer builds it
	app     *testServer // the same app behind srv, the server every phase uses
	srv     *httptest.Server
	dc      *cache.Cache
	reg     *prometheus.Registry
	rdb     *redis.Client
	redis   string
	prefix  string
	tr      *http.Transport
	admin   *http.Client   // the shared management session
	student []*http.Client // sessions that report issues in the mixed phase
	csrf    []string       // their CSRF tokens
	issues  int
	seeded  time.Duration

	fragHTML, fragJSON atomic.Pointer[[]byte] // what the cache returns, held by the controls
	pageHTML           atomic.Pointer[[]byte] // the whole page, for the blob controls

	wrk       string // the load generator of the rate phases; "" for this process's clients
	gzip      bool   // the phases send Accept-Encoding: gzip
	profiling bool
	labels    atomic.Pointer[context.Context] // pprof labels of the phase, for the server's goroutines

	memo    map[string][]dashMetric
	results map[string]*loadResult
	lines   []string // the summary, in order
	version int64    // next synthetic cache version of the miss phase
	waited  time.Duration
}

type dashMetric struct {
	v    float64
	unit string
}

func newDashLoad(b *testing.B) *dashLoad {
	b.Helper()
	d := &dashLoad{memo: map[string][]dashMetric{}, results: map[string]*loadResult{}}
	d.rdb, d.redis = dashRedis(b)
	d.prefix = fmt.Sprintf("hostelhub-bench-%d-%08x:", time.Now().UnixNano(), rand.Uint32())
	b.Cleanup(d.dropKeys)
	d.reg = prometheus.NewRegistry()
	d.dc = cache.New(cache.Options{Redis: d.rdb, Prefix: d.prefix, Registerer: d.reg})

	start := time.Now()
	d.ts = newTestServer(b, func(o *testOptions) {
		o.cache = d.dc
		o.issues, o.hostels, o.days = *dashIssues, benchHostels, benchDays
	})
	d.seeded = time.Since(start)
	d.issues = d.ts.countRows(b, "issues")

	// The controls go on the app's own Echo, which nothing has served yet,
	// so they get the same global middleware as /dashboard.
	h := d.ts.handler
	user := userChain(h)
	d.ts.echo.GET("/bench/control", d.controlPage, user...)
	d.ts.echo.GET("/bench/dashboard", h.showDashboard, user...)
	d.ts.echo.GET("/bench/summary", h.dashboardSummary, user...)
	d.ts.echo.GET("/bench/control.json", d.controlJSON, user...)
	d.ts.echo.GET("/bench/blob", d.blobPage)
	d.ts.echo.GET("/bench/blob.json", d.blobJSON)
	// The controls send the cache's compressed bytes as the app's routes do.
	for _, p := range []string{"/bench/control", "/bench/dashboard", "/bench/summary", "/bench/control.json"} {
		compressesItself[p] = true
	}

	// The fragments the controls hold are the bytes the cache returns.
	ctx := context.Background()
	html, st, err := d.dc.Get(ctx, "html", h.renderDashboardHTML)
	if err != nil || st != cache.Miss {
		b.Fatalf("filling the html fragment: %v %v", st, err)
	}
	d.fragHTML.Store(&html)
	js, _, err := d.dc.Get(ctx, "json", h.renderDashboardJSON)
	if err != nil {
		b.Fatalf("filling the json fragment: %v", err)
	}
	d.fragJSON.Store(&js)

	d.wrk = wrkPath()
	d.profiling = flag.Lookup("test.cpuprofile").Value.String() != ""
	d.setLabels("setup")
	echoApp := d.ts.echo
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bench/raw" {
			d.raw(w, r)
			return
		}
		echoApp.ServeHTTP(w, r)
	}))
	if d.profiling {
		// Label each connection's goroutine with the phase it is serving,
		// from the moment it reads a request: go tool pprof -tagfocus dash=srv-html-hit.
		d.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateActive {
				pprof.SetGoroutineLabels(*d.labels.Load())
			}
		}
	}
	d.srv.Start()
	b.Cleanup(d.srv.Close)
	d.app = &testServer{Server: d.srv, store: d.ts.store, handler: h, echo: d.ts.echo, hub: d.ts.hub}

	conns := *dashConns
	d.tr = &http.Transport{
		MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, MaxIdleConns: 2 * conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}
	b.Cleanup(d.tr.CloseIdleConnections)
	d.admin = d.session(b, "admin@demo.test", nil)
	for i := 1; i <= 3; i++ {
		d.student = append(d.student, d.session(b, fmt.Sprintf("student%d@demo.test", i), &d.csrf))
	}
	// The whole page as the shared session sees it, for the blob control.
	res, err := d.admin.Get(d.srv.URL + "/bench/control")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	frag, err := unpack(html)
	if err != nil {
		b.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, frag.plain) {
		b.Fatalf("GET /bench/control: %d, fragment inside: %v", res.StatusCode, bytes.Contains(page, frag.plain))
	}
	d.pageHTML.Store(&page)
	return d
}

// userChain is the route middleware of every signed-in route, built as
// Handler.Echo builds its `user` slice (keep the two in step).
func userChain(h *Handler) []echo.MiddlewareFunc {
	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup: "header:X-CSRF-Token,form:_csrf", ContextKey: "csrf",
		CookieName: "_csrf", CookiePath: "/", CookieHTTPOnly: true, CookieSameSite: http.SameSiteLaxMode, CookieSecure: h.secure,
	})
	page := []echo.MiddlewareFunc{h.sessionsMiddleware, csrf, h.loadUser}
	return append(page[:len(page):len(page)], requireUser)
}

// controlPage is showDashboard without the cache lookup: the same policy
// check, page, header and render, with the fragment from a variable.
func (d *dashLoad) controlPage(c echo.Context) error {
	if !can(currentUser(c), ViewDashboard, 0) {
		return forbidden()
	}
	c.Response().Header().Set("X-Cache", string(cache.Hit))
	return d.ts.handler.writeDashboardPage(c, *d.fragHTML.Load())
}

// controlJSON is dashboardSummary without the cache lookup.
func (d *dashLoad) controlJSON(c echo.Context) error {
	if !can(currentUser(c), ViewDashboard, 0) {
		return forbidden()
	}
	c.Response().Header().Set("X-Cache", string(cache.Hit))
	return writeSummary(c, *d.fragJSON.Load())
}

// blobPage writes the whole page from memory: the app's global middleware
// only (recover, request id, request log, metrics, secure headers, body
// limit, gzip), no session, CSRF, user or page.
func (d *dashLoad) blobPage(c echo.Context) error {
	c.Response().Header().Set("X-Cache", string(cache.Hit))
	return c.HTMLBlob(http.StatusOK, *d.pageHTML.Load())
}

func (d *dashLoad) blobJSON(c echo.Context) error {
	c.Response().Header().Set("X-Cache", string(cache.Hit))
	f, _ := unpack(*d.fragJSON.Load())
	return c.JSONBlob(http.StatusOK, f.plain)
}

// raw writes the whole page with net/http alone: the floor of this server,
// client and machine.
func (d *dashLoad) raw(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("X-Cache", string(cache.Hit))
	w.WriteHeader(http.StatusOK)
	w.Write(*d.pageHTML.Load())
}

// session signs in as email on the benchmark's server and returns a client
// over the shared transport, sharing that sign-in's cookie jar.
func (d *dashLoad) session(b *testing.B, email string, csrf *[]string) *http.Client {
	b.Helper()
	c := d.app.login(b, email)
	if csrf != nil {
		*csrf = append(*csrf, c.token())
	}
	return &http.Client{
		Transport:     d.tr,
		Jar:           c.http.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       time.Minute,
	}
}

func (d *dashLoad) setLabels(phase string) {
	ctx := pprof.WithLabels(context.Background(), pprof.Labels("dash", "srv-"+phase))
	d.labels.Store(&ctx)
}

// loadResult is one phase of closed-loop load.
type loadResult struct {
	name, path string
	conns      int
	elapsed    time.Duration
	ok, hits   int64
	bad        int64
	firstBad   string
	respBytes  int64
	rps        float64
	p50, p99   time.Duration
	cpu        cpuUse
	allocs     uint64 // heap allocations of the process (server and load generator)
	allocBytes uint64
	gcs        uint32
	genCPU     time.Duration // wrk's CPU, when it is the load generator
}

// usPerReq is this process's CPU (server and load generator) per request.
func (r *loadResult) usPerReq() float64 {
	return r.cpu.self.Seconds() * 1e6 / float64(r.ok)
}

// load has conns workers GET path over the shared session for dur, each
// sending its next request when the last one's body is read.
func (d *dashLoad) load(name, path string, dur time.Duration) *loadResult {
	if d.wrk != "" {
		return d.loadWrk(name, path, dur)
	}
	conns := *dashConns
	d.waitQuiet()
	d.setLabels(name)
	url := d.srv.URL + path
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		ok, hits atomic.Int64
		bad      atomic.Int64
		firstBad atomic.Value
		size     atomic.Int64
	)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := sampleCPU()
	start := time.Now()
	stop := start.Add(dur)
	for range conns {
		wg.Go(func() {
			d.labelled("cli", func() {
				lat := make([]time.Duration, 0, 1<<14)
				var n, h int64
				for {
					t0 := time.Now()
					if !t0.Before(stop) {
						break
					}
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					if d.gzip {
						req.Header.Set("Accept-Encoding", "gzip")
					}
					res, err := d.admin.Do(req)
					if err != nil {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, err.Error())
						continue
					}
					nb, _ := io.Copy(io.Discard, res.Body)
					res.Body.Close()
					el := time.Since(t0)
					if res.StatusCode != http.StatusOK {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, res.Status)
						continue
					}
					n++
					if res.Header.Get("X-Cache") == string(cache.Hit) {
						h++
					}
					size.Store(nb)
					lat = append(lat, el)
				}
				ok.Add(n)
				hits.Add(h)
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := sampleCPU().since(cpu0, elapsed)
	runtime.ReadMemStats(&m1)
	d.setLabels("idle")
	r := &loadResult{allocs: m1.Mallocs - m0.Mallocs, allocBytes: m1.TotalAlloc - m0.TotalAlloc, gcs: m1.NumGC - m0.NumGC,
		name: name, path: path, conns: conns, elapsed: elapsed, ok: ok.Load(), hits: hits.Load(),
		bad: bad.Load(), respBytes: size.Load(), rps: float64(ok.Load()) / elapsed.Seconds(), cpu: cpu}
	if v := firstBad.Load(); v != nil {
		r.firstBad = v.(string)
	}
	slices.Sort(all)
	r.p50, r.p99 = pct(all, 50), pct(all, 99)
	return r
}

// labelled runs fn with pprof labels when the run is profiled.
func (d *dashLoad) labelled(value string, fn func()) {
	if !d.profiling {
		fn()
		return
	}
	pprof.Do(context.Background(), pprof.Labels("dash", value), func(context.Context) { fn() })
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// warm runs each path for the warm-up time, unmeasured.
func (d *dashLoad) warm(b *testing.B, paths ...string) {
	for _, p := range paths {
		r := d.load("warmup", p, *dashWarmup)
		if r.bad > 0 {
			b.Fatalf("warm-up of %s: %d failures, the first %s", p, r.bad, r.firstBad)
		}
	}
	// The controls hold what the cache holds now (an entry may have been
	// rendered again since setup, when its TTL ended).
	ctx := context.Background()
	if html, _, err := d.dc.Get(ctx, "html", d.ts.handler.renderDashboardHTML); err == nil {
		d.fragHTML.Store(&html)
	}
	if js, _, err := d.dc.Get(ctx, "json", d.ts.handler.renderDashboardJSON); err == nil {
		d.fragJSON.Store(&js)
	}
}

// run reports figures as a sub-benchmark computed once, whatever b.N is.
func (d *dashLoad) run(b *testing.B, name string, fn func(b *testing.B) []dashMetric) {
	b.Run(name, func(b *testing.B) {
		ms, ok := d.memo[b.Name()]
		if !ok {
			ms = fn(b)
			d.memo[b.Name()] = ms
		}
		for _, m := range ms {
			b.ReportMetric(m.v, m.unit)
		}
		b.ReportMetric(0, "ns/op") // a phase's wall time is not a figure
	})
}

func (d *dashLoad) scale() []dashMetric {
	return []dashMetric{{float64(*dashConns), "conns"}, {float64(d.issues), "issues"}}
}

// phase measures one path under load and keeps the result under group/name.
func (d *dashLoad) phase(b *testing.B, name, path string, wantHits bool) {
	group := b.Name()[strings.LastIndex(b.Name(), "/")+1:]
	d.run(b, name, func(b *testing.B) []dashMetric {
		r := d.load(group+"-"+name, path, *dashDuration)
		d.results[group+"/"+name] = r
		if r.bad > 0 {
			b.Errorf("GET %s: %d of %d requests failed, the first: %s", path, r.bad, r.bad+r.ok, r.firstBad)
		}
		note := ""
		if wantHits {
			note = fmt.Sprintf("  X-Cache HIT %d of %d", r.hits, r.ok)
			if r.hits != r.ok {
				b.Logf("%d of %d responses of the hit phase were not HIT (TTL expiry or a change)", r.ok-r.hits, r.ok)
			}
		}
		allocs, kb := float64(r.allocs)/float64(r.ok), float64(r.allocBytes)/float64(r.ok)/1024
		if r.genCPU > 0 {
			note = fmt.Sprintf("  wrk %3.0f us/req", r.genCPU.Seconds()*1e6/float64(r.ok)) + note
		}
		d.linef("  %-7s %-12s GET %-24s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %6d B  %8d reqs in %.1f s  cpu %4.0f us/req  %4.0f allocs %5.1f KB/req  others %3.0f %%%s",
			group, name, path, r.rps, ms(r.p50), ms(r.p99), r.respBytes, r.ok, r.elapsed.Seconds(), r.usPerReq(), allocs, kb, r.cpu.othersPct, note)
		return append(d.scale(), dashMetric{r.rps, "req/s"}, dashMetric{ms(r.p50), "ms-p50"},
			dashMetric{ms(r.p99), "ms-p99"}, dashMetric{r.elapsed.Seconds(), "s"},
			dashMetric{r.usPerReq(), "cpu-us/req"}, dashMetric{allocs, "allocs/req"}, dashMetric{r.cpu.othersPct, "%others"})
	})
}

// mean is the mean rate of a kind over its rounds.
func (d *dashLoad) mean(group, kind string) float64 {
	return d.meanOf(group, kind, func(r *loadResult) float64 { return r.rps })
}

func (d *dashLoad) meanOf(group, kind string, f func(*loadResult) float64) float64 {
	var sum float64
	var n int
	for name, r := range d.results {
		if strings.HasPrefix(name, group+"/"+kind+"-r") {
			sum += f(r)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func (d *dashLoad) ratios(b *testing.B, group string) {
	d.run(b, "ratio", func(b *testing.B) []dashMetric {
		hit, ctl, blob := d.mean(group, "hit"), d.mean(group, "control"), d.mean(group, "blob")
		ratio := hit / ctl
		var per []string
		for round := 1; round <= *dashRounds; round++ {
			h, c := d.results[fmt.Sprintf("%s/hit-r%d", group, round)], d.results[fmt.Sprintf("%s/control-r%d", group, round)]
			per = append(per, fmt.Sprintf("%.3f", h.rps/c.rps))
		}
		us := func(kind string) float64 { return d.meanOf(group, kind, (*loadResult).usPerReq) }
		cpuRatio := us("control") / us("hit")
		d.linef("  %-7s hit/control %.3f (rounds %s; target >= %.1f: %s)",
			group, ratio, strings.Join(per, ", "), targetRatio, verdict(ratio >= targetRatio))
		d.linef("  %-7s CPU per request (%s): hit %.0f us, control %.0f us; control/hit %.3f",
			group, d.cpuWhose(), us("hit"), us("control"), cpuRatio)
		m := append(d.scale(), dashMetric{ratio, "hit/control"}, dashMetric{hit, "hit-req/s"}, dashMetric{cpuRatio, "cpu-control/hit"})
		if blob > 0 {
			d.linef("  %-7s hit/blob %.3f, blob %.0f us/req", group, hit/blob, us("blob"))
			m = append(m, dashMetric{hit / blob, "hit/blob"})
		}
		if calib := d.mean(group, "calib"); calib > 0 {
			d.linef("  %-7s calibration: the app's own handler through the controls' route middleware %.0f req/s, %.0f us/req; hit/calib %.3f",
				group, calib, us("calib"), hit/calib)
		}
		if raw := d.mean(group, "raw"); raw > 0 {
			d.linef("  %-7s hit/raw %.3f   blob/raw %.3f   raw %.0f us/req", group, hit/raw, blob/raw, us("raw"))
			m = append(m, dashMetric{hit / raw, "hit/raw"})
		}
		// The seed cached GET /api/dashboard/summary: the json group is
		// its like for like; the page is held to the same figure.
		want := 5 * float64(expressCachedRPS)
		d.linef("  %-7s hits %.0f req/s = %.2f x the Express design's %d cached req/s (target >= 5 x = %.0f req/s: %s)",
			group, hit, hit/expressCachedRPS, expressCachedRPS, want, verdict(hit >= want))
		return append(m, dashMetric{hit / expressCachedRPS, "x-express"})
	})
}

// cpuWhose says whose CPU the per-request figures count.
func (d *dashLoad) cpuWhose() string {
	if d.wrk != "" {
		return "the server's"
	}
	return "server + load generator"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// mixed is 99 dashboard views to 1 change from the same workers, counting
// the cache's renders: each is one run of the store's dashboard queries.
func (d *dashLoad) mixed(b *testing.B) {
	d.run(b, "views-and-changes", func(b *testing.B) []dashMetric {
		every := int64(*dashChange)
		conns := *dashConns
		d.waitQuiet()
		rendersBefore := d.counter(b, "hostelhub_dashboard_cache_renders_total")
		issuesBefore := d.ts.countRows(b, "issues")
		d.setLabels("mixed")
		cpu0 := sampleCPU()
		var (
			seq                              atomic.Int64
			views, htmlViews, changes        atomic.Int64
			htmlMiss, jsonMiss, bad, changeN atomic.Int64
			firstBad                         atomic.Value
			wg                               sync.WaitGroup
		)
		fail := func(s string) { bad.Add(1); firstBad.CompareAndSwap(nil, s) }
		start := time.Now()
		stop := start.Add(*dashDuration)
		for range conns {
			wg.Go(func() {
				d.labelled("cli", func() {
					for time.Now().Before(stop) {
						n := seq.Add(1)
						if n%every == 0 {
							k := changeN.Add(1)
							i := int(k % int64(len(d.student)))
							body := fmt.Sprintf(`{"title":"Load test report %d","category":%q,"priority":"normal"}`,
								k, []string{"electrical", "plumbing", "internet"}[k%3])
							req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/api/issues", strings.NewReader(body))
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("X-CSRF-Token", d.csrf[i])
							res, err := d.student[i].Do(req)
							if err != nil {
								fail(err.Error())
								continue
							}
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
							if res.StatusCode != http.StatusCreated {
								fail("POST /api/issues: " + res.Status)
								continue
							}
							changes.Add(1)
							continue
						}
						path, html := "/api/dashboard/summary", n%2 == 0
						if html {
							path = "/dashboard"
						}
						req, _ := http.NewRequest(http.MethodGet, d.srv.URL+path, nil)
						res, err := d.admin.Do(req)
						if err != nil {
							fail(err.Error())
							continue
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							fail("GET " + path + ": " + res.Status)
							continue
						}
						views.Add(1)
						miss := res.Header.Get("X-Cache") == string(cache.Miss)
						if html {
							htmlViews.Add(1)
							if miss {
								htmlMiss.Add(1)
							}
						} else if miss {
							jsonMiss.Add(1)
						}
					}
				})
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		cpu := sampleCPU().since(cpu0, elapsed)
		d.setLabels("idle")
		if bad.Load() > 0 {
			b.Errorf("mixed load: %d failures, the first: %v", bad.Load(), firstBad.Load())
		}
		renders := d.counter(b, "hostelhub_dashboard_cache_renders_total") - rendersBefore
		v, ch := float64(views.Load()), float64(changes.Load())
		perK := renders / v * 1000
		cut := 1 - perK/1000
		floor := ch * 2 / v * 1000 // two variants made stale per change
		issuesAfter := d.ts.countRows(b, "issues")
		d.linef("  mixed  %d views (%d HTML /dashboard, %d JSON /api/dashboard/summary, alternating) and %d changes"+
			" (POST /api/issues as students 1-3, 1 request in %d) in %.1f s: %.0f req/s, %d failures, others %.0f %%",
			views.Load(), htmlViews.Load(), views.Load()-htmlViews.Load(), changes.Load(), every, elapsed.Seconds(),
			(v+ch)/elapsed.Seconds(), bad.Load(), cpu.othersPct)
		d.linef("  mixed  dashboard renders (one store.Dashboard query set each) %0.f: %.1f per 1,000 views"+
			" (uncached: 1,000; floor at 2 variants per change: %.1f); X-Cache MISS html %d, json %d",
			renders, perK, floor, htmlMiss.Load(), jsonMiss.Load())
		d.linef("  mixed  database dashboard work cut %.1f %% vs uncached (the seed promised 60 %%; target >= %.0f %%: %s); issues %d -> %d",
			cut*100, targetCut*100, verdict(cut >= targetCut), issuesBefore, issuesAfter)
		d.issues = issuesAfter
		return append(d.scale(), dashMetric{perK, "queries/1k-views"}, dashMetric{cut * 100, "%cut"},
			dashMetric{v, "views"}, dashMetric{ch, "changes"}, dashMetric{renders, "renders"},
			dashMetric{(v + ch) / elapsed.Seconds(), "req/s"}, dashMetric{elapsed.Seconds(), "s"})
	})
}

// misses times sequential cache misses, the cache advanced to a new
// version before each, and the store's query and the render on their own.
func (d *dashLoad) misses(b *testing.B) {
	n := *dashMisses
	if d.version == 0 {
		d.version = 1 << 40 // above every real event id
	}
	ctx := context.Background()
	var others float64
	timeIt := func(what string, fn func() error) (p50, p95 time.Duration) {
		d.waitQuiet()
		times := make([]time.Duration, 0, n)
		cpu0, start := sampleCPU(), time.Now()
		defer func() { others = sampleCPU().since(cpu0, time.Since(start)).othersPct }()
		for range n {
			t0 := time.Now()
			if err := fn(); err != nil {
				b.Fatalf("%s: %v", what, err)
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		return pct(times, 50), pct(times, 95)
	}
	report := func(name, what string, p50, p95 time.Duration, target bool) []dashMetric {
		t := ""
		if target {
			t = fmt.Sprintf("  (target p50 < %d ms: %s)", targetMissMS, verdict(ms(p50) < targetMissMS))
		}
		d.linef("  miss   %-12s %-52s p50 %6.2f ms  p95 %6.2f ms  (%d sequential, %d issues, others %.0f %%)%s",
			name, what, ms(p50), ms(p95), n, d.issues, others, t)
		return []dashMetric{{float64(d.issues), "issues"}, {float64(n), "samples"}, {ms(p50), "ms-p50"}, {ms(p95), "ms-p95"}, {others, "%others"}}
	}
	get := func(path string) func() error {
		return func() error {
			d.version++
			d.dc.Advance(d.version)
			res, err := d.admin.Get(d.srv.URL + path)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Cache") != string(cache.Miss) {
				return fmt.Errorf("GET %s: %d X-Cache %s, want 200 MISS", path, res.StatusCode, res.Header.Get("X-Cache"))
			}
			return nil
		}
	}
	d.setLabels("miss")
	d.run(b, "page", func(b *testing.B) []dashMetric {
		p50, p95 := timeIt("GET /dashboard", get("/dashboard"))
		return report("page", "GET /dashboard, MISS (Redis GET, render, SET, page)", p50, p95, true)
	})
	d.run(b, "json", func(b *testing.B) []dashMetric {
		p50, p95 := timeIt("GET /api/dashboard/summary", get("/api/dashboard/summary"))
		return report("json", "GET /api/dashboard/summary, MISS", p50, p95, true)
	})
	d.run(b, "store", func(b *testing.B) []dashMetric {
		p50, p95 := timeIt("store.Dashboard", func() error { _, err := d.ts.store.Dashboard(ctx); return err })
		return report("store", "store.Dashboard (the queries) alone", p50, p95, false)
	})
	dash, err := d.ts.store.Dashboard(ctx)
	if err != nil {
		b.Fatal(err)
	}
	d.run(b, "templ", func(b *testing.B) []dashMetric {
		p50, p95 := timeIt("views.Dashboard", func() error {
			var buf bytes.Buffer
			return views.Dashboard(dash).Render(ctx, &buf)
		})
		return report("templ", "views.Dashboard render of the fragment alone", p50, p95, false)
	})
	d.run(b, "marshal", func(b *testing.B) []dashMetric {
		p50, p95 := timeIt("json", func() error { _, err := json.Marshal(dashboardJSON(dash)); return err })
		return report("marshal", "JSON of the summary alone", p50, p95, false)
	})
	d.setLabels("idle")
}

func (d *dashLoad) counter(b *testing.B, name string) float64 { return counterValue(b, d.reg, name) }

func (d *dashLoad) linef(format string, args ...any) {
	d.lines = append(d.lines, fmt.Sprintf(format, args...))
}

func (d *dashLoad) header() {
	d.linef("BenchmarkDashboardLoad: %d connections (one closed-loop worker each, one shared management session),"+
		" %v per phase after %v warm-ups, %d rounds (ABCD DCBA)", *dashConns, *dashDuration, *dashWarmup, *dashRounds)
	d.linef("  data: %d issues in %d hostels over %d days, seeded by the demo code in %.1f s; SQLite; Redis %s, prefix %s",
		d.issues, benchHostels, benchDays, d.seeded.Seconds(), d.redis, d.prefix)
	enc := "no Accept-Encoding but in the -gz groups"
	gen := "the load generator runs in this process on the same cores as the server (net/http clients"
	cpuIs := "cpu = this process's CPU (server + load generator) per request"
	if d.wrk != "" {
		gen = fmt.Sprintf("the load generator of the rate phases is %s, a process of its own on the same cores (-t %d -c %d; the mixed phase uses net/http clients",
			d.wrk, min(*dashConns, runtime.NumCPU()), *dashConns)
		cpuIs = "cpu = the server's CPU per request (wrk's own beside it)"
	}
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(gogc)
	d.linef("  machine: %d CPUs, GOMAXPROCS %d, GOGC %d, %s; %s, HTTP/1.1 keep-alive, %s)",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), gogc[0].Value.Uint64(), runtime.Version(), gen, enc)
	d.linef("  control = showDashboard without the cache lookup (same route middleware, page, templ render, fragment from a variable);"+
		" blob = the whole page from memory with c.HTMLBlob, global middleware only; raw = net/http alone;"+
		" %s; others = share of the CPUs other processes used meanwhile", cpuIs)
}

func (d *dashLoad) summary() {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintln(w, "\n==== dashboard load: figures ====")
	for _, l := range d.lines {
		fmt.Fprintln(w, l)
	}
	var worst float64
	for _, r := range d.results {
		worst = max(worst, r.cpu.othersPct)
	}
	if d.waited > 0 {
		fmt.Fprintf(w, "  (waited %.0f s in all for other processes to quiet down before phases, -dash.quiet %.0f %%)\n", d.waited.Seconds(), *dashQuiet)
	}
	if worst > 10 {
		fmt.Fprintf(w, "  WARNING: other processes used up to %.0f %% of the CPUs during a measured phase: rates and latencies"+
			" of those phases are depressed; the CPU per request figures are not, compare those.\n", worst)
	}
	w.Flush()
}

// dropKeys removes the benchmark's keys from Redis (they would expire with
// their TTL anyway). SCAN with the benchmark's own prefix, never KEYS.
func (d *dashLoad) dropKeys() {
	if d.rdb == nil {
		return
	}
	ctx := context.Background()
	iter := d.rdb.Scan(ctx, 0, d.prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for batch := range slices.Chunk(keys, 500) {
		d.rdb.Del(ctx, batch...)
	}
}

// dashRedis is the Redis of the dashboard cache, or a skip (a failure in CI).
func dashRedis(b *testing.B) (*redis.Client, string) {
	b.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") == "true" {
			b.Fatalf("Redis is required in CI: %s: %v", u, err)
		}
		b.Skipf("no Redis at %s (%v): the dashboard load benchmark needs it for the cache's second tier", u, err)
	}
	b.Cleanup(func() { c.Close() })
	return c, u
}

// waitQuiet waits, up to a minute, until other processes have used less
// than -dash.quiet % of the CPUs for a second: the machine may
// be shared, and a phase measured beside another job measures that job.
func (d *dashLoad) waitQuiet() {
	if *dashQuiet <= 0 {
		return
	}
	start := time.Now()
	quiet := 0
	for quiet < 2 && time.Since(start) < time.Minute {
		s0 := sampleCPU()
		time.Sleep(500 * time.Millisecond)
		if u := sampleCPU().since(s0, 500*time.Millisecond); u.othersPct < *dashQuiet {
			quiet++
		} else {
			quiet = 0
		}
	}
	if w := time.Since(start); w > 2*time.Second {
		d.waited += w - time.Second
	}
}

// cpuSample is this process's CPU time and the machine's busy time.
type cpuSample struct {
	self, busy time.Duration
	ok         bool
}

// cpuUse is what a phase used: this process's CPU, and the share of the
// machine's CPUs that other processes used meanwhile (the machine is shared).
type cpuUse struct {
	self      time.Duration
	othersPct float64
}

func sampleCPU() cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		// user nice system idle iowait irq softirq steal ...; guest is already in user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	s.busy = time.Duration(busy) * 10 * time.Millisecond // USER_HZ = 100
	s.ok = true
	return s
}

func (s cpuSample) since(start cpuSample, elapsed time.Duration) cpuUse {
	u := cpuUse{self: s.self - start.self}
	if s.ok && start.ok {
		others := (s.busy - start.busy) - u.self
		u.othersPct = max(0, others.Seconds()/(elapsed.Seconds()*float64(runtime.NumCPU()))*100)
	}
	return u
}
