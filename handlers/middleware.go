package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"hostelhub/store"
)

// Keys of what middleware puts on a request's context.
const (
	sessionUserKey = "user_id" // in the session: who signed in
	userContextKey = "user"    // on the context: the user, fresh from the store
	jsonContextKey = "json"    // on the context: refusals are answered as JSON
	csrfContextKey = "csrf"    // on the context: the CSRF token forms repeat
)

// session loads the request's session, and saves it (and its cookie) just
// before the response's head is written: scs's LoadAndSave, in Echo's terms.
func (h *Handler) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var token string
		if ck, err := r.Cookie(h.sessions.Cookie.Name); err == nil {
			token = ck.Value
		}
		ctx, err := h.sessions.Load(r.Context(), token)
		if err != nil {
			h.logger.Error("session", "err", err, "path", r.URL.Path)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "The session store is not answering. Please try again.")
		}
		c.SetRequest(r.WithContext(ctx))
		res := c.Response()
		addVary(res.Header(), echo.HeaderCookie)
		res.Before(func() { h.saveSession(c) })
		return next(c)
	}
}

// saveSession commits a changed session and sets (or clears) its cookie.
// It runs as the response's head is written, the error handler's included.
func (h *Handler) saveSession(c echo.Context) {
	ctx, res := c.Request().Context(), c.Response()
	switch h.sessions.Status(ctx) {
	case scs.Modified:
		token, expiry, err := h.sessions.Commit(ctx)
		if err != nil {
			// Too late for an error page: the head is being written. The
			// user stays as they were (signed out, or in), and is told.
			h.logger.Error("session: commit", "err", err, "path", c.Request().URL.Path)
			res.Status = http.StatusServiceUnavailable
			return
		}
		h.sessions.WriteSessionCookie(ctx, res, token, expiry)
	case scs.Destroyed:
		h.sessions.WriteSessionCookie(ctx, res, "", time.Time{})
	}
}

// addVary adds name to the Vary header unless it is there already.
func addVary(hd http.Header, name string) {
	for _, v := range hd.Values(echo.HeaderVary) {
		if v == name {
			return
		}
	}
	hd.Add(echo.HeaderVary, name)
}

// currentUser is the signed-in user, or nil.
func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(userContextKey).(*store.User)
	return u
}

// loadUser puts the signed-in user, fresh from the database, on the
// context. Role and hostels always come from here, never from the request.
func (h *Handler) loadUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id := h.sessions.GetInt64(ctx, sessionUserKey)
		if id == 0 {
			return next(c)
		}
		u, err := h.store.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			// Deleted or disabled since sign-in: signed out at once.
			if err := h.sessions.Destroy(ctx); err != nil {
				return err
			}
			return next(c)
		}
		if err != nil {
			return err
		}
		c.Set(userContextKey, u)
		return next(c)
	}
}

// requireUser lets signed-in users through and sends others to sign in.
func requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		if answersJSON(c) {
			return echo.NewHTTPError(http.StatusUnauthorized, "Sign in first.")
		}
		if c.Request().Method == http.MethodGet && !isHTMX(c) {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return redirect(c, "/login")
	}
}

// answerJSON marks the JSON API's requests: refusals are JSON too.
func answerJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(jsonContextKey, true)
		return next(c)
	}
}

func answersJSON(c echo.Context) bool { return c.Get(jsonContextKey) == true }

func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfContextKey).(string)
	return t
}
