package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

// BenchmarkDashboardLoad is the dashboard under load (make bench-dashboard),
// measured from outside as a deployment would see it: the app as main
// builds it, with Redis, over 50,000 issues; wrk (when installed) as the
// load generator, on the same cores. It prints
//
//   - cached hits of the page and of the JSON summary, plain and as browsers
//     ask (gzip), against a control: a bare net/http server writing the
//     same bytes from memory (the body and the head the app sent: its
//     security headers are part of what a hit must deliver), measured in
//     the same run, phases interleaved (hit, control, control, hit, …) so
//     that drift cancels out;
//   - what a change costs: renders per 1,000 views at 99 views to 1 change;
//   - what a miss costs: the time of a view that renders.
//
// It runs once, whatever b.N is.
var (
	dashConns    = flag.Int("dash.conns", 50, "BenchmarkDashboardLoad: concurrent connections")
	dashDuration = flag.Duration("dash.duration", 10*time.Second, "BenchmarkDashboardLoad: length of each measured phase")
	dashRounds   = flag.Int("dash.rounds", 2, "BenchmarkDashboardLoad: rounds of hit and control phases, every other one in reverse order")
	dashIssues   = flag.Int("dash.issues", 50000, "BenchmarkDashboardLoad: issues seeded, in 10 hostels over 90 days")
	dashMisses   = flag.Int("dash.misses", 200, "BenchmarkDashboardLoad: views timed after a change, one at a time")
	dashLoadgen  = flag.String("dash.loadgen", "auto", "BenchmarkDashboardLoad: wrk (a process of its own), go (clients in this process), or auto (wrk when on PATH)")
	dashGroups   = flag.String("dash.groups", "page,json,page-gz,json-gz,changes,misses", "BenchmarkDashboardLoad: which groups to run")
)

// The figures the dashboard is held to.
const (
	targetHitRatio = 0.85 // a hit against the same bytes from a bare server
	targetMissMS   = 25   // an uncached view
	targetCut      = 0.95 // renders saved under 99 views to 1 change
)

func BenchmarkDashboardLoad(b *testing.B) {
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "DashboardLoad") {
		b.Skip("a load test of minutes: run it by name, make bench-dashboard")
	}
	d := newDashRun(b)
	run := func(name string, fn func()) {
		if slices.Contains(strings.Split(*dashGroups, ","), name) {
			fn()
		}
	}
	run("page", func() { d.hitsAgainstControl("page", "/dashboard", "/page", false) })
	run("json", func() { d.hitsAgainstControl("json", "/api/dashboard/summary", "/json", false) })
	run("page-gz", func() { d.hitsAgainstControl("page-gz", "/dashboard", "/page.gz", true) })
	run("json-gz", func() { d.hitsAgainstControl("json-gz", "/api/dashboard/summary", "/json.gz", true) })
	run("changes", d.changes)
	// Last: a miss is made by moving the dashboard to versions no real
	// event has yet, after which commits no longer move it.
	run("misses", d.misses)
	d.report()
}

// dashRun is the app, its control, and what has been measured.
type dashRun struct {
	b       *testing.B
	app     *testApp
	admin   *webtest.Client
	cookie  string // the admin's cookies, for wrk
	control string // the control server's URL
	wrk     string // wrk's path, or "" for this process's clients
	lines   []string
}

func newDashRun(b *testing.B) *dashRun {
	d := &dashRun{b: b}
	switch *dashLoadgen {
	case "wrk":
		d.wrk = "wrk"
	case "auto":
		d.wrk, _ = exec.LookPath("wrk")
	}
	dbPath := filepath.Join(b.TempDir(), "hostelhub.db")
	start := time.Now()
	seedBig(b, dbPath, *dashIssues)
	d.linef("seeded %d issues in 10 hostels over 90 days in %v", *dashIssues, time.Since(start).Round(time.Second))
	logFile, err := os.Create(filepath.Join(b.TempDir(), "hostelhub.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	cfg := testConfig(b, withRedis(), withoutDemo(), withJSONLog(logFile)) // logging as deployed
	cfg.DatabaseURL = dbPath
	d.app = startApp(b, cfg)
	d.admin = d.app.login("admin@demo.test")
	u, _ := url.Parse(d.app.Base)
	var cs []string
	for _, c := range d.admin.HTTP.Jar.Cookies(u) {
		cs = append(cs, c.Name+"="+c.Value)
	}
	d.cookie = strings.Join(cs, "; ")

	// The control serves what the app serves the admin, byte for byte.
	bodies := map[string]webtest.Response{}
	for path, from := range map[string]struct {
		path string
		gzip bool
	}{"/page": {"/dashboard", false}, "/page.gz": {"/dashboard", true}, "/json": {"/api/dashboard/summary", false}, "/json.gz": {"/api/dashboard/summary", true}} {
		res := d.get(from.path, from.gzip)
		res = d.get(from.path, from.gzip) // the second view is a hit
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Cache") != "HIT" {
			b.Fatalf("GET %s: %d, X-Cache %q; want a 200 HIT", from.path, res.StatusCode, res.Header.Get("X-Cache"))
		}
		bodies[path] = res
	}
	d.control = serveControl(b, bodies)
	gen := "wrk -t" + strconv.Itoa(min(*dashConns, runtime.NumCPU()))
	if d.wrk == "" {
		gen = "clients in this process (wrk is not installed)"
	}
	d.linef("%d connections, %v phases, %d rounds; load generator: %s, on the same %d cores; GOGC %s",
		*dashConns, *dashDuration, *dashRounds, gen, runtime.NumCPU(), gogc())
	return d
}

// seedBig fills a new database with the benchmark's data and accounts.
func seedBig(b *testing.B, path string, issues int) {
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{PasswordCost: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Seed(ctx, store.SeedOptions{Hostels: 10, Issues: issues, Days: 90, Password: webtest.DemoPassword, Seed: 1}); err != nil {
		b.Fatal(err)
	}
}

// serveControl serves each response at its path with net/http alone, the
// plainest server that does the same job: the same head (but the date,
// which net/http writes itself) and body, from memory.
func serveControl(b *testing.B, responses map[string]webtest.Response) string {
	mux := http.NewServeMux()
	for path, res := range responses {
		head := res.Header.Clone()
		head.Del("Date")
		body := []byte(res.Body)
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			for k, v := range head {
				h[k] = v
			}
			w.Write(body)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func (d *dashRun) get(path string, gzip bool) webtest.Response {
	req, _ := http.NewRequest(http.MethodGet, d.app.Base+path, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	return d.admin.Do(req)
}

// hitsAgainstControl measures hits of path and the control's copy, in
// alternating phases, and reports their ratio.
func (d *dashRun) hitsAgainstControl(group, path, controlPath string, gzip bool) {
	hitsBefore := d.app.metric("hostelhub_dashboard_cache_hits_total")
	var hit, control []phase
	for round := range *dashRounds {
		phases := []func(){
			func() { hit = append(hit, d.load(d.app.Base+path, gzip)) },
			func() { control = append(control, d.load(d.control+controlPath, gzip)) },
		}
		if round%2 == 1 {
			slices.Reverse(phases)
		}
		for _, p := range phases {
			p()
		}
	}
	hits := d.app.metric("hostelhub_dashboard_cache_hits_total") - hitsBefore
	h, c := meanOf(hit), meanOf(control)
	ratio := h.rate / c.rate
	d.linef("%-8s hit %8.0f req/s  control %8.0f req/s  hit/control %.3f (target ≥ %.2f: %s)  [%d cache hits]",
		group, h.rate, c.rate, ratio, targetHitRatio, verdict(ratio >= targetHitRatio), int(hits))
	d.linef("%-8s CPU per request: server %.1f µs (control %.1f µs), load generator %.1f µs (control %.1f µs)",
		"", h.serverUS, c.serverUS, h.loadUS, c.loadUS)
	d.b.ReportMetric(ratio, group+"-hit/control")
}

// phase is one measured phase: its rate, and the CPU each request took in
// this process (the servers) and in the load generator.
type phase struct {
	rate, serverUS, loadUS float64
}

func meanOf(ps []phase) phase {
	var m phase
	for _, p := range ps {
		m.rate += p.rate / float64(len(ps))
		m.serverUS += p.serverUS / float64(len(ps))
		m.loadUS += p.loadUS / float64(len(ps))
	}
	return m
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs one phase against url.
func (d *dashRun) load(url string, gzip bool) phase {
	cpu0 := selfCPU()
	var p phase
	var n float64
	if d.wrk != "" {
		var gen time.Duration
		p.rate, n, gen = d.loadWrk(url, gzip)
		p.loadUS = float64(gen.Microseconds()) / n
	} else {
		p.rate, n = d.loadGo(url, gzip)
	}
	p.serverUS = float64((selfCPU() - cpu0).Microseconds()) / n
	return p
}

// loadGo is the load from clients in this process: their CPU counts as
// the server's.
func (d *dashRun) loadGo(url string, gzip bool) (rate, requests float64) {
	tr := &http.Transport{MaxConnsPerHost: *dashConns, MaxIdleConnsPerHost: *dashConns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var ok, bad atomic.Int64
	stop := time.Now().Add(*dashDuration)
	start := time.Now()
	var wg sync.WaitGroup
	for range *dashConns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Cookie", d.cookie)
				if gzip {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				res, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bad.Load() > 0 {
		d.b.Errorf("GET %s: %d requests failed", url, bad.Load())
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), float64(ok.Load())
}

var (
	wrkRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkRequests = regexp.MustCompile(`([0-9]+) requests in`)
)

// loadWrk is the load from wrk, a process of its own: its rate, how many
// requests it made, and the CPU it took.
func (d *dashRun) loadWrk(url string, gzip bool) (rate, requests float64, cpu time.Duration) {
	args := []string{"-t", strconv.Itoa(min(*dashConns, runtime.NumCPU())), "-c", strconv.Itoa(*dashConns),
		"-d", strconv.Itoa(max(1, int(dashDuration.Seconds()))) + "s", "-H", "Cookie: " + d.cookie}
	if gzip {
		args = append(args, "-H", "Accept-Encoding: gzip")
	}
	cmd := exec.Command(d.wrk, append(args, url)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
		d.b.Errorf("wrk %s: errors\n%s", url, out)
	}
	m, n := wrkRate.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		d.b.Fatalf("wrk %s: no rate in\n%s", url, out)
	}
	rate, _ = strconv.ParseFloat(string(m[1]), 64)
	requests, _ = strconv.ParseFloat(string(n[1]), 64)
	return rate, requests, cpu
}

// changes views the dashboard 99 times for every change (a student's
// report), from 10 clients, and counts the renders it took.
func (d *dashRun) changes() {
	const views, every = 5000, 100
	students := make([]*webtest.Client, 3)
	for i := range students {
		students[i] = d.app.login(fmt.Sprintf("student%d@demo.test", i+1))
	}
	rendersBefore := d.app.metric("hostelhub_dashboard_cache_renders_total")
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for {
				i := n.Add(1)
				if i > views {
					return
				}
				if i%every == 0 {
					s := students[int(i/every)%len(students)]
					s.PostForm("/issues", url.Values{"title": {"Bench change " + strconv.FormatInt(i, 10)}, "category": {"water"}})
					continue
				}
				if res := d.get("/dashboard", w%2 == 0); res.StatusCode != http.StatusOK {
					d.b.Errorf("GET /dashboard: %d", res.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	renders := d.app.metric("hostelhub_dashboard_cache_renders_total") - rendersBefore
	viewed := float64(views - views/every)
	perK := renders / viewed * 1000
	cut := 1 - renders/viewed
	d.linef("changes  %d views, %d changes: %.1f renders per 1,000 views, %.1f %% of the database work saved (target ≥ %.0f %%: %s)",
		int(viewed), views/every, perK, cut*100, targetCut*100, verdict(cut >= targetCut))
	d.b.ReportMetric(perK, "renders/1000views")
}

// misses times views that must render: after each, the dashboard moves to
// a version nothing has been rendered for.
func (d *dashRun) misses() {
	version := d.app.app.dashboard.Version() + 1_000_000
	for _, path := range []string{"/dashboard", "/api/dashboard/summary"} {
		var took []time.Duration
		for range *dashMisses {
			version++
			d.app.app.dashboard.Advance(version)
			t0 := time.Now()
			res := d.get(path, false)
			took = append(took, time.Since(t0))
			if res.Header.Get("X-Cache") != "MISS" {
				d.b.Fatalf("GET %s after a change: X-Cache %q, want MISS", path, res.Header.Get("X-Cache"))
			}
		}
		slices.Sort(took)
		p50, p99 := took[len(took)/2], took[len(took)*99/100]
		d.linef("misses   %-24s p50 %6.2f ms  p99 %6.2f ms (target p50 < %d ms: %s)",
			path, ms(p50), ms(p99), targetMissMS, verdict(ms(p50) < targetMissMS))
	}
}

func (d *dashRun) linef(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	d.lines = append(d.lines, line)
	d.b.Log(line)
}

func (d *dashRun) report() {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	fmt.Fprintln(w, "\n== hostelhub dashboard under load")
	for _, l := range d.lines {
		fmt.Fprintln(w, "  "+l)
	}
	w.Flush()
	fmt.Print(out.String())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// gogc is the garbage collector's target in force (GOGC).
func gogc() string {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return strconv.Itoa(p)
}
