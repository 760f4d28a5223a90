package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"hostelhub/store/cache"
	"hostelhub/views"
)

// showDashboard is management's dashboard. The figures are one fragment,
// the same for every manager, so it is cached whole; the page around it is not.
func (h *Handler) showDashboard(c echo.Context) error {
	f, status, err := h.cachedDashboard(c.Request().Context(), "html", h.renderDashboardHTML)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("X-Cache", string(status))
	hd.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	p := h.page(c, "Dashboard")
	fr, err := h.frames.of(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := renderBuffers.Get().(*bytes.Buffer)
	defer putBuffer(out)
	if !acceptsGzip(c) {
		out.Grow(len(fr.before) + len(f.Plain) + len(fr.after))
		out.Write(fr.before)
		out.Write(f.Plain)
		out.Write(fr.after)
		hd.Set(echo.HeaderContentLength, strconv.Itoa(out.Len()))
		return c.HTMLBlob(http.StatusOK, out.Bytes())
	}
	// To a client that takes gzip: one gzip member, the page's own bytes
	// around the fragment as the cache compressed it, once.
	out.Grow(len(fr.before) + len(fr.after) + len(f.Plain)/2)
	return writeGzip(c, echo.MIMETextHTMLCharsetUTF8, f.AppendGzip(out.AvailableBuffer(), fr.before, fr.after))
}

// pageFrames keeps the dashboard's page around its fragment, split where
// the fragment goes, by all that the page shows of who is looking (and the
// fragment is the same for everyone): a manager's view then renders
// nothing. A page with a flash message is rendered each time.
type pageFrames struct {
	mu sync.RWMutex
	m  map[frameKey]*pageFrame
}

// frameKey is every input of the page but the fragment.
type frameKey struct {
	viewer views.Viewer
	csrf   string
}

type pageFrame struct{ before, after []byte }

// framesKept bounds the frames kept: past it, they are all forgotten.
const framesKept = 1024

func (pf *pageFrames) of(ctx context.Context, p views.Page) (*pageFrame, error) {
	var k frameKey
	keep := p.Flash == "" && p.Viewer != nil
	if keep {
		k = frameKey{viewer: *p.Viewer, csrf: p.CSRF}
		pf.mu.RLock()
		fr := pf.m[k]
		pf.mu.RUnlock()
		if fr != nil {
			return fr, nil
		}
	}
	var buf bytes.Buffer
	if err := views.DashboardPage(p, fragmentMark).Render(ctx, &buf); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	i := bytes.Index(b, fragmentMark)
	if i < 0 {
		return nil, errors.New("dashboard page: the fragment's place was not found")
	}
	fr := &pageFrame{before: b[:i:i], after: b[i+len(fragmentMark):]}
	if keep {
		pf.mu.Lock()
		if pf.m == nil || len(pf.m) >= framesKept {
			pf.m = make(map[frameKey]*pageFrame)
		}
		pf.m[k] = fr
		pf.mu.Unlock()
	}
	return fr, nil
}

// fragmentMark stands in for the fragment when a page is rendered to be
// stitched around it: random per process, so no text on the page (a name,
// an issue title) can be taken for it.
var fragmentMark = func() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte("<!--hostelhub-fragment-" + hex.EncodeToString(b) + "-->")
}()

func (h *Handler) cachedDashboard(ctx context.Context, variant string, render cache.RenderFunc) (*cache.Entry, cache.Status, error) {
	if h.dashboard == nil {
		b, err := render(ctx)
		if err != nil {
			return nil, cache.Miss, err
		}
		e, err := cache.NewEntry(b)
		return e, cache.Miss, err
	}
	return h.dashboard.Get(ctx, variant, render)
}

// dashboardTimeout bounds a render: the cache runs it detached from the
// request that started it, since other requests wait for the same render.
const dashboardTimeout = 10 * time.Second

func (h *Handler) renderDashboardHTML(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, dashboardTimeout)
	defer cancel()
	d, err := h.store.Dashboard(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := views.Dashboard(d).Render(ctx, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// acceptsGzip reports whether the client takes gzip, as Echo's Gzip
// middleware decides it.
func acceptsGzip(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAcceptEncoding), "gzip")
}

// writeGzip sends body, compressed already, with its length. Routes that
// call it are in no group that compresses (routes.go).
func writeGzip(c echo.Context, contentType string, body []byte) error {
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentEncoding, "gzip")
	hd.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(http.StatusOK, contentType, body)
}
