package main

// Helpers for the real-browser tests (browser_*_test.go): one headless
// Chromium per test, one tab per user in its own browser context (its own
// cookie jar), every action and wait bounded, and full-page screenshots of
// every open tab when a test fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	// browserStep bounds one action or one wait in a tab.
	browserStep = 10 * time.Second
	// browserLife bounds everything one test does with its browser.
	browserLife = 2 * time.Minute
	// browserStart bounds Chromium's start.
	browserStart = 30 * time.Second
)

// chromiumPath finds Chromium. Without it the browser tests skip, except on
// CI (CI=true), where a missing browser is a failure, not a silent pass.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser: chromium not found (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("browser: chromium not found: %v", err)
	}
	return path
}

// lockedBuffer keeps Chromium's output, written from chromedp's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browser is one Chromium process serving one test.
type browser struct {
	t    *testing.T
	base string // the app's URL
	ctx  context.Context
	out  *lockedBuffer

	mu   sync.Mutex
	tabs []*tab
}

// startWithBrowser starts an app (newTestApp with opts), then a browser
// for it. Without Chromium it skips (fails on CI) before spending time on
// the app.
func startWithBrowser(t *testing.T, opts ...appOption) (*testApp, *browser) {
	t.Helper()
	chromiumPath(t)
	a := newTestApp(t, opts...)
	return a, newBrowser(t, a.Base)
}

// newBrowser starts a headless Chromium for the app at base. It closes when
// the test ends, after screenshots of every tab if the test failed.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	return newBrowserWith(t, base)
}

// newBrowserWith is newBrowser with more command-line options for Chromium
// (e.g. chromedp.IgnoreCertErrors for a test's self-signed certificate).
func newBrowserWith(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := chromiumPath(t)
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		// This machine's network is closed: anything that phones home stalls.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	opts = append(opts, extra...)
	lifeCtx, lifeCancel := context.WithTimeout(context.Background(), browserLife)
	allocCtx, allocCancel := chromedp.NewExecAllocator(lifeCtx, opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, base: base, ctx: ctx, out: out}

	// The first action starts the browser and binds it to ctx, so it runs
	// on ctx itself; a watchdog bounds the start.
	began := time.Now()
	watchdog := time.AfterFunc(browserStart, cancel)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		err = fmt.Errorf("chromium did not start within %v (%v)", browserStart, err)
	}
	if err != nil {
		cancel()
		allocCancel()
		lifeCancel()
		t.Fatalf("browser: start %s: %v\nchromium's output:\n%s", path, err, out.String())
	}
	t.Logf("browser: chromium started in %v", time.Since(began).Round(time.Millisecond))

	t.Cleanup(func() {
		if t.Failed() {
			b.saveScreenshots()
		}
		b.mu.Lock()
		tabs := b.tabs
		b.mu.Unlock()
		for _, tb := range tabs {
			tb.cancel()
		}
		cancel()
		allocCancel()
		lifeCancel()
	})
	return b
}

// tabConfig is how a tab is set up before its first page.
type tabConfig struct {
	noJS          bool
	width, height int64
	mobile        bool
}

type tabOption func(*tabConfig)

// withoutJS turns JavaScript off in the tab, as in a browser with scripts disabled.
func withoutJS() tabOption { return func(c *tabConfig) { c.noJS = true } }

// withPhone gives the tab a phone's viewport (CSS pixels), with mobile emulation.
func withPhone(width, height int64) tabOption {
	return func(c *tabConfig) { c.width, c.height, c.mobile = width, height, true }
}

// tab is one user at one browser tab, in a browser context of its own, so
// that two tabs never share cookies.
type tab struct {
	t      *testing.T
	b      *browser
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	noJS   bool

	mu      sync.Mutex
	console []string // console calls, exceptions and browser log entries, in order
}

// pageRecorder runs in every document before the page's own scripts: it
// records Content-Security-Policy violations, and the live stream's
// messages by type as htmx applies them.
const pageRecorder = `(function () {
	window.__cspViolations = [];
	window.__sseSeen = {};
	document.addEventListener("securitypolicyviolation", function (e) {
		window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
	}, true);
	document.addEventListener("htmx:sseMessage", function (e) {
		var t = e.detail && e.detail.type;
		window.__sseSeen[t] = (window.__sseSeen[t] || 0) + 1;
	});
})();`

// newTab opens a tab in a new browser context (a fresh cookie jar).
func (b *browser) newTab(name string, opts ...tabOption) *tab {
	b.t.Helper()
	return b.openTab(name, chromedp.WithNewBrowserContext(), opts...)
}

// newTabBeside opens a tab in the browser context of tab of: the same
// user's next tab, sharing its cookies and (over HTTP/1.1) its six
// connections per origin. Closing of closes the context, and so this tab.
func (b *browser) newTabBeside(of *tab, name string, opts ...tabOption) *tab {
	b.t.Helper()
	id := chromedp.FromContext(of.ctx).BrowserContextID
	if id == "" {
		b.t.Fatalf("browser: tab %s has no browser context of its own", of.name)
	}
	return b.openTab(name, chromedp.WithExistingBrowserContext(id), opts...)
}

// close closes the tab, as a user closes it: its requests and streams end.
func (tb *tab) close() {
	tb.t.Helper()
	tb.cancel()
	tb.b.mu.Lock()
	defer tb.b.mu.Unlock()
	for i, o := range tb.b.tabs {
		if o == tb {
			tb.b.tabs = append(tb.b.tabs[:i:i], tb.b.tabs[i+1:]...)
			break
		}
	}
}

func (b *browser) openTab(name string, where chromedp.ContextOption, opts ...tabOption) *tab {
	b.t.Helper()
	cfg := tabConfig{width: 1280, height: 900}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := chromedp.NewContext(b.ctx, where)
	tb := &tab{t: b.t, b: b, name: name, ctx: ctx, cancel: cancel, noJS: cfg.noJS}
	// The first action creates the tab and binds it to ctx, so it runs on
	// ctx itself; a watchdog bounds it.
	watchdog := time.AfterFunc(browserStep, cancel)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		err = fmt.Errorf("no tab within %v (%v)", browserStep, err)
	}
	if err != nil {
		cancel()
		b.t.Fatalf("browser: open tab %s: %v", name, err)
	}
	b.mu.Lock()
	b.tabs = append(b.tabs, tb)
	b.mu.Unlock()

	// Listen runs in the tab's loop, in order: everything logged before a
	// command's reply is recorded by the time the command returns.
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		b.t.Fatalf("browser: listen on tab %s: %v", name, err)
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.EmulateViewport(cfg.width, cfg.height, viewportMobile(cfg.mobile)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageRecorder})
			return err
		}),
	}
	if cfg.noJS {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	tb.do("set up the tab", steps...)
	return tb
}

func viewportMobile(mobile bool) chromedp.EmulateViewportOption {
	return func(p *emulation.SetDeviceMetricsOverrideParams, tp *emulation.SetTouchEmulationEnabledParams) {
		if mobile {
			chromedp.EmulateMobile(p, tp)
			chromedp.EmulateTouch(p, tp)
		}
	}
}

// record keeps what the page writes to the console and the browser logs.
// It runs in the tab's event loop: quick, and no commands.
func (tb *tab) record(ev any) {
	var line string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			switch {
			case len(a.Value) > 0:
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			case a.Description != "":
				parts = append(parts, a.Description)
			default:
				parts = append(parts, string(a.Type))
			}
		}
		line = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		line = fmt.Sprintf("exception: %s (%s:%d)", text, d.URL, d.LineNumber+1)
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("log.%s [%s]: %s %s", e.Level, e.Source, e.Text, e.URL)
	default:
		return
	}
	tb.mu.Lock()
	tb.console = append(tb.console, line)
	tb.mu.Unlock()
}

// consoleLines returns what the tab has logged so far.
func (tb *tab) consoleLines() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console...)
}

// saveScreenshots writes a full-page PNG of every open tab to a directory
// that outlives the test, and says where.
func (b *browser) saveScreenshots() {
	b.mu.Lock()
	tabs := append([]*tab(nil), b.tabs...)
	b.mu.Unlock()
	if len(tabs) == 0 {
		return
	}
	dir, err := os.MkdirTemp("", "hostelhub-browser-"+shotName(b.t.Name())+"-")
	if err != nil {
		b.t.Logf("browser: no directory for screenshots: %v", err)
		return
	}
	for i, tb := range tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		url, _ := chromedp.Run(ctx, chromedp.Location())
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Logf("browser: no screenshot of tab %s: %v", tb.name, err)
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("%d-%s.png", i+1, shotName(tb.name)))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Logf("browser: writing %s: %v", file, err)
			continue
		}
		b.t.Logf("browser: tab %s at %s", tb.name, url)
		for _, l := range tb.consoleLines() {
			b.t.Logf("browser:   %s", l)
		}
	}
	b.t.Logf("browser: screenshots of the %d open tab(s) are in %s", len(tabs), dir)
}

var unsafeShotName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func shotName(s string) string { return strings.Trim(unsafeShotName.ReplaceAllString(s, "_"), "_") }

// do runs actions that return nothing, within one step's time.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// runIn runs one action that returns a value, within one step's time.
func runIn[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page. It works with the
// page's scripts disabled too: DevTools evaluates, not the page.
func evalJS[T any](tb *tab, expr string) T {
	tb.t.Helper()
	return runIn(tb, "evaluate "+shortJS(expr), chromedp.Evaluate[T](expr))
}

func shortJS(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// js quotes a Go string as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// open loads path and returns the document's response (after redirects).
func (tb *tab) open(path string) *network.Response {
	tb.t.Helper()
	return tb.navigation("open "+path, chromedp.Navigate(tb.b.base+path))
}

// openOK loads path and insists on a 200.
func (tb *tab) openOK(path string) *network.Response {
	tb.t.Helper()
	res := tb.open(path)
	if res == nil || res.Status != 200 {
		tb.t.Fatalf("%s: open %s: got %v, want 200", tb.name, path, resStatus(res))
	}
	return res
}

// navigation runs steps that load a new document (a link, a plain form) and
// waits for it; it returns the response of the document it lands on.
func (tb *tab) navigation(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
	return res
}

func resStatus(res *network.Response) string {
	if res == nil {
		return "no response"
	}
	return strconv.FormatInt(res.Status, 10) + " " + res.URL
}

// header reads a response header, whatever its case.
func resHeader(res *network.Response, name string) string {
	if res == nil {
		return ""
	}
	for k, v := range res.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// path is the path and query of the tab's page.
func (tb *tab) path() string {
	tb.t.Helper()
	return evalJS[string](tb, "location.pathname + location.search")
}

// waitFor polls a JavaScript condition until it is true or a step's time
// has passed. It polls from Go, so it works with the page's scripts off.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserStep)
	defer cancel()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			tb.t.Fatalf("%s: waiting for %s: not true after %v: %s (last error: %v)", tb.name, what, browserStep, shortJS(cond), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// typeInto types text into a field with real key events.
func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// choose picks an option of a select, as a user does: the value changes and
// input and change fire. It fails if the select has no such option.
func (tb *tab) choose(sel, value string) {
	tb.t.Helper()
	msg := evalJS[string](tb, `(() => {
		const el = document.querySelector(`+jsString(sel)+`);
		if (!el) return "no element";
		el.value = `+jsString(value)+`;
		if (el.value !== `+jsString(value)+`) return "no option " + `+jsString(value)+`;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return "";
	})()`)
	if msg != "" {
		tb.t.Fatalf("%s: choose %q in %s: %s", tb.name, value, sel, msg)
	}
}

// click clicks an element that does not load a new page (htmx, scripts).
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// submitBy clicks a button that submits a plain form and waits for the page
// the server answers with (after its redirect).
func (tb *tab) submitBy(sel string) *network.Response {
	tb.t.Helper()
	return tb.navigation("submit with "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// text is an element's visible text.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(runIn(tb, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady)))
}

// count is how many elements match sel now.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return evalJS[int](tb, "document.querySelectorAll("+jsString(sel)+").length")
}

// signIn signs in through the form (a plain POST and its redirect) and
// returns where it landed.
func (tb *tab) signIn(email, password string) string {
	tb.t.Helper()
	tb.openOK("/login")
	tb.typeInto("#email", email)
	tb.typeInto("#password", password)
	res := tb.submitBy(`form[action="/login"] button[type="submit"]`)
	if res == nil || res.Status != 200 {
		tb.t.Fatalf("%s: sign in as %s: landed on %s, want 200", tb.name, email, resStatus(res))
	}
	if p := tb.path(); strings.HasPrefix(p, "/login") {
		tb.t.Fatalf("%s: sign in as %s: still on %s: %q", tb.name, email, p, tb.text("main"))
	}
	return tb.path()
}

// marker tags the current document. It survives htmx swaps and is gone
// after a page load, so it tells the two apart.
func (tb *tab) setMarker() string {
	tb.t.Helper()
	m := strconv.FormatInt(time.Now().UnixNano(), 36)
	evalJS[chromedp.Void](tb, "window.__marker = "+jsString(m))
	return m
}

// sameDocument fails the test unless the page still carries marker m.
func (tb *tab) sameDocument(m, after string) {
	tb.t.Helper()
	if got := evalJS[string](tb, `String(window.__marker)`); got != m {
		tb.t.Fatalf("%s: %s loaded a new page (marker %q, want %q): htmx should have swapped in place", tb.name, after, got, m)
	}
}

// tagNode marks the element with this id so that a swap (a new node with
// the same id) can be told from no change.
func (tb *tab) tagNode(id string) {
	tb.t.Helper()
	ok := evalJS[bool](tb, `(() => { const el = document.getElementById(`+jsString(id)+`); if (!el) return false; el.__old = true; return true; })()`)
	if !ok {
		tb.t.Fatalf("%s: no #%s to tag", tb.name, id)
	}
}

// swapped is a JS condition: #id is present and is not the tagged node.
func swapped(id string) string {
	return `(() => { const el = document.getElementById(` + jsString(id) + `); return !!el && !el.__old; })()`
}

// rowStatus is the data-status of row #issue-{id}, or "" if there is none.
func (tb *tab) rowStatus(id int64) string {
	tb.t.Helper()
	return evalJS[string](tb, `(() => { const el = document.getElementById("issue-`+strconv.FormatInt(id, 10)+`"); return el ? el.dataset.status : ""; })()`)
}

// rowIDs lists the ids of the issue rows in #issue-list matching sel (relative to the list).
func (tb *tab) rowIDs(sel string) []int64 {
	tb.t.Helper()
	ids := evalJS[[]int64](tb, `Array.from(document.querySelectorAll("#issue-list "+`+jsString(sel)+`)).map(el => Number(el.id.replace("issue-", "")))`)
	return ids
}

// cspViolations lists the violations the page's recorder saw.
func (tb *tab) cspViolations() []string {
	tb.t.Helper()
	if tb.noJS {
		return nil
	}
	return evalJS[[]string](tb, "window.__cspViolations || []")
}

// hasStream reports whether the page holds a live stream.
func (tb *tab) hasStream() bool {
	tb.t.Helper()
	return tb.count("[data-stream]") > 0
}

// streamSeen is how many messages of this type the page's stream has
// applied since the page loaded.
func (tb *tab) streamSeen(typ string) int {
	tb.t.Helper()
	return evalJS[int](tb, "(window.__sseSeen && window.__sseSeen["+jsString(typ)+"]) || 0")
}

// waitStream waits until the page's stream has applied more than n
// messages of this type.
func (tb *tab) waitStream(typ string, n int) {
	tb.t.Helper()
	tb.waitFor("a "+typ+" message on the live stream", "((window.__sseSeen && window.__sseSeen["+jsString(typ)+"]) || 0) > "+strconv.Itoa(n))
}

// screenshot writes a full-page PNG of the tab to file.
func (tb *tab) screenshot(file string) {
	tb.t.Helper()
	png := runIn(tb, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// issueReport is what a user types into the report form.
type issueReport struct {
	Title, Description, Category, Priority, Location string
}

// reportIssue files an issue through /issues/new (a plain form, with or
// without JavaScript) and returns its id, read from the page it lands on.
func (tb *tab) reportIssue(r issueReport) int64 {
	tb.t.Helper()
	tb.openOK("/issues/new")
	tb.typeInto("#title", r.Title)
	tb.choose("#category", r.Category)
	tb.choose("#priority", r.Priority)
	if r.Location != "" {
		tb.typeInto("#location", r.Location)
	}
	if r.Description != "" {
		tb.typeInto("#description", r.Description)
	}
	res := tb.submitBy(`form[action="/issues"] button[type="submit"]`)
	m := regexp.MustCompile(`^/issues/(\d+)$`).FindStringSubmatch(tb.path())
	if res.Status != 200 || m == nil {
		tb.t.Fatalf("%s: report %q: landed on %s (%s), want 200 on /issues/{id}: %q", tb.name, r.Title, tb.path(), resStatus(res), tb.text("main"))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// uniqueWord is a search word no demo issue has.
func uniqueWord() string { return "zq" + strconv.FormatInt(time.Now().UnixNano()%1e12, 36) }
