package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostelhub as a process of its own, for what the in-process harness
// (app_test.go) cannot show: a SIGTERM or a kill -9 under load, file
// descriptors apart from the client's, memory and CPU of the server alone.

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string // removed by TestMain
)

// hostelhubBinary builds the command once per test run.
func hostelhubBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "hostelhub-bin-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "hostelhub")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if out, err := exec.Command(goTool, "build", "-o", binaryPath, ".").CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// settings are the environment variables hostelhub reads: none of the
// test environment's own (a REDIS_URL, say) reaches a server under test.
var settings = []string{"ADDR", "DATABASE_URL", "REDIS_URL", "SESSION_SECRET", "DEMO", "TLS_CERT", "TLS_KEY", "LOG_FORMAT", "SHUTDOWN_GRACE", "METRICS_ADDR", "LIMITS"}

// serverProcess is hostelhub running as a child process.
type serverProcess struct {
	t    testing.TB
	cmd  *exec.Cmd
	Base string
	Addr string
	// MetricsBase is the URL of the metrics' own address, when env sets
	// METRICS_ADDR.
	MetricsBase string
	Env         []string // its whole environment (GOMAXPROCS and GOGC pass through from the test's)
	Log         string   // its standard output and error: JSON log lines

	exited  chan struct{} // closed when it has exited
	waitErr error         // how it exited, once exited is closed
	stopped bool
}

// startProcess runs the built server with env (on top of the test's own
// environment without hostelhub's settings) on a free port, or on addr
// when restarting on the same one, logging JSON to p.Log, and waits until
// /healthz answers. It dies with the test process, whatever ends that.
func startProcess(t testing.TB, addr string, env ...string) *serverProcess {
	t.Helper()
	bin := hostelhubBinary(t)
	if addr == "" {
		addr = freeAddr(t)
	}
	dir := t.TempDir()
	p := &serverProcess{t: t, Addr: addr, Base: "http://" + addr, Log: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	for _, kv := range env {
		if m, ok := strings.CutPrefix(kv, "METRICS_ADDR="); ok {
			p.MetricsBase = "http://" + m
		}
	}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !slices.Contains(settings, name) {
			p.Env = append(p.Env, kv)
		}
	}
	p.Env = append(append(p.Env, "ADDR="+addr, "LOG_FORMAT=json"), env...)
	logFile, err := os.Create(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own copy
	p.cmd = exec.Command(bin)
	p.cmd.Dir = dir
	p.cmd.Env = p.Env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.Kill)

	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(p.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("hostelhub on %s exited at start (%v); its log:\n%s", addr, p.waitErr, p.tail(4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostelhub on %s did not answer /healthz within a minute (%v); its log:\n%s", addr, err, p.tail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr is a port of 127.0.0.1 free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Pid is the process's id, for reading its memory and CPU in /proc.
func (p *serverProcess) Pid() int { return p.cmd.Process.Pid }

// Terminate sends SIGTERM and waits for the process to exit.
func (p *serverProcess) Terminate() error { return p.Stop(time.Hour) }

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it; it returns how the process ended. Only the first call stops.
func (p *serverProcess) Stop(grace time.Duration) error {
	if p.stopped {
		return p.waitErr
	}
	p.stopped = true
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("killed after %v without exiting on SIGTERM", grace)
	}
}

// Kill ends the process at once, as a crash would.
func (p *serverProcess) Kill() {
	if p.stopped {
		return
	}
	p.stopped = true
	p.cmd.Process.Kill()
	<-p.exited
}

// tail is the end of the process's log, n bytes at most.
func (p *serverProcess) tail(n int) string {
	data, _ := os.ReadFile(p.Log)
	return string(data[max(0, len(data)-n):])
}
