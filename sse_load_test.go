package main

// BenchmarkSSEFanout is the live streams' load benchmark (make bench-sse):
// it prints figures, it asserts nothing. hostelhub runs as a separate
// process (built from this directory) so that its memory and CPU are its
// own; this process holds the streams and reports issues.
//
//	go test -run '^$' -bench BenchmarkSSEFanout -benchtime 1x -timeout 20m . \
//	    [-sse.streams 10000] [-sse.rate 5] [-sse.duration 20s] [-sse.idle 20s]
//
// Phases: build and start the server (DEMO=1, empty SQLite file); sign in
// a handful of users; measure its RSS with no stream; open N streams in
// batches, each its own HTTP/1.1 connection, spread over the three hostels;
// sample its CPU over an idle window (heartbeats only) and its RSS after it;
// report issues through POST /api/issues at a steady rate, rotating
// hostels, and time every new_issue frame at every stream from just before
// its POST was sent; wait for stragglers; count streams still open; stop
// the server with SIGTERM.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hostelhub/realtime"
)

var (
	sseStreamsFlag  = flag.Int("sse.streams", 10000, "BenchmarkSSEFanout: streams to hold open")
	sseRateFlag     = flag.Float64("sse.rate", 5, "BenchmarkSSEFanout: issues reported per second")
	sseDurationFlag = flag.Duration("sse.duration", 20*time.Second, "BenchmarkSSEFanout: how long issues are reported")
	sseIdleFlag     = flag.Duration("sse.idle", 20*time.Second, "BenchmarkSSEFanout: idle window for the CPU figure (at least the 20 s heartbeat)")
	sseBatchFlag    = flag.Int("sse.batch", 200, "BenchmarkSSEFanout: streams opened at once, batch after batch")
	sseTimelineFlag = flag.Bool("sse.timeline", false, "BenchmarkSSEFanout: print every report's POST time and first, median and last receipt")
	sseParserFlag   = flag.String("sse.parser", "scan", "BenchmarkSSEFanout: how streams are read: scan (split frames with bytes.Index) or decoder (realtime.Decoder, byte by byte like a browser)")
)

const (
	sseHostels   = 3
	ssePassword  = "demo"
	sseMarker    = "ssebench-" // + the report's sequence number, in the title
	sseHeartbeat = 20 * time.Second
)

type sseFigure struct {
	value float64
	unit  string
}

var (
	sseOnce    sync.Once
	sseFigures []sseFigure
)

func BenchmarkSSEFanout(b *testing.B) {
	// One scenario whatever b.N: it takes a minute or more and its figures
	// are not per operation.
	sseOnce.Do(func() { sseFigures = sseRunBenchmark(b) })
	for _, f := range sseFigures {
		b.ReportMetric(f.value, f.unit)
	}
	b.ReportMetric(0, "ns/op") // meaningless here: hide it
}

// sseRun is one run's shared state.
type sseRun struct {
	b       *testing.B
	t0      time.Time
	base    string
	srv     *sseServer
	client  *http.Client // streams: one TCP connection each
	dials   atomic.Int64
	streams []*sseStream
	readers sync.WaitGroup

	sendAt     []atomic.Int64 // report i: ns since t0 just before its POST; 0: not sent
	postOK     []bool         // written by the reporter, read after it returns
	postDur    []int32        // report i's POST round trip, µs (written by the reporter)
	received   atomic.Int64   // new_issue frames matched to a report
	heartbeats atomic.Int64
	decoder    bool
}

func (r *sseRun) now() int64 { return int64(time.Since(r.t0)) }

// sseStream is one open stream and what its reader recorded. Only its
// reader writes lat/dups/foreign, and they are read after it has stopped.
type sseStream struct {
	hostel  int     // 1..3
	lat     []int32 // by the hostel's report index (report i is index i/3): µs + 1; 0: not received
	dups    int32
	foreign int32 // new_issue frames that were not a report of this hostel
	opened  atomic.Bool
	closed  atomic.Bool
	err     error // why the reader stopped, set before closed
}

type sseUser struct {
	email  string
	hostel int
	cookie string // Cookie header: session and CSRF cookies
	csrf   string
}

func sseRunBenchmark(b *testing.B) []sseFigure {
	n, rate, duration, idle := *sseStreamsFlag, *sseRateFlag, *sseDurationFlag, *sseIdleFlag
	if n < sseHostels || rate <= 0 || duration <= 0 || *sseBatchFlag <= 0 {
		b.Fatalf("sse: need -sse.streams >= %d and positive -sse.rate, -sse.duration, -sse.batch", sseHostels)
	}
	if *sseParserFlag != "scan" && *sseParserFlag != "decoder" {
		b.Fatalf("sse: -sse.parser must be scan or decoder, not %q", *sseParserFlag)
	}
	if idle < sseHeartbeat {
		fmt.Printf("sse: note: -sse.idle %v is shorter than the %v heartbeat: the idle CPU figure may miss heartbeats\n", idle, sseHeartbeat)
	}
	requested := n
	n, fdNote := sseRaiseFileLimit(n)
	fmt.Printf("sse: %s\n", fdNote)
	if lo, hi, err := ssePortRange(); err == nil && n > hi-lo-1000 {
		fmt.Printf("sse: warning: %d streams from one address need as many ephemeral ports; the range is %d-%d\n", n, lo, hi)
	}

	r := &sseRun{b: b, t0: time.Now(), decoder: *sseParserFlag == "decoder"}
	dir := b.TempDir()
	r.srv = sseStartServer(b, dir)
	r.base = r.srv.base
	fmt.Printf("sse: server pid %d at %s, log %s (GOMAXPROCS %d on %d CPUs, shared with this client)\n",
		r.srv.cmd.Process.Pid, r.base, r.srv.logPath, runtime.GOMAXPROCS(0), runtime.NumCPU())

	// Users: per hostel its warden, its student and two more residents;
	// their sessions are shared by many streams (many tabs). The students
	// also report the issues.
	var users [sseHostels][]sseUser
	for h := 1; h <= sseHostels; h++ {
		for _, email := range []string{
			fmt.Sprintf("warden%d@demo.test", h), fmt.Sprintf("student%d@demo.test", h),
			fmt.Sprintf("resident%d.2@demo.test", h), fmt.Sprintf("resident%d.3@demo.test", h),
		} {
			u, err := sseSignIn(r.base, email, h)
			if err != nil {
				b.Fatal(err)
			}
			users[h-1] = append(users[h-1], u)
		}
	}

	// Warm up: the pages and a few streams opened and closed, so that the
	// baseline has touched the code and pools that streams use.
	warm := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for h := range users {
		for _, u := range users[h] {
			for _, path := range []string{"/issues", fmt.Sprintf("/hostels/%d/events", h+1)} {
				if err := sseWarmRequest(warm, r.base+path, u.cookie); err != nil {
					b.Fatalf("warm-up %s as %s: %v", path, u.email, err)
				}
			}
		}
	}
	m0, err := sseScrape(r.base)
	if err != nil {
		b.Fatal(err)
	}
	warm.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	rss0 := sseRSS(b, r.srv.pid())
	lastID := int64(m0["hostelhub_realtime_follower_last_event_id"])

	// The streams' transport: HTTP/1.1 only, no pooling limit, and each
	// stream holds its connection for as long as it is open.
	dialer := &net.Dialer{Timeout: 15 * time.Second}
	r.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			r.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   n + 64,
		MaxConnsPerHost:       0,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		ResponseHeaderTimeout: 60 * time.Second,
		WriteBufferSize:       1024,
	}}

	total := int(math.Floor(rate * duration.Seconds()))
	if total < 1 {
		total = 1
	}
	r.sendAt = make([]atomic.Int64, total)
	r.postOK = make([]bool, total)
	r.postDur = make([]int32, total)
	perHostel := (total + sseHostels - 1) / sseHostels

	// Open the streams in batches: a batch's requests all have their
	// response headers (the server has subscribed them) before the next
	// batch starts, so the accept queue never overflows.
	ctx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	b.Cleanup(func() {
		cancelAll()
		sseWaitTimeout(&r.readers, 30*time.Second)
	})
	r.streams = make([]*sseStream, n)
	for i := range r.streams {
		r.streams[i] = &sseStream{hostel: i%sseHostels + 1, lat: make([]int32, perHostel)}
	}
	var openFailed atomic.Int64
	var retried atomic.Int64
	var firstErrs sseErrors
	openStart := time.Now()
	nextProgress := 2000
	for start := 0; start < n; start += *sseBatchFlag {
		end := min(start+*sseBatchFlag, n)
		var batch sync.WaitGroup
		for i := start; i < end; i++ {
			s := r.streams[i]
			u := users[s.hostel-1][(i/sseHostels)%len(users[s.hostel-1])]
			path := fmt.Sprintf("%s/hostels/%d/events?last_event_id=%d", r.base, s.hostel, lastID)
			batch.Add(1)
			go func() {
				defer batch.Done()
				var err error
				for attempt := range 3 {
					if attempt > 0 {
						retried.Add(1)
						time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
					}
					if err = r.open(ctx, s, path, u.cookie); err == nil {
						return
					}
				}
				openFailed.Add(1)
				firstErrs.add(err)
			}()
		}
		batch.Wait()
		if end >= nextProgress || end == n {
			fmt.Printf("sse: %6d streams opened in %5.1fs (failed %d, server RSS %.1f MiB)\n",
				end-int(openFailed.Load()), time.Since(openStart).Seconds(), openFailed.Load(), float64(sseRSS(b, r.srv.pid()))/(1<<20))
			nextProgress = end + 2000
		}
	}
	openTime := time.Since(openStart)
	opened := 0
	for _, s := range r.streams {
		if s.opened.Load() {
			opened++
		}
	}
	if opened == 0 {
		b.Fatalf("sse: no stream opened: %s", firstErrs.String())
	}

	// Idle: nothing but heartbeats. CPU of the server (and of this client,
	// for the record) over the window, then its RSS.
	time.Sleep(2 * time.Second)
	hb0 := r.heartbeats.Load()
	srvCPU0, cliCPU0, mach0 := sseCPU(b, r.srv.pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	idleStart := time.Now()
	time.Sleep(idle)
	srvCPU1, cliCPU1, mach1 := sseCPU(b, r.srv.pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	idleWall := time.Since(idleStart)
	idleHeartbeats := r.heartbeats.Load() - hb0
	rssN := sseRSS(b, r.srv.pid())
	mN, err := sseScrape(r.base)
	if err != nil {
		b.Fatal(err)
	}
	openAfterIdle := r.countOpen()

	// Load: one reporter at a steady rate, rotating hostels.
	fmt.Printf("sse: reporting %d issues at %.3g/s for %v\n", total, rate, duration)
	mLoad0, err := sseScrape(r.base)
	if err != nil {
		b.Fatal(err)
	}
	var cliMem0, cliMem1 runtime.MemStats
	runtime.ReadMemStats(&cliMem0)
	srvCPU2, cliCPU2, mach2 := sseCPU(b, r.srv.pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	loadStart := time.Now()
	postDur, postErrs := r.report(users, total, rate)
	loadWall := time.Since(loadStart)
	srvCPU3, cliCPU3, mach3 := sseCPU(b, r.srv.pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	runtime.ReadMemStats(&cliMem1)

	var perHostelOK [sseHostels]int
	posted := 0
	for i, ok := range r.postOK {
		if ok {
			perHostelOK[i%sseHostels]++
			posted++
		}
	}
	var expected int64
	for _, s := range r.streams {
		if s.opened.Load() {
			expected += int64(perHostelOK[s.hostel-1])
		}
	}
	drainStart := time.Now()
	for r.received.Load() < expected && time.Since(drainStart) < 15*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // duplicates or strays arriving late
	held := r.countOpen()
	var closedEarly sseErrors
	for _, s := range r.streams {
		if s.opened.Load() && s.closed.Load() {
			closedEarly.add(fmt.Errorf("%v", s.err))
		}
	}
	rssEnd := sseRSS(b, r.srv.pid())
	mEnd, err := sseScrape(r.base)
	if err != nil {
		b.Fatal(err)
	}

	// Stop the server first, with the streams open: it ends them itself.
	shutdownStart := time.Now()
	stopErr := r.srv.stop(30 * time.Second)
	shutdownTime := time.Since(shutdownStart)
	cancelAll()
	if !sseWaitTimeout(&r.readers, 30*time.Second) {
		b.Fatal("sse: stream readers did not stop")
	}

	// Deliveries.
	var lats []int32
	var got, dups, foreign, missing int64
	eventFirst := make([]int32, total)
	eventLast := make([]int32, total)
	var perEvent [][]int32
	if *sseTimelineFlag {
		perEvent = make([][]int32, total)
	}
	for _, s := range r.streams {
		dups += int64(s.dups)
		foreign += int64(s.foreign)
		if !s.opened.Load() {
			continue
		}
		for k, v := range s.lat {
			i := k*sseHostels + s.hostel - 1
			if i >= total || !r.postOK[i] {
				continue
			}
			if v == 0 {
				missing++
				continue
			}
			got++
			lats = append(lats, v-1)
			if perEvent != nil {
				perEvent[i] = append(perEvent[i], v-1)
			}
			if eventFirst[i] == 0 || v < eventFirst[i] {
				eventFirst[i] = v
			}
			eventLast[i] = max(eventLast[i], v)
		}
	}
	slices.Sort(lats)
	var firsts, lasts []int32
	for i := range total {
		if r.postOK[i] && eventLast[i] > 0 {
			firsts = append(firsts, eventFirst[i]-1)
			lasts = append(lasts, eventLast[i]-1)
		}
	}
	for _, l := range perEvent {
		slices.Sort(l)
	}
	slices.Sort(firsts)
	slices.Sort(lasts)
	slices.Sort(postDur)
	ms := func(us int32) float64 { return float64(us) / 1000 }
	p50, p99, pmax := ms(sseQuantile(lats, 0.50)), ms(sseQuantile(lats, 0.99)), ms(sseQuantile(lats, 1))

	// Memory and CPU.
	perStreamRSS := float64(rssN-rss0) / float64(openAfterIdle) / 1024
	perStream := func(name string) float64 { return (mN[name] - m0[name]) / float64(openAfterIdle) }
	idleSrv := (srvCPU1 - srvCPU0).Seconds() / idleWall.Seconds() * 100
	idleCli := (cliCPU1 - cliCPU0).Seconds() / idleWall.Seconds() * 100
	loadSrv := (srvCPU3 - srvCPU2).Seconds() / loadWall.Seconds() * 100
	loadCli := (cliCPU3 - cliCPU2).Seconds() / loadWall.Seconds() * 100
	cpus := float64(runtime.NumCPU())
	// What the rest of the machine used meanwhile, in % of the machine:
	// busy time from /proc/stat less this client's and the server's.
	others := func(m0, m1, own time.Duration, wall time.Duration) float64 {
		return max(0, (m1-m0-own).Seconds()/wall.Seconds()/cpus*100)
	}
	idleOthers := others(mach0, mach1, srvCPU1-srvCPU0+cliCPU1-cliCPU0, idleWall)
	loadOthers := others(mach2, mach3, srvCPU3-srvCPU2+cliCPU3-cliCPU2, loadWall)
	warns, errs, firstWarn, srvPost := sseLogLevels(r.srv.logPath)
	slices.Sort(srvPost)

	pass := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	p := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	p("")
	p("==== SSE fan-out: N=%d streams, rate=%.3g reports/s, duration=%v (idle window %v) ====", n, rate, duration, idle)
	if requested != n {
		p("  N was lowered from %d to %d by the file-descriptor limit (see above)", requested, n)
	}
	p("  server: hostelhub as its own process (DEMO=1, SQLite, no Redis), GOMAXPROCS=%s; client (this process) GOMAXPROCS=%d;", sseGOMAXPROCS(r.srv.env), runtime.GOMAXPROCS(0))
	p("  and server share the same %d CPUs, so every latency and CPU figure includes their contention.", runtime.NumCPU())
	p("  reader: %s", map[bool]string{true: "realtime.Decoder (byte by byte, like a browser)", false: "frame scan (bytes.Index on \\n\\n, event line and marker)"}[r.decoder])
	p("  other processes on this machine used %.1f %% of it during the idle window and %.1f %% while reporting%s",
		idleOthers, loadOthers, map[bool]string{true: "", false: "\n  WARNING: the machine was not quiet: latency and CPU figures are inflated by other work"}[idleOthers < 5 && loadOthers < 5])
	p("")
	p("  streams    requested %d, opened %d in %v (batches of %d; %d retries, %d failed), TCP connections dialled %d",
		n, opened, openTime.Round(time.Millisecond), *sseBatchFlag, retried.Load(), openFailed.Load(), r.dials.Load())
	if openFailed.Load() > 0 {
		p("             first open errors: %s", firstErrs.String())
	}
	p("             held open at the end %d / %d; server counts %d subscribers, %d dropped as slow   target all %d: %s",
		held, n, int(mEnd["hostelhub_realtime_subscribers"]), int(mEnd["hostelhub_realtime_dropped_slow_total"]), n, pass(held == n))
	if closedEarly.n > 0 {
		p("             closed by the server or the network before the end: %s", closedEarly.String())
	}
	p("")
	p("  delivery   latency from just before the report's POST was sent to the new_issue frame's receipt at each stream")
	p("             (includes the POST's own validation and commit, then follower → hub → stream → this reader):")
	p("             p50 %.1f ms   p99 %.1f ms   max %.1f ms   over %d deliveries of %d reports   target p99 < 100 ms: %s",
		p50, p99, pmax, got, posted, pass(p99 < 100 && got > 0))
	p("             per report, first stream p50 %.1f ms, last stream p50 %.1f ms / max %.1f ms (the fan-out's tail)",
		ms(sseQuantile(firsts, 0.5)), ms(sseQuantile(lasts, 0.5)), ms(sseQuantile(lasts, 1)))
	p("             deliveries expected %d, received %d, missing %d, duplicates %d, other hostels' or unknown %d",
		expected, got, missing, dups, foreign)
	p("             reports: %d sent, %d accepted (201), achieved %.3g/s; POST p50 %v p99 %v max %v%s",
		total, posted, float64(total)/loadWall.Seconds(), sseQuantileD(postDur, 0.5), sseQuantileD(postDur, 0.99), sseQuantileD(postDur, 1), postErrs.suffix())
	p("             POST /api/issues as the server measured it (request log): p50 %v p99 %v max %v",
		sseQuantileD(srvPost, 0.5), sseQuantileD(srvPost, 0.99), sseQuantileD(srvPost, 1))
	p("             GC while reporting: server %d cycles (%.0f ms of stop-the-world pauses), client %d cycles (%.0f ms)",
		int(mEnd["go_gc_duration_seconds_count"]-mLoad0["go_gc_duration_seconds_count"]),
		(mEnd["go_gc_duration_seconds_sum"]-mLoad0["go_gc_duration_seconds_sum"])*1000,
		cliMem1.NumGC-cliMem0.NumGC, float64(cliMem1.PauseTotalNs-cliMem0.PauseTotalNs)/1e6)
	if *sseTimelineFlag {
		p("             per report: i hostel sent(s) POST(ms) first/p50/last stream(ms)")
		for i := range total {
			p("             %4d %d %7.3f %7.1f %7.1f %7.1f %7.1f", i, i%sseHostels+1, float64(r.sendAt[i].Load())/1e9,
				ms(r.postDur[i]), ms(eventFirst[i]-1), ms(sseQuantile(perEvent[i], 0.5)), ms(eventLast[i]-1))
		}
	}
	p("")
	p("  memory     server VmRSS %.1f MiB with 0 streams (warmed up) → %.1f MiB with %d open and idle",
		float64(rss0)/(1<<20), float64(rssN)/(1<<20), openAfterIdle)
	p("             per open stream: %.1f KiB RSS   target < 24 KiB: %s", perStreamRSS, pass(perStreamRSS < 24))
	p("             Go, per stream (from /metrics): heap in use %.1f KiB, heap allocated %.1f KiB, stacks %.1f KiB, %.1f heap objects, %.2f goroutines",
		perStream("go_memstats_heap_inuse_bytes")/1024, perStream("go_memstats_heap_alloc_bytes")/1024,
		perStream("go_memstats_stack_inuse_bytes")/1024, perStream("go_memstats_heap_objects"), perStream("go_goroutines"))
	p("             Go totals 0 → N: heap in use %.1f → %.1f MiB, stacks %.1f → %.1f MiB, sys %.1f → %.1f MiB, goroutines %d → %d, GCs %d → %d, next GC at %.1f MiB",
		m0["go_memstats_heap_inuse_bytes"]/(1<<20), mN["go_memstats_heap_inuse_bytes"]/(1<<20),
		m0["go_memstats_stack_inuse_bytes"]/(1<<20), mN["go_memstats_stack_inuse_bytes"]/(1<<20),
		m0["go_memstats_sys_bytes"]/(1<<20), mN["go_memstats_sys_bytes"]/(1<<20),
		int(m0["go_goroutines"]), int(mN["go_goroutines"]), int(m0["go_gc_duration_seconds_count"]), int(mN["go_gc_duration_seconds_count"]),
		mN["go_memstats_next_gc_bytes"]/(1<<20))
	p("             after the reports (every stream has written events): VmRSS %.1f MiB, %.1f KiB per stream; heap in use %.1f MiB, stacks %.1f MiB, goroutines %d",
		float64(rssEnd)/(1<<20), float64(rssEnd-rss0)/float64(max(held, 1))/1024,
		mEnd["go_memstats_heap_inuse_bytes"]/(1<<20), mEnd["go_memstats_stack_inuse_bytes"]/(1<<20), int(mEnd["go_goroutines"]))
	p("")
	p("  idle CPU   server over %v with %d streams open, no events, %d heartbeats received: %.2f %% of one core, %.2f %% of the machine (%d CPUs)",
		idleWall.Round(time.Millisecond), openAfterIdle, idleHeartbeats, idleSrv, idleSrv/cpus, int(cpus))
	p("             target < 5 %% (judged on one core, the stricter): %s;   client meanwhile %.2f %% of one core", pass(idleSrv < 5), idleCli)
	p("  load CPU   server while reporting: %.1f %% of one core (%.1f %% of the machine); client %.1f %% of one core",
		loadSrv, loadSrv/cpus, loadCli)
	p("")
	p("  server     log: %d warnings, %d errors%s; SIGTERM with %d streams open → exited in %v (%v)",
		warns, errs, firstWarn, held, shutdownTime.Round(time.Millisecond), stopErr)
	p("====")

	return []sseFigure{
		{float64(n), "streams"},
		{rate, "reports/s"},
		{duration.Seconds(), "duration-s"},
		{float64(held), "streams-held"},
		{p50, "p50-ms"},
		{p99, "p99-ms"},
		{pmax, "max-ms"},
		{float64(missing), "missing-deliveries"},
		{perStreamRSS, "rss-KiB/stream"},
		{float64(rssEnd-rss0) / float64(max(held, 1)) / 1024, "rss-after-load-KiB/stream"},
		{perStream("go_memstats_heap_inuse_bytes") / 1024, "heap-KiB/stream"},
		{perStream("go_memstats_stack_inuse_bytes") / 1024, "stack-KiB/stream"},
		{idleSrv, "idle-%core"},
		{loadSrv, "load-%core"},
	}
}

// open opens one stream and starts its reader; it returns once the
// response headers are in, i.e. once the server has subscribed it.
func (r *sseRun) open(ctx context.Context, s *sseStream, url, cookie string) error {
	sctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	res, err := r.client.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 1 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		res.Body.Close()
		cancel()
		return fmt.Errorf("GET %s: %s %s %q", req.URL.Path, res.Proto, res.Status, body)
	}
	s.opened.Store(true)
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		defer cancel()
		var err error
		if r.decoder {
			err = r.readDecoder(s, res.Body)
		} else {
			err = r.readScan(s, res.Body)
		}
		res.Body.Close()
		s.err = err
		s.closed.Store(true)
	}()
	return nil
}

var (
	sseNewIssueLine = []byte("\nevent: new_issue\n")
	sseFrameEnd     = []byte("\n\n")
	sseMarkerBytes  = []byte(sseMarker)
	sseHeartbeatEnd = []byte("heartbeat\n")
)

// readScan splits the stream into frames at blank lines (the server ends
// every line with LF) and looks only at new_issue frames: no per-byte work
// and no allocation per frame.
func (r *sseRun) readScan(s *sseStream, body io.Reader) error {
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		now := r.now()
		if n > 0 {
			fresh := buf[len(buf) : len(buf)+n]
			if c := bytes.Count(fresh, sseHeartbeatEnd); c > 0 {
				r.heartbeats.Add(int64(c))
			}
			buf = buf[:len(buf)+n]
			start := 0
			for {
				end := bytes.Index(buf[start:], sseFrameEnd)
				if end < 0 {
					break
				}
				frame := buf[start : start+end+1]
				start += end + 2
				if bytes.HasPrefix(frame, sseNewIssueLine[1:]) || bytes.Contains(frame, sseNewIssueLine) {
					r.record(s, frame, now)
				}
			}
			buf = buf[:copy(buf, buf[start:])]
		}
		if err != nil {
			return err
		}
	}
}

// readDecoder reads with realtime.Decoder, as a browser would.
func (r *sseRun) readDecoder(s *sseStream, body io.Reader) error {
	dec := realtime.NewDecoder(body)
	dec.OnComment = func(text string) {
		if text == "heartbeat" {
			r.heartbeats.Add(1)
		}
	}
	for {
		f, err := dec.Next()
		if err != nil {
			return err
		}
		if f.Event == "new_issue" {
			r.record(s, f.Data, r.now())
		}
	}
}

// record matches a new_issue frame to its report by the marker in the title.
func (r *sseRun) record(s *sseStream, data []byte, now int64) {
	i := bytes.Index(data, sseMarkerBytes)
	if i < 0 {
		s.foreign++
		return
	}
	seq, j := 0, i+len(sseMarkerBytes)
	for ; j < len(data) && data[j] >= '0' && data[j] <= '9'; j++ {
		seq = seq*10 + int(data[j]-'0')
	}
	if j == i+len(sseMarkerBytes) || seq >= len(r.sendAt) || seq%sseHostels != s.hostel-1 {
		s.foreign++
		return
	}
	sent := r.sendAt[seq].Load()
	k := seq / sseHostels
	if sent == 0 || k >= len(s.lat) {
		s.foreign++
		return
	}
	if s.lat[k] != 0 {
		s.dups++
		return
	}
	s.lat[k] = int32(min((now-sent)/1000, math.MaxInt32-1)) + 1
	r.received.Add(1)
}

func (r *sseRun) countOpen() int {
	n := 0
	for _, s := range r.streams {
		if s.opened.Load() && !s.closed.Load() {
			n++
		}
	}
	return n
}

// report POSTs total issues at a steady rate from one goroutine, hostel
// i%3+1 for report i, as that hostel's student, through the JSON API.
func (r *sseRun) report(users [sseHostels][]sseUser, total int, rate float64) ([]time.Duration, *sseErrors) {
	var reporters [sseHostels]sseUser
	for h := range users {
		for _, u := range users[h] {
			if strings.HasPrefix(u.email, "student") {
				reporters[h] = u
			}
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	defer client.CloseIdleConnections()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	durs := make([]time.Duration, 0, total)
	errs := &sseErrors{}
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		u := reporters[i%sseHostels]
		body := fmt.Sprintf(`{"title":"Load test %s%06d","description":"Reported by the SSE load benchmark.","category":"electrical","priority":"normal","location":"Block %d"}`,
			sseMarker, i, i%sseHostels+1)
		req, _ := http.NewRequest(http.MethodPost, r.base+"/api/issues", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", u.csrf)
		req.Header.Set("Cookie", u.cookie)
		sent := time.Now()
		r.sendAt[i].Store(int64(sent.Sub(r.t0)))
		res, err := client.Do(req)
		if err != nil {
			errs.add(err)
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		res.Body.Close()
		durs = append(durs, time.Since(sent))
		r.postDur[i] = int32(time.Since(sent).Microseconds())
		if res.StatusCode != http.StatusCreated {
			errs.add(fmt.Errorf("POST /api/issues: %s %.200s", res.Status, msg))
			continue
		}
		r.postOK[i] = true
	}
	return durs, errs
}

// sseServer is hostelhub running as a child process.
type sseServer struct {
	cmd     *exec.Cmd
	base    string
	env     []string
	logPath string
	exited  chan struct{}
	waitErr error
	stopped bool
}

func (s *sseServer) pid() int { return s.cmd.Process.Pid }

func sseStartServer(b *testing.B, dir string) *sseServer {
	bin := filepath.Join(dir, "hostelhub")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("sse: go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := &sseServer{base: "http://" + addr, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		b.Fatal(err)
	}
	// Nothing of this environment's own hostelhub settings (a REDIS_URL,
	// say) may leak into the measured server.
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "ADDR", "DATABASE_URL", "REDIS_URL", "SESSION_SECRET", "DEMO", "TLS_CERT", "TLS_KEY", "LOG_FORMAT", "SHUTDOWN_GRACE":
		default:
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "DEMO=1", "DATABASE_URL="+filepath.Join(dir, "bench.db"), "ADDR="+addr, "LOG_FORMAT=json")
	s.cmd = exec.Command(bin)
	s.cmd.Dir = dir
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Killed with this process, whatever ends it (a -timeout panic included).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		b.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	b.Cleanup(func() {
		s.stop(15 * time.Second)
		logFile.Close()
	})

	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := http.Get(s.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			b.Fatalf("sse: the server exited at start (%v); its log:\n%s", s.waitErr, sseTail(s.logPath, 4000))
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("sse: the server did not answer /healthz in 2 minutes; its log:\n%s", sseTail(s.logPath, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits up to grace, then kills; it returns how the
// process ended.
func (s *sseServer) stop(grace time.Duration) error {
	if s.stopped {
		return s.waitErr
	}
	s.stopped = true
	select {
	case <-s.exited:
		return s.waitErr
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(grace):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("killed after %v without exiting on SIGTERM", grace)
	}
}

// sseSignIn signs in like a browser and returns the cookies to share.
func sseSignIn(base, email string, hostel int) (sseUser, error) {
	c := newClient()
	res, err := c.Get(base + "/login")
	if err != nil {
		return sseUser{}, err
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return sseUser{}, errors.New("sse: no CSRF token on the sign-in page")
	}
	res, err = c.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "email": {email}, "password": {ssePassword}})
	if err != nil {
		return sseUser{}, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return sseUser{}, fmt.Errorf("sse: sign in as %s: got %d, want 303", email, res.StatusCode)
	}
	u := sseUser{email: email, hostel: hostel}
	baseURL, _ := url.Parse(base)
	var parts []string
	for _, ck := range c.Jar.Cookies(baseURL) {
		parts = append(parts, ck.Name+"="+ck.Value)
		if ck.Name == "_csrf" {
			u.csrf = ck.Value
		}
	}
	u.cookie = strings.Join(parts, "; ")
	if u.csrf == "" || !strings.Contains(u.cookie, "hostelhub_session=") {
		return sseUser{}, fmt.Errorf("sse: sign in as %s: cookies %q", email, u.cookie)
	}
	return u, nil
}

// sseWarmRequest GETs a page, or opens a stream and reads its first bytes.
func sseWarmRequest(c *http.Client, url, cookie string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Cookie", cookie)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", res.Status)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		_, err = res.Body.Read(make([]byte, 64))
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	return err
}

// sseScrape reads the unlabelled samples of the server's /metrics.
func sseScrape(base string) (map[string]float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// sseRSS is a process's VmRSS in bytes.
func sseRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("sse: no VmRSS for pid %d", pid)
	return 0
}

// sseCPU is a process's user plus system CPU time so far (USER_HZ ticks:
// 10 ms resolution).
func sseCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("sse: /proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// sseMachineCPU is the busy time of every CPU so far (/proc/stat: user,
// nice, system and steal; not irq and softirq, which the kernel may or may
// not also charge to the processes it interrupted).
func sseMachineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 0 || i == 1 || i == 2 || i == 7 { // user nice system, idle iowait irq softirq, steal; guest is in user
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// sseRaiseFileLimit raises RLIMIT_NOFILE to the hard limit (the server,
// started later, inherits it) and lowers n if even that is too few: each
// process needs a descriptor per stream and some to spare.
func sseRaiseFileLimit(n int) (int, string) {
	const spare = 256
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n, fmt.Sprintf("cannot read the file-descriptor limit (%v); keeping N=%d", err, n)
	}
	soft := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n, fmt.Sprintf("cannot raise the file-descriptor limit from %d to %d (%v); keeping N=%d", soft, lim.Max, err, n)
	}
	note := fmt.Sprintf("file descriptors: soft limit %d raised to the hard limit %d (inherited by the server)", soft, lim.Max)
	if need := uint64(n + spare); need > lim.Max {
		was := n
		n = max(int(lim.Max)-spare, sseHostels)
		note += fmt.Sprintf("; N=%d needs %d per process: N LOWERED TO %d", was, need, n)
	} else {
		note += fmt.Sprintf("; N=%d needs about %d per process: enough", n, need)
	}
	return n, note
}

func ssePortRange() (int, int, error) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, errors.New("unexpected ip_local_port_range")
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, errors.Join(err1, err2)
}

func sseGOMAXPROCS(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			return v
		}
	}
	return strconv.Itoa(runtime.NumCPU()) + " (default)"
}

// sseLogLevels counts the server log's warnings and errors (JSON lines),
// quotes the first, and returns the latencies it logged for POST /api/issues.
func sseLogLevels(path string) (warns, errs int, first string, posts []time.Duration) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"method":"POST","uri":"/api/issues"`) {
			var entry struct {
				Latency int64 `json:"latency"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil {
				posts = append(posts, time.Duration(entry.Latency))
			}
		}
		isWarn, isErr := strings.Contains(line, `"level":"WARN"`), strings.Contains(line, `"level":"ERROR"`)
		if isWarn {
			warns++
		}
		if isErr {
			errs++
		}
		// The warning every single-instance start gives is expected.
		if (isWarn || isErr) && first == "" && !strings.Contains(line, "no REDIS_URL") {
			first = "; first: " + line[:min(len(line), 300)]
		}
	}
	return warns, errs, first, posts
}

func sseTail(path string, n int) string {
	data, _ := os.ReadFile(path)
	return string(data[max(0, len(data)-n):])
}

func sseQuantile(sorted []int32, q float64) int32 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sseQuantileD(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(100 * time.Microsecond)
}

// sseWaitTimeout waits for wg up to d and reports whether it finished.
func sseWaitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// sseErrors counts errors and keeps the first few distinct ones.
type sseErrors struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *sseErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if msg := err.Error(); len(e.first) < 3 && !slices.Contains(e.first, msg) {
		e.first = append(e.first, msg)
	}
}

func (e *sseErrors) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d: %s", e.n, strings.Join(e.first, " | "))
}

func (e *sseErrors) suffix() string {
	if e.n == 0 {
		return ""
	}
	return "; POST errors " + e.String()
}
