package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"hostelhub/static"
	"hostelhub/views"
)

// contentSecurityPolicy allows the app's own scripts and styles and nothing
// inline: htmx runs with allowEval off and its indicator styles off.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// Echo builds the application: middleware, then every route in one table.
func (h *Handler) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	// The client's address is the connection's: headers a client sets
	// cannot move it into another rate-limit bucket.
	e.IPExtractor = echo.ExtractIPDirect()

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			h.logger.Error("panic", "err", err, "path", c.Request().URL.Path, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod: true, LogURI: true, LogStatus: true, LogLatency: true, LogRequestID: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			h.logger.LogAttrs(context.Background(), level, "request", slog.String("method", v.Method), slog.String("uri", v.URI),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID))
			return nil
		},
	}))
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace: "hostelhub", Subsystem: "http", Registerer: h.registry, DoNotUseRequestPathFor404: true,
		// The Host header is the client's to choose: not a label.
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{"host": func(echo.Context, error) string { return "" }},
	}))
	hsts := 0
	if h.secure {
		hsts = 365 * 24 * 3600
	}
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY", HSTSMaxAge: hsts,
		ContentSecurityPolicy: contentSecurityPolicy, ReferrerPolicy: "same-origin",
	}))
	e.Use(middleware.BodyLimit("1M"))
	// Level 1: most of the saving for a fraction of the CPU, which on a
	// small server matters more than the last few percent of bytes.
	// Streams are never compressed; the dashboard's bodies are compressed
	// once, in its cache.
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		Skipper: func(c echo.Context) bool { return isStream(c) || compressesItself[c.Path()] }, MinLength: 1024, Level: 1,
	}))

	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup: "header:X-CSRF-Token,form:_csrf", ContextKey: "csrf",
		CookieName: "_csrf", CookiePath: "/", CookieHTTPOnly: true, CookieSameSite: http.SameSiteLaxMode, CookieSecure: h.secure,
	})
	// Every page and form: a session, CSRF, and the user fresh from the database.
	page := []echo.MiddlewareFunc{h.sessionsMiddleware, csrf, h.loadUser}
	user := append(page[:len(page):len(page)], requireUser)

	e.GET("/healthz", h.healthz)
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: h.registry}))
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(static.FS))), staticCache)

	e.GET("/login", h.showLogin, page...)
	e.POST("/login", h.login, append(page[:len(page):len(page)], h.loginLimiter())...)
	e.GET("/", h.showHome, page...)
	e.POST("/logout", h.logout, user...)

	e.GET("/issues", h.listIssues, user...)
	e.GET("/issues/new", h.showNewIssue, user...)
	e.POST("/issues", h.createIssue, user...)
	e.GET("/issues/:id", h.showIssue, user...)
	e.POST("/issues/:id/status", h.changeStatus, user...)
	e.POST("/issues/:id/comments", h.addComment, user...)
	e.POST("/issues/:id/metoo", h.addMeToo, user...)

	e.GET("/announcements", h.listAnnouncements, user...)
	e.POST("/announcements", h.createAnnouncement, user...)

	e.GET("/hostels/:id/events", h.hostelEvents, user...)
	e.GET("/events", h.userEvents, user...)

	e.GET("/dashboard", h.showDashboard, user...)
	e.GET("/users", h.listUsers, append(user[:len(user):len(user)], h.allow(ManageUsers))...)
	e.POST("/users", h.createUser, append(user[:len(user):len(user)], h.allow(ManageUsers))...)
	e.POST("/users/:id", h.updateUser, append(user[:len(user):len(user)], h.allow(ManageUsers))...)
	e.GET("/hostels", h.listHostels, append(user[:len(user):len(user)], h.allow(ManageHostels))...)
	e.POST("/hostels", h.createHostel, append(user[:len(user):len(user)], h.allow(ManageHostels))...)
	e.POST("/hostels/:id", h.renameHostel, append(user[:len(user):len(user)], h.allow(ManageHostels))...)

	e.GET("/api/issues", h.apiListIssues, user...)
	e.POST("/api/issues", h.apiCreateIssue, user...)
	e.PATCH("/api/issues/:id/status", h.apiChangeStatus, user...)
	e.GET("/api/dashboard/summary", h.dashboardSummary, user...)
	return e
}

// allow refuses users the policy does not allow a to, for routes that
// concern no one hostel.
func (h *Handler) allow(a Action) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !can(currentUser(c), a, 0) {
				return forbidden()
			}
			return next(c)
		}
	}
}

// sessionsMiddleware loads and saves the session around the request. The
// error handler runs inside it, so an error page still carries the cookie.
func (h *Handler) sessionsMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h.sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.SetRequest(r)
			c.SetResponse(echo.NewResponse(w, c.Echo()))
			if err := next(c); err != nil {
				c.Error(err)
			}
		})).ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// loginLimiter limits sign-in attempts per client address.
func (h *Handler) loginLimiter() echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: h.loginPerAddress.limit(), Burst: h.loginPerAddress.Burst, ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			p := views.Page{Title: "Sign in", CSRF: csrfToken(c)}
			return render(c, http.StatusTooManyRequests, views.LoginPage(p, c.FormValue("email"), tooManyLogins))
		},
	})
}

// isStream reports whether the request is for a live stream, which must
// not be compressed or buffered.
func isStream(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/events" || (strings.HasPrefix(p, "/hostels/") && strings.HasSuffix(p, "/events"))
}

// staticCache lets browsers keep vendored files (their names carry their
// version) for a year, and the app's own files for an hour.
func staticCache(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Request().URL.Path, "/static/vendor/") {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		}
		return next(c)
	}
}
