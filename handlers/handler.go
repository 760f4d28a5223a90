// Package handlers is hostelhub's HTTP layer: the route table (routes.go),
// the middleware, the authorisation policy (policy.go), and one file per
// resource whose handlers parse a request, ask the policy, call the store
// and render a view. What a live stream shows of an event is rendered here
// too (fragments.go), by the same policy and components as the pages.
package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/cache"
	"hostelhub/store/limits"
	"hostelhub/views"
)

// Options are the handlers' dependencies and settings, built in main.
type Options struct {
	Store  *store.Store
	Logger *slog.Logger
	// RequestLog, when set, receives a JSON line per request (in the form
	// slog's JSONHandler writes) instead of the Logger: the same line for
	// less work, where the Logger writes JSON there too.
	RequestLog io.Writer
	Registry   *prometheus.Registry // Metrics serves it; request metrics go to it
	// MetricsElsewhere: the metrics are served on an address of their own
	// (Metrics), so the app has no /metrics route.
	MetricsElsewhere bool
	// Dashboard caches the dashboard; nil renders it on every request.
	Dashboard *cache.Cache
	// Hub serves the live streams (required).
	Hub *realtime.Hub
	// Heartbeat is the longest a stream stays silent (default 20 s).
	Heartbeat time.Duration
	// Ready reports whether the services behind the app answer (GET /healthz);
	// nil checks the database only.
	Ready func(ctx context.Context) error
	// Secure marks cookies Secure and sends HSTS: the app is served over TLS.
	Secure bool
	// Limits are the most one user may write per hour, by kind, and hold
	// open at once; zero fields take DefaultLimits'.
	Limits Limits
	// LimitBackend counts the limits, the sign-in limits too: in Redis when
	// it was built with a client, for every instance together; nil counts
	// in this process.
	LimitBackend *limits.Backend
	// Sign-in limits: per client address and per account.
	LoginPerAddress RateLimit
	LoginPerAccount RateLimit
	// SessionSecret keys session ids in the database.
	SessionSecret []byte
	// SessionLifetime is how long a sign-in lasts (default 7 days).
	SessionLifetime time.Duration
}

// RateLimit is a token bucket: Burst attempts at once, then Every apart.
type RateLimit struct {
	Every time.Duration
	Burst int
}

// Handler holds what every route needs.
type Handler struct {
	store        *store.Store
	logger       *slog.Logger
	sessions     *scs.SessionManager
	sessionStore *store.SessionStore // read directly by requests that do not change their session
	registry     *prometheus.Registry
	dashboard    *cache.Cache
	hub          *realtime.Hub
	heartbeat    time.Duration
	ready        func(ctx context.Context) error
	secure       bool
	metricsAway  bool // no /metrics route: Metrics is served elsewhere

	frames    pageFrames // the dashboard's page around its fragment
	metrics   *requestMetrics
	requests  *requestLog
	requestID func() string
	limits    limiters
	dummyHash []byte // compared against for unknown emails, so timing tells nothing
	flashKey  []byte // signs flash cookies
}

// New builds the handlers.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.SessionLifetime == 0 {
		o.SessionLifetime = 7 * 24 * time.Hour
	}
	if o.LoginPerAddress.Every == 0 {
		o.LoginPerAddress = RateLimit{Every: 6 * time.Second, Burst: 20}
	}
	if o.LoginPerAccount.Every == 0 {
		o.LoginPerAccount = RateLimit{Every: 12 * time.Second, Burst: 10}
	}
	if o.LimitBackend == nil {
		o.LimitBackend = limits.New(limits.Options{Logger: o.Logger, Registerer: o.Registry})
	}
	sessionStore := o.Store.Sessions(o.SessionSecret)
	sm := scs.New()
	sm.Store = sessionStore
	sm.Codec = store.SessionCodec{}
	sm.Lifetime = o.SessionLifetime
	sm.Cookie.Name = "hostelhub_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = o.Secure
	sm.Cookie.Persist = true
	h := &Handler{
		store:        o.Store,
		logger:       o.Logger,
		sessions:     sm,
		sessionStore: sessionStore,
		registry:     o.Registry,
		dashboard:    o.Dashboard,
		hub:          o.Hub,
		heartbeat:    o.Heartbeat,
		ready:        o.Ready,
		secure:       o.Secure,
		metricsAway:  o.MetricsElsewhere,
		limits:       newLimiters(o.LimitBackend, o.Limits.orDefaults(), o.LoginPerAddress, o.LoginPerAccount),
		flashKey:     flashKey(o.SessionSecret),
		metrics:      newRequestMetrics(o.Registry),
		requests:     &requestLog{json: o.RequestLog, logger: o.Logger},
		requestID:    requestIDs(),
	}
	dummy, _ := o.Store.HashPassword("not a password anyone has")
	h.dummyHash = []byte(dummy)
	if h.ready == nil {
		h.ready = o.Store.Ping
	}
	return h
}

var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBuffer returns a render buffer to the pool, unless it grew too big to keep.
func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		buf.Reset()
		renderBuffers.Put(buf)
	}
}

// render writes a component with a status. It renders into a buffer first,
// so that a failed render is still a clean 500.
func render(c echo.Context, status int, comp templ.Component) error {
	buf := renderBuffers.Get().(*bytes.Buffer)
	defer putBuffer(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// page fills what every full page needs.
func (h *Handler) page(c echo.Context, title string) views.Page {
	u := currentUser(c)
	p := views.Page{Title: title, Viewer: viewer(u), CSRF: csrfToken(c)}
	if u != nil {
		p.Flash = h.popFlash(c)
	}
	return p
}

// pageWithHostels is a page with a hostel select, offering the hostels in
// which the user may do a. Other pages do without the query.
func (h *Handler) pageWithHostels(c echo.Context, title string, a action) (views.Page, error) {
	p := h.page(c, title)
	all, err := h.store.Hostels(c.Request().Context())
	p.Hostels = hostelsFor(currentUser(c), a, all)
	return p, err
}

// now is the time the policy judges by, in Unix seconds.
func (h *Handler) now() int64 { return time.Now().Unix() }
