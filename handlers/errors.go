package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"hostelhub/views"
)

// fieldErrors is a 422 with a message per field.
type fieldErrors struct{ fields views.Errors }

func (e *fieldErrors) Error() string {
	keys := make([]string, 0, len(e.fields))
	for k := range e.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, 0, len(keys))
	for _, k := range keys {
		msgs = append(msgs, e.fields[k])
	}
	return strings.Join(msgs, " ")
}

func unprocessable(errs views.Errors) error { return &fieldErrors{fields: errs} }

// errorStatus is the status an error is answered with.
func errorStatus(err error) int {
	var he *echo.HTTPError
	var fe *fieldErrors
	var tm *tooMany
	switch {
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity
	case errors.As(err, &tm):
		return http.StatusTooManyRequests
	case errors.As(err, &he):
		return he.Code
	}
	return http.StatusInternalServerError
}

// handleError is the one error handler: it answers JSON to the JSON API, a
// page elsewhere, never a stack trace, and logs only what is the server's fault.
// A limit's refusal carries Retry-After, and to htmx it is a toast: the
// page a user acted on stays as it was, with the message beside it.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := errorStatus(err), "Something went wrong"
	var fields views.Errors
	var he *echo.HTTPError
	var fe *fieldErrors
	var tm *tooMany
	switch {
	case errors.As(err, &fe):
		msg, fields = fe.Error(), fe.fields
	case errors.As(err, &tm):
		msg = tm.Error()
		setRetryAfter(c, tm.retryAfter)
	case errors.As(err, &he):
		msg = fmt.Sprint(he.Message)
		if code == http.StatusNotFound {
			msg = "Not found"
		}
		if code == http.StatusRequestEntityTooLarge {
			msg = "That is too large to send"
		}
		if code >= 500 {
			msg = "Something went wrong"
		}
	}
	if code >= 500 {
		h.logger.Error("request failed", "err", err, "method", c.Request().Method, "path", c.Request().URL.Path,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if answersJSON(c) {
		body := map[string]any{"error": msg}
		if fields != nil {
			body["fields"] = fields
		}
		err = c.JSON(code, body)
	} else if tm != nil && isHTMX(c) {
		toastInstead(c)
		err = render(c, code, views.Toast(msg, ""))
	} else {
		p := views.Page{Title: msg, Viewer: viewer(currentUser(c)), CSRF: csrfToken(c)}
		err = render(c, code, views.ErrorPage(p, code, msg))
	}
	if err != nil {
		h.logger.Error("writing an error response", "err", err)
	}
}
