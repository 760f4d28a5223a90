package handlers

import (
	"errors"
	"net/http"
	"strconv"

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
	p, err := h.pageWithHostels(c, "Users", true)
	if err != nil {
		return err
	}
	return render(c, status, views.UsersPage(p, users, f, errs))
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
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	u, err := h.store.User(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if u.Role == store.Management {
		// Management accounts are kept on the command line, so that no
		// one can lock the last manager out from the browser.
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
		p, err := h.pageWithHostels(c, "Users", true)
		if err != nil {
			return err
		}
		return render(c, status, views.UserRow(p, u, v.errs))
	}
	if !v.valid() {
		return h.renderUsers(c, status, views.UserForm{}, v.errs)
	}
	h.flash(c, "Saved "+u.Name+".")
	return c.Redirect(http.StatusSeeOther, "/users")
}

// listHostels is the hostels page.
func (h *Handler) listHostels(c echo.Context) error {
	p, err := h.pageWithHostels(c, "Hostels", true)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.HostelsPage(p, "", nil))
}

func hostelName(c echo.Context) (string, views.Errors) {
	var v validator
	name := trimmed(c.FormValue("name"))
	v.text("name", name, "The name", 2, 60)
	return name, v.errs
}

// createHostel adds a hostel.
func (h *Handler) createHostel(c echo.Context) error {
	name, errs := hostelName(c)
	if errs == nil {
		_, err := h.store.CreateHostel(c.Request().Context(), name)
		if errors.Is(err, store.ErrDuplicate) {
			errs = views.Errors{"name": "A hostel with that name already exists."}
		} else if err != nil {
			return err
		}
	}
	if errs != nil {
		p, err := h.pageWithHostels(c, "Hostels", true)
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.HostelsPage(p, name, errs))
	}
	h.flash(c, "Added "+name+".")
	return redirect(c, "/hostels")
}

// renameHostel renames a hostel.
func (h *Handler) renameHostel(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	name, errs := hostelName(c)
	if errs == nil {
		err := h.store.RenameHostel(c.Request().Context(), id, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return errNotFound
		case errors.Is(err, store.ErrDuplicate):
			errs = views.Errors{"name": "A hostel with that name already exists."}
		case err != nil:
			return err
		}
	}
	if errs != nil {
		p, err := h.pageWithHostels(c, "Hostels", true)
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.HostelsPage(p, "", errs))
	}
	h.flash(c, "Renamed to "+name+".")
	return redirect(c, "/hostels")
}
