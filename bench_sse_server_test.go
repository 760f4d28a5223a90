package main

// The server side of BenchmarkSSEFanout (bench_sse_test.go): hostelhub in
// a process of its own (startProcess, process_test.go), its memory and CPU
// read from /proc, and its log read for warnings and request latencies.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseStartServer starts the measured server: hostelhub as its own
// process (DEMO=1, an empty SQLite file in dir, no Redis). Its users hold
// hundreds of streams each and report more than an hour's issues: the
// limits are lifted for the load, which is not one person's.
func sseStartServer(b *testing.B, dir string) *serverProcess {
	return startProcess(b, "", "DEMO=1", "DATABASE_URL="+filepath.Join(dir, "bench.db"), "METRICS_ADDR="+freeAddr(b), "LIMITS=reports=1000000,streams=1000000")
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
