package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/views"
)

func isAPI(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/api/") }

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
	if !can(u, ReportIssue, in.HostelID) {
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
	if !canIssue(u, ChangeStatus, is, store.Status(in.Status), h.now()) {
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
