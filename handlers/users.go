package handlers

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/views"
)

// listUsers is the accounts page.
func (h *Handler) listUsers(c echo.Context) error {
	return h.renderUsers(c, http.StatusOK, views.UserForm{}, nil)
}

func (h *Handler) renderUsers(c echo.Context, status int, f views.UserForm, errs views.Errors) error {
	users, err := h.store.Users(c.Request().Context())
	if err != nil {
		return err
	}
	p, err := h.pageWithHostels(c, "Users", viewHostel)
	if err != nil {
		return err
	}
	rows := make([]views.UserRowData, len(users))
	for i := range users {
		rows[i] = userRow(&users[i])
	}
	f.Roles = newAccountRoles
	return render(c, status, views.UsersPage(p, rows, f, errs))
}

// newAccountRoles are the roles management gives accounts in the browser;
// management accounts are kept on the command line, so that no one can
// lock the last manager out from the browser.
var newAccountRoles = []store.Role{store.Student, store.Warden}

func userRow(u *store.User) views.UserRowData {
	return views.UserRowData{User: u, Editable: slices.Contains(newAccountRoles, u.Role)}
}

// createUser adds a student or warden account.
func (h *Handler) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	form, _ := c.FormParams()
	in := userInput{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: c.FormValue("role"),
		Room: c.FormValue("room"), Password: c.FormValue("password")}
	hostelIDs, ok := ids(form["hostel_id"])
	in.HostelIDs = hostelIDs
	hostels, err := h.store.Hostels(ctx)
	if err != nil {
		return err
	}
	errs := in.validate(hostels)
	if !ok {
		if errs == nil {
			errs = views.Errors{}
		}
		errs["hostel_id"] = "Choose hostels from the list."
	}
	if errs == nil {
		_, err = h.store.CreateUser(ctx, store.NewUser{Email: in.Email, Name: in.Name, Password: in.Password,
			Role: store.Role(in.Role), Room: in.Room, HostelIDs: in.HostelIDs})
		if errors.Is(err, store.ErrDuplicate) {
			errs = views.Errors{"email": "An account with that email already exists."}
		} else if err != nil {
			return err
		}
	}
	if errs != nil {
		return h.renderUsers(c, http.StatusUnprocessableEntity,
			views.UserForm{Email: in.Email, Name: in.Name, Role: in.Role, Room: in.Room, HostelIDs: in.HostelIDs}, errs)
	}
	h.flash(c, in.Name+" can sign in now as "+in.Email+".")
	return redirect(c, "/users")
}

// updateUser moves an account between hostels, or disables or enables it.
func (h *Handler) updateUser(c echo.Context) error {
	ctx := c.Request().Context()
	id, ok := parseID(c.Param("id"))
	if !ok {
		return errNotFound
	}
	u, err := h.store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if !userRow(u).Editable {
		return forbidden()
	}
	form, _ := c.FormParams()
	hostelIDs, ok := ids(form["hostel_id"])
	hostels, err := h.store.Hostels(ctx)
	if err != nil {
		return err
	}
	var v validator
	v.check(ok, "hostel_id", "Choose hostels from the list.")
	v.hostels(string(u.Role), hostelIDs, hostels)
	disabled := c.FormValue("disabled") != ""
	if v.valid() {
		if err := h.store.UpdateUser(ctx, id, hostelIDs, disabled); err != nil {
			return err
		}
		u.HostelIDs, u.Disabled = hostelIDs, disabled
	}
	status := http.StatusOK
	if !v.valid() {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(c) {
		p, err := h.pageWithHostels(c, "Users", viewHostel)
		if err != nil {
			return err
		}
		return render(c, status, views.UserRow(p, userRow(u), v.errs))
	}
	if !v.valid() {
		return h.renderUsers(c, status, views.UserForm{}, v.errs)
	}
	h.flash(c, "Saved "+u.Name+".")
	return c.Redirect(http.StatusSeeOther, "/users")
}
