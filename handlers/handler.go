// Package handlers is hostelhub's HTTP layer: the routes, the middleware,
// the authorisation policy, and one file per resource that parses a
// request, asks the policy, calls the store and renders a view.
package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/cache"
	"hostelhub/views"
)

// Options are the handlers' dependencies and settings, built in main.
type Options struct {
	Store    *store.Store
	Logger   *slog.Logger
	Registry *prometheus.Registry // /metrics serves it; request metrics go to it
	// Dashboard caches the dashboard; nil renders it on every request.
	Dashboard *cache.Cache
	// Hub serves the live streams; nil turns them off.
	Hub *realtime.Hub
	// Heartbeat is the longest a stream stays silent (default 20 s).
	Heartbeat time.Duration
	// Ready reports whether the services behind the app answer (GET /healthz);
	// nil checks the database only.
	Ready func(ctx context.Context) error
	// Secure marks cookies Secure and sends HSTS: the app is served over TLS.
	Secure bool
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

func (r RateLimit) limit() rate.Limit { return rate.Every(r.Every) }

// Handler holds what every route needs.
type Handler struct {
	store     *store.Store
	logger    *slog.Logger
	sessions  *scs.SessionManager
	registry  *prometheus.Registry
	dashboard *cache.Cache
	hub       *realtime.Hub
	fragments Fragments
	heartbeat time.Duration
	ready     func(ctx context.Context) error
	secure    bool

	loginPerAddress RateLimit
	loginPerAccount *accountLimiter
	dummyHash       []byte // compared against for unknown emails, so timing tells nothing
	flashKey        []byte // signs flash cookies
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
	sm := scs.New()
	sm.Store = o.Store.Sessions(o.SessionSecret)
	sm.Codec = sessionCodec{}
	sm.Lifetime = o.SessionLifetime
	sm.Cookie.Name = "hostelhub_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = o.Secure
	sm.Cookie.Persist = true
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		o.Logger.Error("session", "err", err, "path", r.URL.Path)
		http.Error(w, "The session store is not answering. Please try again.", http.StatusServiceUnavailable)
	}
	h := &Handler{
		store:           o.Store,
		logger:          o.Logger,
		sessions:        sm,
		registry:        o.Registry,
		dashboard:       o.Dashboard,
		hub:             o.Hub,
		fragments:       Fragments{Store: o.Store},
		heartbeat:       o.Heartbeat,
		ready:           o.Ready,
		secure:          o.Secure,
		loginPerAddress: o.LoginPerAddress,
		loginPerAccount: newAccountLimiter(o.LoginPerAccount),
		flashKey:        flashKey(o.SessionSecret),
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
func (h *Handler) page(c echo.Context, title string) (views.Page, error) {
	p := views.Page{Title: title, User: currentUser(c), CSRF: csrfToken(c)}
	if p.User != nil {
		p.Flash = h.popFlash(c)
	}
	return p, nil
}

// pageWithHostels is a page that lists hostels by name (a hostel select,
// the hostels page). Other pages do without the query.
func (h *Handler) pageWithHostels(c echo.Context, title string, need bool) (views.Page, error) {
	p, err := h.page(c, title)
	if err != nil || !need {
		return p, err
	}
	p.Hostels, err = h.store.Hostels(c.Request().Context())
	return p, err
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// now is the time the policy judges by, in Unix seconds.
func (h *Handler) now() int64 { return time.Now().Unix() }
