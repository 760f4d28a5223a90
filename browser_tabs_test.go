package main

// One user with many pages open: over HTTP/2 they share one connection;
// over HTTP/1.1 (six connections per origin) hidden tabs and pages not
// shown give their stream back, and catch up when shown again.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"hostelhub/handlers/webtest"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key to files,
// and returns them with a pool that trusts the certificate.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestBrowserLiveEightTabsOverHTTP2: over HTTPS the app speaks HTTP/2, so
// one user's eight tabs (one browser context: one cookie jar, one
// connection pool) all load and all hold a live stream at once, where
// HTTP/1.1 allows six connections; a report then reaches all eight.
func TestBrowserLiveEightTabsOverHTTP2(t *testing.T) {
	chromiumPath(t)
	certFile, keyFile, pool := selfSignedCert(t)
	a := newTestApp(t, withTLS(certFile, keyFile))
	b := newBrowserWith(t, a.Base, chromedp.IgnoreCertErrors)

	first := liveTab(b, "warden1-tab1")
	if home := first.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	tabs := []*tab{first}
	for i := 2; i <= 8; i++ {
		tabs = append(tabs, liveTabBeside(b, first, fmt.Sprintf("warden1-tab%d", i)))
	}
	began := time.Now()
	inParallel(t, tabs[1:], "open /issues", goTo("/issues"))
	for _, tb := range tabs {
		tb.waitLiveState("live")
		if p := tb.nextHop(); p != "h2" {
			t.Errorf("%s: the page came over %q, want h2", tb.name, p)
		}
	}
	t.Logf("7 more tabs loaded, and all 8 live over HTTP/2, in %v", time.Since(began).Round(time.Millisecond))

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer transport.CloseIdleConnections()
	student := a.client()
	student.HTTP.Transport = transport
	student.SignIn("student1@demo.test", webtest.DemoPassword)
	reported := time.Now()
	id := reportAs(t, student, "Corridor light flickers "+uniqueWord())
	var slowest time.Duration
	for _, tb := range tabs {
		tb.waitFor("the report on every tab", `!!document.getElementById(`+jsString(issueID(id))+`)`)
		slowest = max(slowest, tb.seenAt(issueID(id)).Sub(reported))
		if n := tb.copies(issueID(id)); n != 1 {
			t.Errorf("%s: the report shows %d times, want once", tb.name, n)
		}
		if s := tb.liveState(); s != "live" {
			t.Errorf("%s: #live says %q, want live", tb.name, s)
		}
	}
	t.Logf("report → all 8 tabs within %v", slowest.Round(time.Millisecond))
}

// TestBrowserLiveHiddenTabsGiveBackTheirConnection: over HTTP/1.1 a browser
// opens six connections per origin, and each page with a stream holds one.
// Seven pages of one user are six streams and a page that cannot load; the
// hidden ones give their stream back five seconds after being hidden
// (app.js), so the waiting page loads and goes live, and so does an eighth.
// Shown again, a hidden page reconnects, replays what it missed and shows
// it once.
func TestBrowserLiveHiddenTabsGiveBackTheirConnection(t *testing.T) {
	a, b := startWithBrowser(t)

	// The eighth tab opens the user's browser context and waits, blank.
	eighth := liveTab(b, "warden1-tab8")
	var tabs []*tab
	for i := 1; i <= 7; i++ {
		tabs = append(tabs, liveTabBeside(b, eighth, fmt.Sprintf("warden1-tab%d", i)))
	}
	six, seventh := tabs[:6], tabs[6]

	// Six pages of the list: six streams, one connection each.
	if home := six[0].signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	inParallel(t, six[1:], "open /issues", goTo("/issues"))
	waitAllLive(t, six...)
	if p := six[0].nextHop(); p != "http/1.1" {
		t.Fatalf("the page came over %q: this test is about HTTP/1.1", p)
	}

	// The seventh page cannot load while six streams hold the connections.
	// The six are hidden at once; watch the seventh until just before app.js
	// releases their streams (5 s after hiding), then see it load.
	loaded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(seventh.ctx, 20*time.Second)
		defer cancel()
		res, err := chromedp.RunResponse(ctx, chromedp.Navigate(b.base+"/issues"))
		if err == nil && (res == nil || res.Status != 200) {
			err = fmt.Errorf("got %s, want 200", resStatus(res))
		}
		loaded <- err
	}()
	hidden := time.Now()
	for _, tb := range six {
		tb.setHidden(true)
	}
	select {
	case err := <-loaded:
		t.Fatalf("a seventh page loaded %v after the six were hidden, before their streams were released (%v): the six-connection limit this test is about is not there",
			time.Since(hidden), err)
	case <-time.After(time.Until(hidden.Add(4500 * time.Millisecond))):
	}
	select {
	case err := <-loaded:
		if err != nil {
			t.Fatalf("the seventh page: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the seventh page did not load within 20 s of hiding the six")
	}
	loadedIn := time.Since(hidden)
	seventh.waitLiveState("live")
	t.Logf("hid six → the seventh page loaded %v later", loadedIn.Round(time.Millisecond))
	seventh.setHidden(true)
	for _, tb := range six {
		tb.waitLiveState("paused")
	}
	seventh.waitLiveState("paused")

	// With seven hidden and paused, the eighth opens the list and goes live.
	eighth.openOK("/issues")
	eighth.waitLiveState("live")
	mark := map[*tab]string{eighth: eighth.setMarker()}
	for _, tb := range tabs {
		mark[tb] = tb.setMarker()
	}
	t.Logf("seven hidden and paused, the eighth live: %v after hiding six", time.Since(hidden).Round(time.Millisecond))

	// A report reaches the visible tab live; the hidden ones hold no stream.
	id := reportAs(t, a.login("student1@demo.test"), "Bathroom tap leaks "+uniqueWord())
	rowID := issueID(id)
	eighth.waitFor("the report on the visible tab", `!!document.getElementById(`+jsString(rowID)+`)`)
	for _, tb := range tabs {
		if tb.copies(rowID) != 0 || tb.liveState() != "paused" {
			t.Errorf("%s: hidden, it shows the report %d times and says %q; want 0 and paused", tb.name, tb.copies(rowID), tb.liveState())
		}
	}

	// Shown again, each reconnects and replays what it missed, once. Five
	// at a time (with the eighth: six streams); the user then closes them
	// and looks at the last two.
	show := func(group []*tab) {
		t.Helper()
		shown := time.Now()
		for _, tb := range group {
			tb.setHidden(false)
		}
		for _, tb := range group {
			tb.waitLiveState("live")
			tb.waitFor("the missed report after the replay", `!!document.getElementById(`+jsString(rowID)+`)`)
		}
		t.Logf("showed %d tabs → all live with the missed report in %v", len(group), time.Since(shown).Round(time.Millisecond))
		for _, tb := range group {
			if n := tb.copies(rowID); n != 1 {
				t.Errorf("%s: shown again, it shows the report %d times, want once", tb.name, n)
			}
			if n := tb.messages("new_issue", ""); n != 1 {
				t.Errorf("%s: shown again, its stream was handed %d new_issue messages, want 1", tb.name, n)
			}
			if ids := tb.rowIDs("article.issue"); len(ids) == 0 || ids[0] != id {
				t.Errorf("%s: the list starts %v, want the report on top", tb.name, ids[:min(1, len(ids))])
			}
			tb.sameDocument(mark[tb], "showing the tab again")
		}
	}
	show(tabs[:5])
	var wg sync.WaitGroup
	for _, tb := range tabs[:5] {
		wg.Go(tb.close)
	}
	wg.Wait()
	show(tabs[5:])
	eighth.sameDocument(mark[eighth], "the report")
	if n := eighth.copies(rowID); n != 1 {
		t.Errorf("the eighth tab shows the report %d times, want once", n)
	}
}

// TestBrowserLivePagesNotShownGiveBackTheirStream: a page the user has left
// (Chrome keeps it, frozen, in its back/forward cache) and a tab opened in
// the background hold no stream. Over HTTP/1.1 one tab can then click
// through more than six pages; a page shown again from the cache resumes
// and catches up without a reload; a page loaded hidden pauses as one
// hidden later does.
func TestBrowserLivePagesNotShownGiveBackTheirStream(t *testing.T) {
	a, b := startWithBrowser(t)
	w := liveTab(b, "warden1")
	if home := w.signIn("warden1@demo.test", "demo"); home != "/issues" {
		t.Fatalf("the warden landed on %s, want /issues", home)
	}
	w.waitLiveState("live")
	ids := w.rowIDs("article.issue")
	if len(ids) < 7 {
		t.Fatalf("the warden's list has %d issues, want 7 to click through", len(ids))
	}
	var mark string
	for i, id := range ids[:7] {
		w.openOK(fmt.Sprintf("/issues/%d", id))
		w.waitLiveState("live")
		if i == 5 {
			mark = w.setMarker()
		}
	}

	// Back: the sixth page comes from the cache, resumes, and catches up
	// with a report made meanwhile.
	title := "Reported while the page was cached " + uniqueWord()
	reportAs(t, a.login("student1@demo.test"), title)
	evalJS[chromedp.Void](w, "history.back()")
	w.waitFor("the previous page", fmt.Sprintf("location.pathname === \"/issues/%d\"", ids[5]))
	w.waitLiveState("live")
	w.waitToast("New issue: " + title)
	w.sameDocument(mark, "going back (the page should come from the back/forward cache)")

	// A tab opened in the background: hidden from its first script on.
	bg := liveTabBeside(b, w, "warden1-background")
	bg.do("start hidden", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
			Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});`})
		return err
	}))
	bg.openOK("/issues")
	bg.waitLiveState("paused")
	bg.setHidden(false)
	bg.waitLiveState("live")
}
