package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"

	"hostelhub/store"
)

// Keys of what middleware puts on a request's context.
const (
	sessionUserKey  = "user_id"      // in the session: who signed in
	sessionTokenKey = "session"      // on the context: the session cookie's token
	sessionOpenKey  = "session_open" // on the context: the session is loaded in scs, to be changed
	userContextKey  = "user"         // on the context: the user, fresh from the store
	jsonContextKey  = "json"         // on the context: refusals are answered as JSON
	csrfContextKey  = "csrf"         // on the context: the CSRF token forms repeat
	headContextKey  = "head"         // on the context: the HEAD request net/http holds, handled as its GET
)

// headAsGET answers a HEAD on any route as its GET is answered. Before
// routing, the request handlers see becomes a copy of itself that says
// GET, and the HEAD is kept on the context (isHEAD). Echo routes by the
// request net/http holds, so that one says GET too until it is routed,
// and HEAD again after (headRouted): net/http, seeing a HEAD, then sends
// GET's status and headers and discards the body. Done here, once, no
// route lacks HEAD, and none answers it differently.
func headAsGET(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Method == http.MethodHead {
			get := r.WithContext(r.Context())
			get.Method = http.MethodGet
			c.SetRequest(get)
			c.Set(headContextKey, r)
			r.Method = http.MethodGet // for the router only
		}
		return next(c)
	}
}

// headRouted comes first after routing: the request net/http holds says
// HEAD again, before anything is written.
func headRouted(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r, ok := c.Get(headContextKey).(*http.Request); ok {
			r.Method = http.MethodHead
		}
		return next(c)
	}
}

// isHEAD says whether the request, handled as a GET, came as a HEAD:
// what answers with more than a body (a stream) answers its head alone.
func isHEAD(c echo.Context) bool { return c.Get(headContextKey) != nil }

// requestMethod is the method the client sent.
func requestMethod(c echo.Context) string {
	if isHEAD(c) {
		return http.MethodHead
	}
	return c.Request().Method
}

// streamHead is a live stream's answer to a HEAD: its headers, and no stream.
func streamHead(c echo.Context) error {
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	return c.NoContent(http.StatusOK)
}

// session finds the request's session, and saves it (and its cookie) just
// before the response's head is written: scs's LoadAndSave, in Echo's
// terms, with one difference. Most requests only read who signed in, and
// the store keeps each session decoded in memory, so a session is opened
// in scs (loaded, to be changed) only by the handlers that change it:
// sign-in, sign-out, an account found disabled (openSession).
//
// What it answers depends on who is signed in, and carries their CSRF
// token: no cache keeps it (Cache-Control: no-store), signed in or not,
// page, fragment, JSON or error alike. A live stream says no-cache, as
// streams do, and is kept by no one either.
func (h *Handler) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ck, err := c.Request().Cookie(h.sessions.Cookie.Name); err == nil {
			c.Set(sessionTokenKey, ck.Value)
		}
		c.Response().Header()[echo.HeaderCacheControl] = noStore
		c.Response().Before(func() { h.saveSession(c) })
		return next(c)
	}
}

// sessionUserID is who the request's session says signed in, 0 for nobody.
func (h *Handler) sessionUserID(c echo.Context) (int64, error) {
	if c.Get(sessionOpenKey) == true {
		return h.sessions.GetInt64(c.Request().Context(), sessionUserKey), nil
	}
	token, _ := c.Get(sessionTokenKey).(string)
	if token == "" {
		return 0, nil
	}
	s, _, err := h.sessionStore.Session(c.Request().Context(), token)
	if err != nil {
		h.logger.Error("session", "err", err, "path", c.Request().URL.Path)
		return 0, errSessionStore
	}
	id, _ := s.Values[sessionUserKey].(int64)
	return id, nil
}

var errSessionStore = echo.NewHTTPError(http.StatusServiceUnavailable, "The session store is not answering. Please try again.")

// openSession loads the request's session into scs, to be changed: the
// context it returns is the one scs's methods take.
func (h *Handler) openSession(c echo.Context) (context.Context, error) {
	r := c.Request()
	if c.Get(sessionOpenKey) == true {
		return r.Context(), nil
	}
	token, _ := c.Get(sessionTokenKey).(string)
	ctx, err := h.sessions.Load(r.Context(), token)
	if err != nil {
		h.logger.Error("session", "err", err, "path", r.URL.Path)
		return nil, errSessionStore
	}
	c.SetRequest(r.WithContext(ctx))
	c.Set(sessionOpenKey, true)
	return ctx, nil
}

// saveSession commits a changed session and sets (or clears) its cookie.
// It runs as the response's head is written, the error handler's included.
// Whatever the session did, the response depends on the cookie.
func (h *Handler) saveSession(c echo.Context) {
	res := c.Response()
	addVary(res.Header(), echo.HeaderCookie)
	if c.Get(sessionOpenKey) != true {
		return // read, not changed
	}
	ctx := c.Request().Context()
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
	// scs adds no-cache="Set-Cookie"; no-store says more.
	res.Header()[echo.HeaderCacheControl] = noStore
}

// noStore is the Cache-Control of every answer that depends on the
// session; shared, as Header.Set replaces it rather than changing it.
var noStore = []string{"no-store"}

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
		id, err := h.sessionUserID(c)
		if err != nil {
			return err
		}
		if id == 0 {
			return next(c)
		}
		u, err := h.store.User(c.Request().Context(), id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			// Deleted or disabled since sign-in: signed out at once.
			ctx, err := h.openSession(c)
			if err != nil {
				return err
			}
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
