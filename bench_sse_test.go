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
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	sseStreamsFlag  = flag.Int("sse.streams", 10000, "BenchmarkSSEFanout: streams to hold open")
	sseRateFlag     = flag.Float64("sse.rate", 1, "BenchmarkSSEFanout: issues reported per second")
	sseDurationFlag = flag.Duration("sse.duration", 20*time.Second, "BenchmarkSSEFanout: how long issues are reported")
	sseIdleFlag     = flag.Duration("sse.idle", 20*time.Second, "BenchmarkSSEFanout: idle window for the CPU figure (at least the 20 s heartbeat)")
	sseBatchFlag    = flag.Int("sse.batch", 200, "BenchmarkSSEFanout: streams opened at once, batch after batch")
	sseTimelineFlag = flag.Bool("sse.timeline", false, "BenchmarkSSEFanout: print every report's POST time and first, median and last receipt")
	sseParserFlag   = flag.String("sse.parser", "scan", "BenchmarkSSEFanout: how streams are read: scan (split frames with bytes.Index) or decoder (realtimetest.Decoder, byte by byte like a browser)")
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
	srv     *serverProcess
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
	r.base = r.srv.Base
	fmt.Printf("sse: server pid %d at %s, log %s (GOMAXPROCS %d on %d CPUs, shared with this client)\n",
		r.srv.Pid(), r.base, r.srv.Log, runtime.GOMAXPROCS(0), runtime.NumCPU())

	// Users: per hostel its warden, its student and two more residents;
	// their sessions are shared by many streams (many tabs). The students
	// also report the issues.
	var users [sseHostels][]sseUser
	for h := 1; h <= sseHostels; h++ {
		for _, email := range []string{
			fmt.Sprintf("warden%d@demo.test", h), fmt.Sprintf("student%d@demo.test", h),
			fmt.Sprintf("resident%d.2@demo.test", h), fmt.Sprintf("resident%d.3@demo.test", h),
		} {
			users[h-1] = append(users[h-1], sseSignIn(b, r.base, email, h))
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
	m0, err := scrapeMetrics(http.DefaultClient, r.srv.MetricsBase)
	if err != nil {
		b.Fatal(err)
	}
	warm.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	rss0 := sseRSS(b, r.srv.Pid())
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
				end-int(openFailed.Load()), time.Since(openStart).Seconds(), openFailed.Load(), float64(sseRSS(b, r.srv.Pid()))/(1<<20))
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
	srvCPU0, cliCPU0, mach0 := sseCPU(b, r.srv.Pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	idleStart := time.Now()
	time.Sleep(idle)
	srvCPU1, cliCPU1, mach1 := sseCPU(b, r.srv.Pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	idleWall := time.Since(idleStart)
	idleHeartbeats := r.heartbeats.Load() - hb0
	rssN := sseRSS(b, r.srv.Pid())
	mN, err := scrapeMetrics(http.DefaultClient, r.srv.MetricsBase)
	if err != nil {
		b.Fatal(err)
	}
	openAfterIdle := r.countOpen()

	// Load: one reporter at a steady rate, rotating hostels.
	fmt.Printf("sse: reporting %d issues at %.3g/s for %v\n", total, rate, duration)
	mLoad0, err := scrapeMetrics(http.DefaultClient, r.srv.MetricsBase)
	if err != nil {
		b.Fatal(err)
	}
	var cliMem0, cliMem1 runtime.MemStats
	runtime.ReadMemStats(&cliMem0)
	srvCPU2, cliCPU2, mach2 := sseCPU(b, r.srv.Pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
	loadStart := time.Now()
	postDur, postErrs := r.report(users, total, rate)
	loadWall := time.Since(loadStart)
	srvCPU3, cliCPU3, mach3 := sseCPU(b, r.srv.Pid()), sseCPU(b, os.Getpid()), sseMachineCPU()
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
	rssEnd := sseRSS(b, r.srv.Pid())
	mEnd, err := scrapeMetrics(http.DefaultClient, r.srv.MetricsBase)
	if err != nil {
		b.Fatal(err)
	}

	// Stop the server first, with the streams open: it ends them itself.
	shutdownStart := time.Now()
	stopErr := r.srv.Stop(30 * time.Second)
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
	warns, errs, firstWarn, srvPost := sseLogLevels(r.srv.Log)
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
	p("  server: hostelhub as its own process (DEMO=1, SQLite, no Redis), GOMAXPROCS=%s; client (this process) GOMAXPROCS=%d;", sseGOMAXPROCS(r.srv.Env), runtime.GOMAXPROCS(0))
	p("  and server share the same %d CPUs, so every latency and CPU figure includes their contention.", runtime.NumCPU())
	p("  reader: %s", map[bool]string{true: "realtimetest.Decoder (byte by byte, like a browser)", false: "frame scan (bytes.Index on \\n\\n, event line and marker)"}[r.decoder])
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
	all50, all99, allMax := ms(sseQuantile(lasts, 0.5)), ms(sseQuantile(lasts, 0.99)), ms(sseQuantile(lasts, 1))
	p("  all received  per report, from just before its POST was sent until the last of its hostel's streams had")
	p("             its new_issue frame (a warden's page is late when the last stream is):")
	p("             p50 %.1f ms   p99 %.1f ms   max %.1f ms   over %d reports   targets p50 < 50 ms: %s, p99 < 100 ms: %s",
		all50, all99, allMax, len(lasts), pass(all50 < 50 && len(lasts) > 0), pass(all99 < 100 && len(lasts) > 0))
	p("             (before this work, on this machine's kind: 10,000 streams p50 175 ms, p99 287–296 ms; 1,000 streams 23 / 43 ms)")
	p("  delivery   each stream's own latency, from the same moment to its receipt:")
	p("             p50 %.1f ms   p99 %.1f ms   max %.1f ms   over %d deliveries of %d reports; first stream per report p50 %.1f ms",
		p50, p99, pmax, got, posted, ms(sseQuantile(firsts, 0.5)))
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
	p("             per open stream: %.1f KiB RSS   target ≤ 12 KiB: %s   (before this work: 23–26 KiB at 10,000)", perStreamRSS, pass(perStreamRSS <= 12))
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
	p("             target < 2 %% of a core: %s;   client meanwhile %.2f %% of one core", pass(idleSrv < 2), idleCli)
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
		{all50, "all-received-p50-ms"},
		{all99, "all-received-p99-ms"},
		{allMax, "all-received-max-ms"},
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
