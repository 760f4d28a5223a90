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
	c.Response().Header().Set("X-Cache", string(status))
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	p := h.page(c, "Dashboard")
	if !acceptsGzip(c) {
		return render(c, http.StatusOK, views.DashboardPage(p, f.Plain))
	}
	// To a client that takes gzip: one gzip member, the page's own bytes
	// around the fragment as the cache compressed it, once.
	page, out := renderBuffers.Get().(*bytes.Buffer), renderBuffers.Get().(*bytes.Buffer)
	defer putBuffer(page)
	defer putBuffer(out)
	if err := views.DashboardPage(p, fragmentMark).Render(c.Request().Context(), page); err != nil {
		return err
	}
	b := page.Bytes()
	i := bytes.Index(b, fragmentMark)
	if i < 0 {
		return errors.New("dashboard page: the fragment's place was not found")
	}
	out.Grow(len(b) + len(f.Plain)/2)
	return writeGzip(c, echo.MIMETextHTMLCharsetUTF8, f.AppendGzip(out.AvailableBuffer(), b[:i], b[i+len(fragmentMark):]))
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
