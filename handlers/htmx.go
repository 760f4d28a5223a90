package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// htmx request and response headers.
const (
	hxRequest  = "HX-Request"
	hxBoosted  = "HX-Boosted"
	hxRedirect = "HX-Redirect"
	hxTarget   = "HX-Target"
	hxRetarget = "HX-Retarget"
	hxReswap   = "HX-Reswap"
)

// isHTMX reports whether htmx sent the request to swap a fragment.
func isHTMX(c echo.Context) bool {
	r := c.Request()
	return r.Header.Get(hxRequest) == "true" && r.Header.Get(hxBoosted) != "true"
}

// htmxTarget is the id of the element htmx will swap, without '#'.
func htmxTarget(c echo.Context) string { return c.Request().Header.Get(hxTarget) }

// redirect sends the browser to url: a 303 for plain forms, HX-Redirect for htmx.
func redirect(c echo.Context, url string) error {
	if isHTMX(c) {
		c.Response().Header().Set(hxRedirect, url)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// toastInstead makes htmx add the answer to the page's toasts (#toasts,
// the aria-live region) instead of swapping what the request aimed at:
// for a refusal that changes nothing but must be seen and heard.
func toastInstead(c echo.Context) {
	hd := c.Response().Header()
	hd.Set(hxRetarget, "#toasts")
	hd.Set(hxReswap, "beforeend")
}
