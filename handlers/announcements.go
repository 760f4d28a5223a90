package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"hostelhub/views"
)

// announcementsShown is how many announcements the page lists.
const announcementsShown = 50

// listAnnouncements lists the announcements that reach the user's hostels.
func (h *Handler) listAnnouncements(c echo.Context) error {
	return h.renderAnnouncements(c, http.StatusOK, views.AnnouncementForm{}, nil)
}

func (h *Handler) renderAnnouncements(c echo.Context, status int, f views.AnnouncementForm, errs views.Errors) error {
	u := currentUser(c)
	hostels := visibleHostels(u) // nil: every announcement
	stream, err := h.liveStream(c.Request().Context(), hostels)
	if err != nil {
		return err
	}
	list, err := h.store.Announcements(c.Request().Context(), hostels, announcementsShown)
	if err != nil {
		return err
	}
	p := h.page(c, "Announcements")
	if canSome(u, announce) {
		if p, err = h.pageWithHostels(c, "Announcements", announce); err != nil {
			return err
		}
	}
	p.Stream = stream
	may := views.AnnouncementsCan{PostAll: can(u, announceAll, 0)}
	may.Post = may.PostAll || len(p.Hostels) > 0
	return render(c, status, views.AnnouncementsPage(p, list, f, errs, may))
}

// createAnnouncement posts an announcement to one hostel, or (management) to all.
func (h *Handler) createAnnouncement(c echo.Context) error {
	u := currentUser(c)
	in := announcementInput{Title: c.FormValue("title"), Body: c.FormValue("body"), HostelID: c.FormValue("hostel_id")}
	errs := in.validate()
	var target *int64
	if errs == nil {
		if in.HostelID == "" {
			// Empty means every hostel: management's to say. A warden's
			// empty choice means their own hostel, when they have one.
			switch {
			case can(u, announceAll, 0):
			case len(u.HostelIDs) == 1:
				target = &u.HostelIDs[0]
			default:
				errs = views.Errors{"hostel_id": "Choose one of your hostels."}
			}
		} else {
			id, _ := parseID(in.HostelID) // validated above
			if !can(u, announce, id) {
				return forbidden()
			}
			if _, err := h.store.Hostel(c.Request().Context(), id); err != nil {
				errs = views.Errors{"hostel_id": "Choose a hostel from the list."}
			}
			target = &id
		}
	}
	if errs != nil {
		return h.renderAnnouncements(c, http.StatusUnprocessableEntity,
			views.AnnouncementForm{Title: in.Title, Body: in.Body, HostelID: in.HostelID}, errs)
	}
	if _, err := h.store.CreateAnnouncement(c.Request().Context(), u.ID, target, in.Title, in.Body); err != nil {
		return err
	}
	h.flash(c, "Announcement posted.")
	return redirect(c, "/announcements")
}
