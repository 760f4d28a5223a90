package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/store/cache"
	"hostelhub/views"
)

// showDashboard is management's dashboard. The figures are one fragment,
// the same for every manager, so it is cached whole; the page around it is not.
func (h *Handler) showDashboard(c echo.Context) error {
	if !can(currentUser(c), ViewDashboard, 0) {
		return forbidden()
	}
	body, status, err := h.cachedDashboard(c.Request().Context(), "html", h.renderDashboardHTML)
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Cache", string(status))
	return h.writeDashboardPage(c, body)
}

// writeDashboardPage sends the page around a cached fragment: to a client
// that takes gzip, as one gzip member around the fragment compressed once.
func (h *Handler) writeDashboardPage(c echo.Context, cached []byte) error {
	f, err := unpack(cached)
	if err != nil {
		return err
	}
	p, err := h.page(c, "Dashboard")
	if err != nil {
		return err
	}
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if !acceptsGzip(c) || f.deflated == nil {
		return render(c, http.StatusOK, views.DashboardPage(p, f.plain))
	}
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
	out.Grow(len(b) + len(f.deflated) + 64)
	z := appendGzip(out.AvailableBuffer(), b[:i], f.plain, f.deflated, b[i+len(fragmentMark):])
	return writeGzip(c, echo.MIMETextHTMLCharsetUTF8, z)
}

// dashboardSummary is the dashboard's figures as JSON.
func (h *Handler) dashboardSummary(c echo.Context) error {
	if !can(currentUser(c), ViewDashboard, 0) {
		return forbidden()
	}
	body, status, err := h.cachedDashboard(c.Request().Context(), "json", h.renderDashboardJSON)
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Cache", string(status))
	return writeSummary(c, body)
}

// writeSummary sends the cached JSON, compressed once when the client takes gzip.
func writeSummary(c echo.Context, cached []byte) error {
	f, err := unpack(cached)
	if err != nil {
		return err
	}
	c.Response().Header().Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if acceptsGzip(c) && f.deflated != nil {
		out := renderBuffers.Get().(*bytes.Buffer)
		defer putBuffer(out)
		out.Grow(len(f.deflated) + 64)
		return writeGzip(c, echo.MIMEApplicationJSON, appendGzip(out.AvailableBuffer(), nil, f.plain, f.deflated, nil))
	}
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(f.plain)))
	return c.JSONBlob(http.StatusOK, f.plain)
}

func (h *Handler) cachedDashboard(ctx context.Context, variant string, render cache.RenderFunc) ([]byte, cache.Status, error) {
	if h.dashboard == nil {
		b, err := render(ctx)
		return b, cache.Miss, err
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
	return pack(buf.Bytes())
}

func (h *Handler) renderDashboardJSON(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, dashboardTimeout)
	defer cancel()
	d, err := h.store.Dashboard(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(dashboardJSON(d))
	if err != nil {
		return nil, err
	}
	return pack(b)
}

type summaryJSON struct {
	At         string         `json:"at"`
	Total      int            `json:"total"`
	ByStatus   map[string]int `json:"by_status"`
	ByHostel   []hostelJSON   `json:"by_hostel"`
	ByCategory []categoryJSON `json:"by_category"`
	Daily      []dayJSON      `json:"daily"`
	Overdue    []overdueJSON  `json:"overdue"`
	OverdueN   int            `json:"overdue_total"`
}

type hostelJSON struct {
	ID                   int64   `json:"id"`
	Name                 string  `json:"name"`
	Open                 int     `json:"open"`
	InProgress           int     `json:"in_progress"`
	Total                int     `json:"total"`
	MedianResolveSeconds float64 `json:"median_resolve_seconds"`
}

type categoryJSON struct {
	Category   string `json:"category"`
	Total      int    `json:"total"`
	Unresolved int    `json:"unresolved"`
}

type dayJSON struct {
	Day      string `json:"day"`
	Created  int    `json:"created"`
	Resolved int    `json:"resolved"`
}

type overdueJSON struct {
	ID        int64  `json:"id"`
	Title     string `json:"title"`
	HostelID  int64  `json:"hostel_id"`
	Status    string `json:"status"`
	CreatedAt int64  `json:"created_at"`
}

func dashboardJSON(d *store.Dashboard) summaryJSON {
	s := summaryJSON{At: d.At.Format("2006-01-02T15:04:05Z"), Total: d.Total, ByStatus: map[string]int{}, OverdueN: d.OverdueN}
	for _, st := range store.Statuses {
		s.ByStatus[string(st)] = d.ByStatus[st]
	}
	for _, h := range d.Hostels {
		s.ByHostel = append(s.ByHostel, hostelJSON{ID: h.ID, Name: h.Name, Open: h.Open, InProgress: h.InProgress,
			Total: h.Total, MedianResolveSeconds: h.MedianResolve.Seconds()})
	}
	for _, c := range d.Categories {
		s.ByCategory = append(s.ByCategory, categoryJSON{Category: c.Category, Total: c.Total, Unresolved: c.Unresolved})
	}
	for _, day := range d.Days {
		s.Daily = append(s.Daily, dayJSON{Day: day.Day.Format("2006-01-02"), Created: day.Created, Resolved: day.Resolved})
	}
	s.Overdue = []overdueJSON{}
	for _, is := range d.Overdue {
		s.Overdue = append(s.Overdue, overdueJSON{ID: is.ID, Title: is.Title, HostelID: is.HostelID, Status: string(is.Status), CreatedAt: is.CreatedAt})
	}
	return s
}
