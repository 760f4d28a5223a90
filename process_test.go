package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

// hostelhubBinary builds the command once per test run, for tests that
// need the server in a process of its own: to kill it, or to count its
// file descriptors apart from the client's.
func hostelhubBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryDir, binaryErr = os.MkdirTemp("", "hostelhub-bin-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "hostelhub")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = &buildError{err: err, out: string(out)}
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// serverProcess is hostelhub running as a child process.
type serverProcess struct {
	t    testing.TB
	cmd  *exec.Cmd
	Base string
	Addr string
	env  []string
	log  string
}

// startProcess runs the built server with env on a free port (or addr, when
// restarting on the same one) and waits until /healthz answers.
func startProcess(t testing.TB, addr string, env ...string) *serverProcess {
	t.Helper()
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	p := &serverProcess{t: t, Addr: addr, Base: "http://" + addr, env: env, log: filepath.Join(t.TempDir(), "server.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(hostelhubBinary(t))
	p.cmd.Env = append(append(os.Environ(), "ADDR="+addr, "LOG_FORMAT=json"), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(p.Kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(p.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("hostelhub on %s did not become ready: %v\n%s", addr, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Terminate sends SIGTERM and waits for the process to exit.
func (p *serverProcess) Terminate() error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.cmd = nil
	return err
}

// Kill ends the process at once, as a crash would.
func (p *serverProcess) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}
