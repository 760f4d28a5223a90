package main

// A page whose live stream is cut: by the network (a TCP proxy the test
// cuts), and by a restart of the server.

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"hostelhub/store"
)

// cutter is a TCP proxy between the browser and the app that can drop
// every connection through it at once (a reset, as a network drop) and
// refuse new ones until told otherwise, while the server runs on.
type cutter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startCutter(t *testing.T, target string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target, conns: map[net.Conn]bool{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) url() string { return "http://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go c.relay(conn)
	}
}

func (c *cutter) relay(client net.Conn) {
	defer c.wg.Done()
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
	if down {
		reset(client)
		return
	}
	server, err := net.DialTimeout("tcp", c.target, 2*time.Second)
	if err != nil {
		reset(client)
		return
	}
	c.mu.Lock()
	if c.down || c.conns == nil {
		c.mu.Unlock()
		reset(client)
		server.Close()
		return
	}
	c.conns[client], c.conns[server] = true, true
	c.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, client); done <- struct{}{} }()
	go func() { io.Copy(client, server); done <- struct{}{} }()
	<-done
	c.mu.Lock()
	delete(c.conns, client)
	delete(c.conns, server)
	c.mu.Unlock()
	client.Close()
	server.Close()
	<-done
}

// reset closes a connection with a TCP reset, as a dropped network shows itself.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cut drops every connection through the cutter and refuses new ones until up.
func (c *cutter) cut() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	n := 0
	for conn := range c.conns {
		reset(conn)
		n++
	}
	return n / 2
}

func (c *cutter) up() {
	c.mu.Lock()
	c.down = false
	c.mu.Unlock()
}

func (c *cutter) close() {
	c.ln.Close()
	c.mu.Lock()
	for conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
	c.mu.Unlock()
	c.wg.Wait()
}

// listenOn listens on addr again, once the server that had it has let go.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserLiveCatchesUpAfterADropAndARestart: a warden's page whose
// stream is cut shows "reconnecting", then catches up with what it missed,
// exactly once and without a reload, and goes back to "live": first after a
// dropped connection with the server running on (a proxy cuts it), then
// across a restart of the server on the same address and database.
func TestBrowserLiveCatchesUpAfterADropAndARestart(t *testing.T) {
	a, b := startWithBrowser(t)
	link := startCutter(t, a.Addr)

	// Two tabs of the warden: one straight to the server, one through a link the test can cut.
	direct := liveTab(b, "warden1-direct")
	if home := direct.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	linked := liveTabBeside(b, direct, "warden1-through-the-cutter")
	linked.openAt(link.url() + "/issues")
	direct.waitLiveState("live")
	linked.waitLiveState("live")
	directMark, linkedMark := direct.setMarker(), linked.setMarker()

	student := a.login("student1@demo.test")

	// 1. The network drops under one page; the server runs on.
	cutAt := time.Now()
	t.Logf("the cutter reset %d connections (the stream's, and idle ones)", link.cut())
	linked.waitLiveState("reconnecting")
	dropped := reportAs(t, student, "Geyser tripped during the drop "+uniqueWord())
	direct.waitFor("the issue on the page that kept its stream", `!!document.getElementById(`+jsString(issueID(dropped))+`)`)
	if n := linked.copies(issueID(dropped)); n != 0 || linked.liveState() != "reconnecting" {
		t.Fatalf("the cut page has %d copies of the issue and says %q while its link is down; want 0 and reconnecting", n, linked.liveState())
	}
	link.up()
	linked.waitLiveState("live")
	linked.waitFor("the missed issue after the reconnect", `!!document.getElementById(`+jsString(issueID(dropped))+`)`)
	t.Logf("drop: cut → reconnecting → live with the missed issue in %v", time.Since(cutAt).Round(time.Millisecond))
	if n := linked.copies(issueID(dropped)); n != 1 {
		t.Errorf("after the drop the page shows the missed issue %d times, want once", n)
	}
	linked.sameDocument(linkedMark, "the reconnect after a drop")

	// 2. The server restarts on the same address and database.
	stopAt := time.Now()
	a.Stop()
	t.Logf("the server stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	direct.waitLiveState("reconnecting")
	linked.waitLiveState("reconnecting")

	// An issue reported while the server is down, straight into its database.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, a.cfg.DatabaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(ctx, "student1@demo.test")
	if err != nil {
		t.Fatal(err)
	}
	gap, err := st.CreateIssue(ctx, store.NewIssue{HostelID: 1, ReporterID: u.ID, Title: "Power cut while the server was down " + uniqueWord(),
		Category: "electrical", Priority: store.Urgent, Location: "Block A"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tb := range []*tab{direct, linked} {
		if s := tb.liveState(); s != "reconnecting" {
			t.Errorf("%s: #live says %q while the server is down, want reconnecting", tb.name, s)
		}
	}

	a = startAppOn(t, a.cfg, listenOn(t, a.Addr))
	restartedAt := time.Now()
	// And one through the new server, most likely before the pages reconnect.
	after := reportAs(t, a.login("student1@demo.test"), "Lift stuck after the restart "+uniqueWord())
	t.Logf("reported %d through the new server while the pages said %q and %q", after, direct.liveState(), linked.liveState())

	for _, tb := range []*tab{direct, linked} {
		tb.waitLiveState("live")
		tb.waitFor("the issues reported across the restart", `!!document.getElementById(`+jsString(issueID(gap))+`) && !!document.getElementById(`+jsString(issueID(after))+`)`)
	}
	t.Logf("restart: new server up → both pages live with both issues in %v (stopped → up: %v)",
		time.Since(restartedAt).Round(time.Millisecond), restartedAt.Sub(stopAt).Round(time.Millisecond))
	direct.sameDocument(directMark, "the reconnect after a restart")
	linked.sameDocument(linkedMark, "the reconnect after a restart")
	for _, tb := range []*tab{direct, linked} {
		for _, id := range []int64{dropped, gap, after} {
			if n := tb.copies(issueID(id)); n != 1 {
				t.Errorf("%s: issue %d shows %d times, want once", tb.name, id, n)
			}
		}
		// Once by the server too, not only once on the page thanks to app.js.
		if n := tb.messages("new_issue", ""); n != 3 {
			t.Errorf("%s: the stream handed the page %d new_issue messages, want 3 (one per issue)", tb.name, n)
		}
		if ids := tb.rowIDs("article.issue"); len(ids) < 3 || ids[0] != after || ids[1] != gap || ids[2] != dropped {
			t.Errorf("%s: the list starts %v, want the newest first: %d, %d, %d", tb.name, ids[:min(3, len(ids))], after, gap, dropped)
		}
		t.Logf("%s: #live went %v", tb.name, tb.liveStates())
	}
}
