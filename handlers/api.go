package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/views"
)

// decodeJSON reads a JSON object body into v, refusing other media types,
// unknown fields and trailing data.
func decodeJSON(c echo.Context, v any) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if ct != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send a JSON body with Content-Type: application/json.")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "The body is too large.")
		}
		return echo.NewHTTPError(http.StatusBadRequest, "The body is not the JSON expected: "+err.Error())
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return echo.NewHTTPError(http.StatusBadRequest, "The body has data after the JSON object.")
	}
	return nil
}

type issuesJSON struct {
	Issues  []store.Issue `json:"issues"`
	Total   int           `json:"total"`
	Page    int           `json:"page"`
	PerPage int           `json:"per_page"`
	Pages   int           `json:"pages"`
}

// apiListIssues lists the issues the user may see, with the page's filters.
func (h *Handler) apiListIssues(c echo.Context) error {
	_, sf, err := issueFilter(c, currentUser(c))
	if err != nil {
		return err
	}
	list, err := h.store.Issues(c.Request().Context(), sf)
	if err != nil {
		return err
	}
	out := issuesJSON{Issues: list.Issues, Total: list.Total, Page: list.Page, PerPage: list.PerPage, Pages: list.Pages()}
	if out.Issues == nil {
		out.Issues = []store.Issue{}
	}
	return c.JSON(http.StatusOK, out)
}

// apiCreateIssue reports an issue; the same rules as the form.
func (h *Handler) apiCreateIssue(c echo.Context) error {
	u := currentUser(c)
	var in issueInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.HostelID == 0 {
		in.HostelID = u.HomeHostel()
	}
	if !can(u, reportIssue, in.HostelID) {
		return forbidden()
	}
	in.normalise()
	if errs := in.validate(); errs != nil {
		return unprocessable(errs)
	}
	ctx := c.Request().Context()
	id, err := h.store.CreateIssue(ctx, newIssue(u, &in))
	if err != nil {
		return err
	}
	is, err := h.store.Issue(ctx, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/issues/"+strconv.FormatInt(id, 10))
	return c.JSON(http.StatusCreated, map[string]any{"issue": is})
}

// apiChangeStatus moves an issue along the workflow; the same rules as the form.
func (h *Handler) apiChangeStatus(c echo.Context) error {
	u := currentUser(c)
	is, err := h.visibleIssue(c)
	if err != nil {
		return err
	}
	var in statusInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if errs := in.validate(); errs != nil {
		return unprocessable(errs)
	}
	if !canIssue(u, changeStatus, is, store.Status(in.Status), h.now()) {
		return forbidden()
	}
	ctx := c.Request().Context()
	err = h.store.ChangeStatus(ctx, is.ID, u.ID, store.Status(in.Status), in.Note)
	var te *store.TransitionError
	if errors.As(err, &te) {
		return unprocessable(views.Errors{"status": te.Error()})
	}
	if err != nil {
		return err
	}
	fresh, err := h.store.Issue(ctx, is.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"issue": fresh})
}

// dashboardSummary is the dashboard's figures as JSON, cached like the
// page and sent compressed as cached to a client that takes gzip.
func (h *Handler) dashboardSummary(c echo.Context) error {
	f, status, err := h.cachedDashboard(c.Request().Context(), "json", h.renderDashboardJSON)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("X-Cache", string(status))
	hd.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if acceptsGzip(c) {
		out := renderBuffers.Get().(*bytes.Buffer)
		defer putBuffer(out)
		out.Grow(len(f.Plain)/2 + 64)
		return writeGzip(c, echo.MIMEApplicationJSON, f.AppendGzip(out.AvailableBuffer(), nil, nil))
	}
	hd.Set(echo.HeaderContentLength, strconv.Itoa(len(f.Plain)))
	return c.JSONBlob(http.StatusOK, f.Plain)
}

func (h *Handler) renderDashboardJSON(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, dashboardTimeout)
	defer cancel()
	d, err := h.store.Dashboard(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(dashboardJSON(d))
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
