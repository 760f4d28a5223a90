package handlers

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

var dashLoadgen = flag.String("dash.loadgen", "auto", "BenchmarkDashboardLoad: the load generator of the rate phases: wrk (a separate process,"+
	" as the Express design was measured), go (net/http clients in this process), or auto (wrk when on PATH)")

// wrkPath is the wrk the rate phases use, or "" for the in-process clients.
func wrkPath() string {
	switch *dashLoadgen {
	case "go":
		return ""
	case "wrk":
		return "wrk"
	}
	if p, err := exec.LookPath("wrk"); err == nil {
		return p
	}
	return ""
}

// loadWrk is load with wrk: the same connections and duration, from a
// process of its own on the same cores. Hits are counted by the cache's
// own counter, since wrk reads no headers; the CPU per request is the
// server's alone, and wrk's is reported beside it.
func (d *dashLoad) loadWrk(name, path string, dur time.Duration) *loadResult {
	d.waitQuiet()
	d.setLabels(name)
	u, _ := url.Parse(d.srv.URL)
	var cookies []string
	for _, c := range d.admin.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	args := []string{"-t", strconv.Itoa(min(*dashConns, runtime.NumCPU())), "-c", strconv.Itoa(*dashConns),
		"-d", fmt.Sprintf("%ds", max(1, int(dur.Round(time.Second).Seconds()))), "--latency", "-H", "Cookie: " + strings.Join(cookies, "; ")}
	if d.gzip {
		args = append(args, "-H", "Accept-Encoding: gzip")
	}
	cmd := exec.Command(d.wrk, append(args, d.srv.URL+path)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out

	// One request first, for the size of the answer.
	r := &loadResult{name: name, path: path, conns: *dashConns}
	req, _ := http.NewRequest(http.MethodGet, d.srv.URL+path, nil)
	if d.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	if res, err := d.admin.Do(req); err == nil {
		r.respBytes, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	hits0, _ := counterSum(d.reg, "hostelhub_dashboard_cache_hits_total")
	cpu0 := sampleCPU()
	start := time.Now()
	err := cmd.Run()
	r.elapsed = time.Since(start)
	cpu := sampleCPU().since(cpu0, r.elapsed)
	runtime.ReadMemStats(&m1)
	d.setLabels("idle")
	hits1, _ := counterSum(d.reg, "hostelhub_dashboard_cache_hits_total")
	r.hits = int64(hits1 - hits0)
	r.allocs, r.allocBytes, r.gcs = m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc, m1.NumGC-m0.NumGC
	if err != nil {
		r.bad, r.firstBad = 1, fmt.Sprintf("wrk: %v: %s", err, out.String())
		return r
	}
	// wrk's own CPU is not another process's: it is the load generator's.
	if ps := cmd.ProcessState; ps != nil {
		genCPU := ps.UserTime() + ps.SystemTime()
		r.genCPU = genCPU
		cpu.othersPct = max(0, cpu.othersPct-genCPU.Seconds()/(r.elapsed.Seconds()*float64(runtime.NumCPU()))*100)
	}
	r.cpu = cpu
	parseWrk(out.String(), r)
	return r
}

// parseWrk reads wrk's report: requests, rate, latency percentiles and errors.
func parseWrk(report string, r *loadResult) {
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, _ := strconv.ParseInt(f[0], 10, 64)
			r.ok += n
			if d, err := time.ParseDuration(strings.TrimSuffix(f[3], ",")); err == nil {
				r.elapsed = d
			}
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.p50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99 = wrkDuration(f[1])
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			r.bad += n
			r.ok -= n
			r.firstBad = "non-2xx responses"
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			for i := 2; i+1 < len(f); i += 2 {
				if n, _ := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64); n > 0 && f[i] != "timeout" {
					r.bad += n
					r.firstBad = "socket errors: " + strings.Join(f[2:], " ")
				}
			}
		}
	}
}

// wrkDuration reads wrk's latencies: 812.00us, 1.23ms, 2.00s, 1.02m.
func wrkDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
