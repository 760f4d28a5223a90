package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/views"
)

// listHostels is the hostels page.
func (h *Handler) listHostels(c echo.Context) error {
	p, err := h.pageWithHostels(c, "Hostels", viewHostel)
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
		p, err := h.pageWithHostels(c, "Hostels", viewHostel)
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
	id, ok := parseID(c.Param("id"))
	if !ok {
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
		p, err := h.pageWithHostels(c, "Hostels", viewHostel)
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.HostelsPage(p, "", errs))
	}
	h.flash(c, "Renamed to "+name+".")
	return redirect(c, "/hostels")
}
