// Package redistest gives hostelhub's tests a real Redis: the shared one
// (REDIS_URL, else the local default) or a private redis-server that a test
// can kill and start again on the same port. Where Redis is missing, tests
// skip with one line saying why, except under CI=true, where they fail.
package redistest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SkipOrFatal skips t for a missing dependency, or fails it under CI=true,
// where nothing may be skipped.
func SkipOrFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// missing remembers, by URL, a shared Redis that did not answer, so that a
// missing Redis costs one connection attempt per test binary, not one per
// test (each of which would otherwise wait out its dial).
var missing sync.Map // URL -> error

// URL is the shared Redis's URL, after checking that it answers. Once it has
// not answered, URL skips (or fails, under CI=true) without asking it again.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("REDIS_URL %q: %v", u, err)
	}
	if err, ok := missing.Load(u); ok {
		SkipOrFatal(t, "no Redis at %s (%v): skipping what needs it", u, err)
	}
	opts.MaxRetries = -1
	opts.DialerRetries = 1 // one dial, no backoff
	opts.DialTimeout = time.Second
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		missing.Store(u, err)
		SkipOrFatal(t, "no Redis at %s (%v): skipping what needs it", u, err)
	}
	return u
}

// Prefix returns a random key prefix, "hostelhub-test:{12 hex}:", for a test
// that writes to the shared Redis: tests that run at the same time (or in
// other packages) never see each other's keys. It does not clean up; a test
// deletes the keys it wrote, by name (never with KEYS or SCAN), or gives
// them a TTL.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random key prefix: %v", err)
	}
	return "hostelhub-test:" + hex.EncodeToString(b[:]) + ":"
}

// Client is a client of the shared Redis, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, _ := redis.ParseURL(URL(t))
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// Server is a private redis-server with no persistence.
type Server struct {
	t    testing.TB
	path string
	port int
	dir  string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

// Start runs a redis-server on a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		SkipOrFatal(t, "no redis-server binary (%v): skipping what needs a private Redis", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{t: t, path: path, port: port, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Restart starts the server (again, on the same port) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.out.Reset()
	s.cmd = exec.Command(s.path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	probe := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer probe.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := probe.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("redis-server on %s did not answer: %v\n%s", s.Addr(), err, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}
