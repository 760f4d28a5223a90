package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hostelhub/handlers/webtest"
	"hostelhub/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// reporter is a student posting reports through the JSON API as fast as the
// server answers, remembering every issue the server acknowledged. It
// posts from goroutines, by hand, so that a refused or cut request counts
// instead of failing the test.
type reporter struct {
	c     *http.Client
	base  string
	token string

	mu    sync.Mutex
	acked []int64
	codes map[int]int
	errs  int
}

func newReporter(t *testing.T, base, email string) *reporter {
	c := webtest.NewClient(t, base)
	c.SignIn(email, webtest.DemoPassword)
	return &reporter{c: c.HTTP, base: base, codes: map[int]int{}, token: c.CSRF()}
}

func (r *reporter) report(title string) {
	req, _ := http.NewRequest(http.MethodPost, r.base+"/api/issues", strings.NewReader(`{"title":"`+title+`","category":"other"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", r.token)
	res, err := r.c.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs++ // refused or cut: never acknowledged, so never promised
		return
	}
	defer res.Body.Close()
	r.codes[res.StatusCode]++
	if res.StatusCode == http.StatusCreated {
		var out struct {
			Issue struct{ ID int64 } `json:"issue"`
		}
		if json.NewDecoder(res.Body).Decode(&out) == nil {
			r.acked = append(r.acked, out.Issue.ID)
		}
	}
}

// load runs workers reporters until stop is closed.
func load(t *testing.T, base string, workers int, stop <-chan struct{}) []*reporter {
	rs := make([]*reporter, workers)
	for i := range rs {
		rs[i] = newReporter(t, base, fmt.Sprintf("resident%d.%d@demo.test", 1+i%3, 2+i%11))
	}
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r.report(fmt.Sprintf("Load %d-%d", i, n))
			}
		})
	}
	t.Cleanup(wg.Wait)
	return rs
}

// missing opens the database the server used and returns the acknowledged
// issues it does not hold.
func missing(t *testing.T, dbPath string, rs []*reporter) (acked int, lost []int64) {
	t.Helper()
	st, err := store.Open(context.Background(), dbPath, store.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range rs {
		r.mu.Lock()
		for _, id := range r.acked {
			acked++
			if _, err := st.Issue(context.Background(), id); errors.Is(err, store.ErrNotFound) {
				lost = append(lost, id)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r.mu.Unlock()
	}
	return acked, lost
}

func sum5xx(rs []*reporter) (answered, fivexx, cut int) {
	for _, r := range rs {
		r.mu.Lock()
		for code, n := range r.codes {
			answered += n
			if code >= 500 {
				fivexx += n
			}
		}
		cut += r.errs
		r.mu.Unlock()
	}
	return
}

// unlimitedReports lets the load's reporters write as fast as the server
// answers, as they did before reports were limited, so that writes are in
// flight when the server is stopped (TestRapidReportsRefused is the limit's).
const unlimitedReports = "LIMITS=reports=1000000"

// SIGTERM under load: requests in flight finish, and every issue the server
// acknowledged is in the database after it stops.
func TestHardenSIGTERMUnderLoad(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hostelhub.db")
	p := startProcess(t, "", "DEMO=1", "DATABASE_URL="+db, "SHUTDOWN_GRACE=10s", unlimitedReports)
	stop := make(chan struct{})
	rs := load(t, p.Base, 20, stop)
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	err := p.Terminate()
	stopped := time.Since(start)
	close(stop)
	if err != nil {
		t.Errorf("the server exited with %v after SIGTERM", err)
	}
	answered, fivexx, cut := sum5xx(rs)
	acked, lost := missing(t, db, rs)
	t.Logf("harden: SIGTERM under load: %d requests answered, %d 5xx, %d refused after the listener closed; stopped in %v; %d acknowledged, %d lost",
		answered, fivexx, cut, stopped.Round(time.Millisecond), acked, len(lost))
	if fivexx > 0 || len(lost) > 0 || acked == 0 {
		t.Errorf("5xx %d, lost %v of %d", fivexx, lost, acked)
	}
	if stopped > 10*time.Second {
		t.Errorf("SIGTERM took %v", stopped)
	}
}

// kill -9 under load loses nothing acknowledged: a 201 means committed.
func TestHardenKill9UnderLoad(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hostelhub.db")
	p := startProcess(t, "", "DEMO=1", "DATABASE_URL="+db, unlimitedReports)
	stop := make(chan struct{})
	rs := load(t, p.Base, 20, stop)
	time.Sleep(1500 * time.Millisecond)
	p.Kill()
	close(stop)
	answered, fivexx, cut := sum5xx(rs)
	// A restart on the same file recovers the WAL.
	p2 := startProcess(t, "", "DEMO=1", "DATABASE_URL="+db)
	p2.Terminate()
	acked, lost := missing(t, db, rs)
	t.Logf("harden: kill -9 under load: %d requests answered, %d 5xx, %d cut; %d acknowledged, %d lost", answered, fivexx, cut, acked, len(lost))
	if fivexx > 0 || len(lost) > 0 || acked == 0 {
		t.Errorf("5xx %d, lost %v of %d", fivexx, lost, acked)
	}
}

// A client that never finishes its headers is cut off, and ten thousand
// idle connections do not keep anyone from signing in.
func TestHardenSlowAndIdleClients(t *testing.T) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	idle := min(10000, int(lim.Max)-500)
	p := startProcess(t, "", "DEMO=1", "DATABASE_URL="+filepath.Join(t.TempDir(), "hostelhub.db"))

	slow, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	fmt.Fprintf(slow, "GET /login HTTP/1.1\r\nHost: %s\r\nX-Slow: ", p.Addr)
	slow.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.ReadAll(slow)
	cutAfter := time.Since(start)
	if err != nil || cutAfter > 7*time.Second {
		t.Errorf("a client that never finished its headers was cut after %v (%v), want within the 5 s header timeout", cutAfter, err)
	}

	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < idle {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("opening idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	start = time.Now()
	c := webtest.NewClient(t, p.Base)
	c.SignIn("warden1@demo.test", webtest.DemoPassword)
	res := c.Get("/issues")
	signedIn := time.Since(start)
	t.Logf("harden: slow client cut after %v; with %d idle connections open, a sign-in and a page took %v", cutAfter.Round(time.Millisecond), len(conns), signedIn.Round(time.Millisecond))
	if res.StatusCode != http.StatusOK || signedIn > 3*time.Second {
		t.Errorf("with %d idle connections: %d in %v", len(conns), res.StatusCode, signedIn)
	}
}
