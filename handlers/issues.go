package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/views"
)

// errNotFound answers an unknown id and, alike, one of another hostel.
var errNotFound = echo.NewHTTPError(http.StatusNotFound, "Not found")

func forbidden() error { return echo.NewHTTPError(http.StatusForbidden, "Not allowed") }

// issueFilter parses the list's query. Hostel ids are checked against the
// user's own; a hostel they do not belong to is refused, not ignored.
func issueFilter(c echo.Context, u *store.User) (views.IssueFilter, store.IssueFilter, error) {
	q := c.QueryParams()
	vf := views.IssueFilter{Status: q.Get("status"), Category: q.Get("category"), Q: strings.TrimSpace(q.Get("q")), Page: 1}
	var v validator
	v.check(vf.Status == "" || store.Status(vf.Status).Valid(), "status", "Unknown status "+strconv.Quote(clip(vf.Status, 40))+".")
	v.check(vf.Category == "" || store.ValidCategory(vf.Category), "category", "Unknown category "+strconv.Quote(clip(vf.Category, 40))+".")
	v.text("q", vf.Q, "The search", 0, 100)
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		v.check(err == nil && n >= 1 && n <= 100000, "page", "The page must be a number from 1.")
		vf.Page = max(n, 1)
	}
	if s := q.Get("hostel"); s != "" {
		id, ok := parseID(s)
		v.check(ok, "hostel", "The hostel must be a number.")
		vf.Hostel = id
	}
	if !v.valid() {
		return vf, store.IssueFilter{}, unprocessable(v.errs)
	}
	if vf.Hostel != 0 && !can(u, viewHostel, vf.Hostel) {
		return vf, store.IssueFilter{}, forbidden()
	}
	sf := store.IssueFilter{Status: store.Status(vf.Status), Category: vf.Category, Query: vf.Q, Page: vf.Page, PerPage: 25,
		HostelIDs: visibleHostels(u)}
	if vf.Hostel != 0 {
		sf.HostelIDs = []int64{vf.Hostel}
	}
	return vf, sf, nil
}

// listIssues is the issue list; htmx filter requests get the list alone.
func (h *Handler) listIssues(c echo.Context) error {
	u := currentUser(c)
	vf, sf, err := issueFilter(c, u)
	if err != nil {
		return err
	}
	stream, err := h.liveStream(c.Request().Context(), sf.HostelIDs)
	if err != nil {
		return err
	}
	list, err := h.store.Issues(c.Request().Context(), sf)
	if err != nil {
		return err
	}
	rows, info := h.rows(c, list), views.ListInfo{Total: list.Total, Page: list.Page, Pages: list.Pages()}
	if isHTMX(c) && htmxTarget(c) == "issue-list-section" {
		return render(c, http.StatusOK, views.IssueList(vf, rows, info))
	}
	p := h.page(c, "Issues")
	if seesManyHostels(u) {
		if p, err = h.pageWithHostels(c, "Issues", viewHostel); err != nil {
			return err
		}
	}
	p.Stream = stream
	return render(c, http.StatusOK, views.IssuesPage(p, vf, rows, info))
}

// rows are a list's issues as the user sees them.
func (h *Handler) rows(c echo.Context, list *store.IssuePage) []views.Row {
	u, csrf, now := currentUser(c), csrfToken(c), h.now()
	rows := make([]views.Row, len(list.Issues))
	for i := range list.Issues {
		rows[i] = views.Row{Issue: &list.Issues[i], Can: issueCan(u, &list.Issues[i], now), CSRF: csrf}
	}
	return rows
}

// row is one issue as the user sees it.
func (h *Handler) row(c echo.Context, is *store.Issue) views.Row {
	return views.Row{Issue: is, Can: issueCan(currentUser(c), is, h.now()), CSRF: csrfToken(c)}
}

// showNewIssue is the report form.
func (h *Handler) showNewIssue(c echo.Context) error {
	u := currentUser(c)
	if !can(u, reportIssue, u.HomeHostel()) {
		return forbidden()
	}
	p, err := h.pageWithHostels(c, "Report an issue", reportIssue)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.NewIssuePage(p, views.NewIssueForm{HostelID: u.HomeHostel()}, nil))
}

// createIssue files a report from the form.
func (h *Handler) createIssue(c echo.Context) error {
	u := currentUser(c)
	in := issueInput{
		Title: c.FormValue("title"), Description: c.FormValue("description"), Category: c.FormValue("category"),
		Priority: c.FormValue("priority"), Location: c.FormValue("location"), HostelID: u.HomeHostel(),
	}
	var v validator
	if s := c.FormValue("hostel_id"); s != "" {
		id, ok := parseID(s)
		v.check(ok, "hostel_id", "Choose a hostel from the list.")
		if ok {
			in.HostelID = id
		}
	}
	if !can(u, reportIssue, in.HostelID) {
		return forbidden()
	}
	in.normalise()
	// The rest is checked too, so that one answer says all that is wrong.
	for field, msg := range in.validate() {
		v.check(false, field, msg)
	}
	if !v.valid() {
		return h.newIssueInvalid(c, &in, v.errs)
	}
	id, err := h.store.CreateIssue(c.Request().Context(), newIssue(u, &in))
	if err != nil {
		return err
	}
	h.flash(c, "Thank you: your issue is reported. The warden sees it now.")
	return redirect(c, "/issues/"+strconv.FormatInt(id, 10))
}

func newIssue(u *store.User, in *issueInput) store.NewIssue {
	p, _ := store.ParsePriority(in.Priority)
	return store.NewIssue{HostelID: in.HostelID, ReporterID: u.ID, Title: in.Title, Description: in.Description,
		Category: in.Category, Priority: p, Location: in.Location}
}

func (h *Handler) newIssueInvalid(c echo.Context, in *issueInput, errs views.Errors) error {
	p, err := h.pageWithHostels(c, "Report an issue", reportIssue)
	if err != nil {
		return err
	}
	return render(c, http.StatusUnprocessableEntity, views.NewIssuePage(p, in.form(), errs))
}

// visibleIssue loads the issue named in the path if the user may see it.
// An issue of another hostel is as absent as one that does not exist.
func (h *Handler) visibleIssue(c echo.Context) (*store.Issue, error) {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return nil, errNotFound
	}
	is, err := h.store.Issue(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if !can(currentUser(c), viewHostel, is.HostelID) {
		return nil, errNotFound
	}
	return is, nil
}

// showIssue is one issue with its history.
func (h *Handler) showIssue(c echo.Context) error {
	is, err := h.visibleIssue(c)
	if err != nil {
		return err
	}
	return h.renderIssuePage(c, http.StatusOK, is, views.IssueDetail{})
}

func (h *Handler) renderIssuePage(c echo.Context, status int, is *store.Issue, d views.IssueDetail) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	stream, err := h.liveStream(ctx, []int64{is.HostelID})
	if err != nil {
		return err
	}
	// Read again after the stream's starting point: the row and history are then at least that new.
	if is, err = h.store.Issue(ctx, is.ID); err != nil {
		return err
	}
	notes, err := h.store.Notes(ctx, is.ID)
	if err != nil {
		return err
	}
	p := h.page(c, is.Title)
	p.Stream = stream
	now := h.now()
	d.Row.Issue, d.Row.Can, d.Row.CSRF = is, issueCan(u, is, now), p.CSRF
	d.Notes = history(u, notes)
	d.CanComment = canIssue(u, comment, is, "", now)
	// The reporter's own way back: reopening, on a form of its own.
	d.CanReopen = len(d.Row.Can.MoveTo) == 0 && canIssue(u, changeStatus, is, store.StatusOpen, now)
	if d.Row.Can.MeToo {
		if d.MeTooDone, err = h.store.HasMeToo(ctx, is.ID, u.ID); err != nil {
			return err
		}
	}
	return render(c, status, views.IssuePage(p, d))
}

// changeStatus moves an issue along the workflow. htmx gets the row back;
// a plain form is redirected, or shown the page with the reason it was refused.
func (h *Handler) changeStatus(c echo.Context) error {
	u := currentUser(c)
	is, err := h.visibleIssue(c)
	if err != nil {
		return err
	}
	in := statusInput{Status: c.FormValue("status"), Note: c.FormValue("note")}
	errs := in.validate()
	if errs == nil && !canIssue(u, changeStatus, is, store.Status(in.Status), h.now()) {
		return forbidden()
	}
	if errs == nil {
		err = h.store.ChangeStatus(c.Request().Context(), is.ID, u.ID, store.Status(in.Status), in.Note)
		var te *store.TransitionError
		switch {
		case errors.As(err, &te):
			errs = views.Errors{"status": te.Error()}
		case err != nil:
			return err
		}
	}
	if errs != nil {
		msg := errs["status"]
		if msg == "" {
			msg = errs["note"]
		}
		if isHTMX(c) {
			r := h.row(c, is)
			r.Err, r.Note = msg, in.Note
			return render(c, http.StatusUnprocessableEntity, views.IssueRow(r))
		}
		return h.renderIssuePage(c, http.StatusUnprocessableEntity, is, views.IssueDetail{Row: views.Row{Err: msg, Note: in.Note}})
	}
	if isHTMX(c) {
		fresh, err := h.store.Issue(c.Request().Context(), is.ID)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.IssueRow(h.row(c, fresh)))
	}
	h.flash(c, "Status changed to "+strings.ToLower(store.Status(in.Status).Label())+".")
	return c.Redirect(http.StatusSeeOther, backTo(c, is.ID))
}

// backTo is where a plain form returns after acting on an issue: the list
// it came from, or else the issue's page.
func backTo(c echo.Context, id int64) string {
	if ref, err := url.Parse(c.Request().Referer()); err == nil && ref.Host == c.Request().Host && ref.Path == "/issues" {
		return ref.RequestURI()
	}
	return "/issues/" + strconv.FormatInt(id, 10)
}

// addComment appends a comment to an issue's history.
func (h *Handler) addComment(c echo.Context) error {
	u := currentUser(c)
	is, err := h.visibleIssue(c)
	if err != nil {
		return err
	}
	if !canIssue(u, comment, is, "", h.now()) {
		return forbidden()
	}
	body := strings.TrimSpace(c.FormValue("body"))
	var v validator
	v.text("body", body, "The comment", 1, 2000)
	if !v.valid() {
		return h.renderIssuePage(c, http.StatusUnprocessableEntity, is, views.IssueDetail{Comment: body, Errors: v.errs})
	}
	if err := h.store.AddComment(c.Request().Context(), is.ID, u.ID, body); err != nil {
		return err
	}
	return redirect(c, "/issues/"+strconv.FormatInt(is.ID, 10)+"#history-heading")
}

// addMeToo counts the user as affected too, once.
func (h *Handler) addMeToo(c echo.Context) error {
	u := currentUser(c)
	is, err := h.visibleIssue(c)
	if err != nil {
		return err
	}
	if !canIssue(u, meToo, is, "", h.now()) {
		return forbidden()
	}
	if _, err := h.store.AddMeToo(c.Request().Context(), is.ID, u.ID); err != nil {
		return err
	}
	if isHTMX(c) {
		fresh, err := h.store.Issue(c.Request().Context(), is.ID)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.IssueRow(h.row(c, fresh)))
	}
	h.flash(c, "Noted: this affects you too.")
	return c.Redirect(http.StatusSeeOther, backTo(c, is.ID))
}
