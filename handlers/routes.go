package handlers

import (
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"hostelhub/static"
)

// contentSecurityPolicy allows the app's own scripts and styles and nothing
// inline: htmx runs with allowEval off and its indicator styles off.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// Echo builds the application: the middleware every request passes, then
// every route in one table, grouped by who may call it. A route's group
// decides its middleware; what a role alone decides sits on the route;
// what depends on the object (an issue's hostel) is the handler's call to
// the policy.
func (h *Handler) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	// The client's address is the connection's: headers a client sets
	// cannot move it into another rate-limit bucket.
	e.IPExtractor = echo.ExtractIPDirect()

	e.Pre(headAsGET)
	e.Use(headRouted)
	e.Use(h.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			h.logger.Error("panic", "err", err, "path", c.Request().URL.Path, "stack", string(stack))
			return err
		},
	}))
	e.Use(secureHeaders(h.secure))
	e.Use(middleware.BodyLimit("1M"))

	// Level 1: most of the saving for a fraction of the CPU, which on a
	// small server matters more than the last few percent of bytes.
	gzip := middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024, Level: 1})
	csrf := h.csrf()

	// Public: no session.
	e.GET("/healthz", h.healthz)
	// Echo's own file serving: files, never a directory's listing.
	e.GET("/static/*", echo.StaticDirectoryHandler(static.FS, !e.EnablePathUnescapingStaticFiles), staticCache)

	// Every page and form: a session, CSRF, and the user fresh from the database.
	web := e.Group("", h.session, csrf, h.loadUser)
	signedOut := web.Group("", gzip)
	signedOut.GET("/login", h.showLogin)
	signedOut.POST("/login", h.login, h.loginLimiter())
	signedOut.GET("/", h.showHome)

	// Signed in. The dashboard is compressed once, in its cache, so it is
	// not in a group that compresses every response.
	signedIn := web.Group("", requireUser)
	pages := signedIn.Group("", gzip)
	pages.POST("/logout", h.logout)

	pages.GET("/issues", h.listIssues)
	pages.GET("/issues/new", h.showNewIssue, h.allow(reportIssue))
	pages.POST("/issues", h.createIssue, h.allow(reportIssue), h.limit(limitReports))
	pages.GET("/issues/:id", h.showIssue)
	pages.POST("/issues/:id/status", h.changeStatus)
	pages.POST("/issues/:id/comments", h.addComment, h.limit(limitComments))
	pages.POST("/issues/:id/metoo", h.addMeToo, h.allow(meToo), h.limit(limitMeToo))

	pages.GET("/announcements", h.listAnnouncements)
	pages.POST("/announcements", h.createAnnouncement, h.allow(announce), h.limit(limitAnnouncements))

	// Management only.
	manage := pages.Group("", h.allow(manageAccounts))
	manage.GET("/users", h.listUsers)
	manage.POST("/users", h.createUser)
	manage.POST("/users/:id", h.updateUser)
	manage.GET("/hostels", h.listHostels)
	manage.POST("/hostels", h.createHostel)
	manage.POST("/hostels/:id", h.renameHostel)
	signedIn.GET("/dashboard", h.showDashboard, h.allow(viewDashboard))
	if !h.metricsAway {
		// Unless a scraper has an address of its own (METRICS_ADDR).
		// Not in a compressing group: Prometheus's handler compresses.
		signedIn.GET("/metrics", echo.WrapHandler(h.Metrics()), h.allow(readMetrics))
	}

	// Live streams: never compressed or buffered.
	streams := e.Group("", h.session, h.loadUser, requireUser)
	streams.GET("/hostels/:id/events", h.hostelEvents)
	streams.GET("/events", h.userEvents)

	// JSON for scripts: the session cookie and the X-CSRF-Token header;
	// refusals are JSON too.
	api := e.Group("/api", answerJSON, h.session, csrf, h.loadUser, requireUser)
	apiPages := api.Group("", gzip)
	apiPages.GET("/issues", h.apiListIssues)
	apiPages.POST("/issues", h.apiCreateIssue, h.allow(reportIssue), h.limit(limitReports))
	apiPages.PATCH("/issues/:id/status", h.apiChangeStatus)
	api.GET("/dashboard/summary", h.dashboardSummary, h.allow(viewDashboard))

	// Anything else is a page that is not there, shown with the viewer's
	// own navigation. (Groups above register catch-alls of their own; this
	// one, last, is the one that answers.)
	e.RouteNotFound("/*", notFound, h.session, csrf, h.loadUser)
	return e
}

func notFound(echo.Context) error { return errNotFound }

// secureHeaders sets what Echo's Secure middleware would set for hostelhub
// (a strict CSP, no sniffing, no framing, no referrer to other sites, no
// XSS auditor; HSTS over TLS), prepared once: a request copies six
// ready values into its header map instead of building each. The values
// are shared, which is safe: Header.Set replaces a value, and Header.Add
// appends to a slice with no room, so copies it.
func secureHeaders(hsts bool) echo.MiddlewareFunc {
	type header struct {
		name  string
		value []string
	}
	one := func(v string) []string { return []string{v} }
	fixed := []header{
		{"Content-Security-Policy", one(contentSecurityPolicy)},
		{"Referrer-Policy", one("same-origin")},
		{"X-Content-Type-Options", one("nosniff")},
		{"X-Frame-Options", one("DENY")},
		{"X-Xss-Protection", one("0")},
	}
	if hsts {
		fixed = append(fixed, header{"Strict-Transport-Security", one("max-age=31536000; includeSubdomains")})
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			hd := c.Response().Header()
			for _, f := range fixed {
				hd[f.name] = f.value
			}
			return next(c)
		}
	}
}

// csrf is Echo's CSRF protection: a token in a cookie that every
// state-changing request repeats (or, from browsers that say where a
// request comes from, Sec-Fetch-Site). The cookie is set when the browser
// has none and lives as long as a session; a safe request from a browser
// that has one is not made to set it again on every response.
func (h *Handler) csrf() echo.MiddlewareFunc {
	check := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup: "header:X-CSRF-Token,form:_csrf", ContextKey: csrfContextKey,
		CookieName: csrfCookie, CookiePath: "/", CookieMaxAge: int(h.sessions.Lifetime.Seconds()),
		CookieHTTPOnly: true, CookieSameSite: http.SameSiteLaxMode, CookieSecure: h.secure,
		Skipper: func(c echo.Context) bool {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
				if ck, err := c.Cookie(csrfCookie); err == nil && ck.Value != "" {
					c.Set(csrfContextKey, ck.Value)
					return true
				}
			}
			return false
		},
	})
	return check
}

// csrfCookie holds the CSRF token that forms and X-CSRF-Token repeat.
const csrfCookie = "_csrf"

// rotateCSRF gives the browser a new CSRF token, as a sign-in gives it a
// new session: a token known before the sign-in (planted in the browser,
// or read off the sign-in page) changes nothing after it. The cookie is
// set as csrf sets it, in place of the one csrf set on this answer.
func (h *Handler) rotateCSRF(c echo.Context) {
	token := rand.Text()
	hd := c.Response().Header()
	kept := make([]string, 0, len(hd.Values("Set-Cookie")))
	for _, v := range hd.Values("Set-Cookie") {
		if !strings.HasPrefix(v, csrfCookie+"=") {
			kept = append(kept, v)
		}
	}
	hd["Set-Cookie"] = kept
	c.SetCookie(&http.Cookie{Name: csrfCookie, Value: token, Path: "/", Expires: time.Now().Add(h.sessions.Lifetime),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure})
	c.Set(csrfContextKey, token)
}

// allow refuses users whose role may never do a, in any hostel: the
// policy's decisions that depend on the role alone.
func (h *Handler) allow(a action) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !canSome(currentUser(c), a) {
				return forbidden()
			}
			return next(c)
		}
	}
}

// staticCache lets browsers keep vendored files (their names carry their
// version) for a year, and the app's own files for an hour.
func staticCache(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Param("*"), "vendor/") {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		}
		return next(c)
	}
}
