package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"hostelhub/store"
	"hostelhub/store/limits"
	"hostelhub/views"
)

// Limits are the most one user may write in an hour, by kind, and the most
// live streams they may hold open at once: counted for every instance
// together (see store/limits), and set with LIMITS.
type Limits struct {
	Reports, Comments, MeToo, Announcements int // per user per hour
	Streams                                 int // per user, open at once
}

// DefaultLimits are SPEC's: no real user comes near them (a warden keeps
// many tabs open, each with a stream).
func DefaultLimits() Limits {
	return Limits{Reports: 30, Comments: 120, MeToo: 120, Announcements: 30, Streams: 16}
}

// limitKind names a limit: in LIMITS, in Redis keys, in metrics.
type limitKind string

const (
	limitReports       limitKind = "reports"
	limitComments      limitKind = "comments"
	limitMeToo         limitKind = "metoo"
	limitAnnouncements limitKind = "announcements"
	limitStreams       limitKind = "streams"
)

var limitKinds = []limitKind{limitReports, limitComments, limitMeToo, limitAnnouncements, limitStreams}

func (l *Limits) field(k limitKind) *int {
	switch k {
	case limitReports:
		return &l.Reports
	case limitComments:
		return &l.Comments
	case limitMeToo:
		return &l.MeToo
	case limitAnnouncements:
		return &l.Announcements
	case limitStreams:
		return &l.Streams
	}
	return nil
}

// maxLimit bounds a limit's number: past it a limit means nothing.
const maxLimit = 1_000_000

// ParseLimits reads LIMITS: "kind=n" items separated by commas, e.g.
// "reports=30,streams=16"; kinds not named keep DefaultLimits'. An unknown
// kind, a kind named twice, or a number that is not a whole number from 1
// to 1,000,000 is an error.
func ParseLimits(s string) (Limits, error) {
	l := DefaultLimits()
	if strings.TrimSpace(s) == "" {
		return l, nil
	}
	seen := map[limitKind]bool{}
	for item := range strings.SplitSeq(s, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return l, fmt.Errorf("%q is not kind=number (e.g. reports=30)", strings.TrimSpace(item))
		}
		k := limitKind(strings.TrimSpace(name))
		p := l.field(k)
		if p == nil {
			return l, fmt.Errorf("unknown kind %q; the kinds are %s", k, kindList())
		}
		if seen[k] {
			return l, fmt.Errorf("%s is given twice", k)
		}
		seen[k] = true
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 1 || n > maxLimit {
			return l, fmt.Errorf("%s=%s: the number must be a whole number from 1 to %d", k, strings.TrimSpace(num), maxLimit)
		}
		*p = n
	}
	return l, nil
}

func kindList() string {
	names := make([]string, len(limitKinds))
	for i, k := range limitKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// String is the limits as LIMITS writes them.
func (l Limits) String() string {
	items := make([]string, len(limitKinds))
	for i, k := range limitKinds {
		items[i] = fmt.Sprintf("%s=%d", k, *l.field(k))
	}
	return strings.Join(items, ",")
}

// orDefaults fills the zero fields from DefaultLimits.
func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	for _, k := range limitKinds {
		if p := l.field(k); *p <= 0 {
			*p = *d.field(k)
		}
	}
	return l
}

// limiters are the handlers' limits, made once from the backend that counts them.
type limiters struct {
	set             Limits
	writes          map[limitKind]*limits.RateLimiter
	streams         *limits.Concurrency
	loginPerAddress *limits.RateLimiter
	loginPerAccount *limits.RateLimiter
}

func newLimiters(b *limits.Backend, set Limits, perAddress, perAccount RateLimit) limiters {
	l := limiters{set: set, writes: map[limitKind]*limits.RateLimiter{}}
	for _, k := range []limitKind{limitReports, limitComments, limitMeToo, limitAnnouncements} {
		l.writes[k] = b.Rate(string(k), limits.Rate{N: *set.field(k), Per: time.Hour})
	}
	l.streams = b.Concurrency(string(limitStreams), set.Streams)
	l.loginPerAddress = b.Rate("login-address", perAddress.rate())
	l.loginPerAccount = b.Rate("login-account", perAccount.rate())
	return l
}

// rate is the bucket as store/limits says it: Burst at once, one more every Every.
func (r RateLimit) rate() limits.Rate {
	return limits.Rate{N: r.Burst, Per: r.Every * time.Duration(r.Burst)}
}

// limit counts a write against the signed-in user's budget of its kind,
// and refuses it (429, Retry-After, a message; the handler does not run)
// when the budget is spent. One budget per user and kind, shared by the
// form, its htmx form and the JSON API, and by every instance.
//
// Wire it on the route after the checks that refuse, so that only
// requests that would be served are counted: the group's requireUser,
// then h.allow(...), then h.limit(...). In routes.go:
//
//	pages.POST("/issues", h.createIssue, h.allow(reportIssue), h.limit(limitReports))
//	pages.POST("/issues/:id/comments", h.addComment, h.limit(limitComments))
//	pages.POST("/issues/:id/metoo", h.addMeToo, h.allow(meToo), h.limit(limitMeToo))
//	pages.POST("/announcements", h.createAnnouncement, h.allow(announce), h.limit(limitAnnouncements))
//	apiPages.POST("/issues", h.apiCreateIssue, h.allow(reportIssue), h.limit(limitReports))
func (h *Handler) limit(kind limitKind) echo.MiddlewareFunc {
	l := h.limits.writes[kind]
	if l == nil {
		panic(fmt.Sprintf("handlers: no write limit %q", kind))
	}
	n := int64(*h.limits.set.field(kind))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if u == nil {
				return next(c) // requireUser's to answer
			}
			if ok, retry := l.Allow(c.Request().Context(), userKey(u)); !ok {
				return &tooMany{kind: kind, limit: n, retryAfter: retry}
			}
			return next(c)
		}
	}
}

// acquireStream holds one of u's open streams, at most Limits.Streams at
// once across every instance, or returns the 429 error (Retry-After, a
// message) to return as it is. Call it after the checks that refuse and
// before the stream's head is written; release gives the stream back:
// call it once, when the stream ends (it is safe to call again). A
// detached stream (realtime.StreamOptions.Detach) ends after Serve has
// returned, in its own goroutine: release it there, not when Serve returns.
//
//	release, err := h.acquireStream(c, u)
//	if err != nil {
//		return err
//	}
//	// serve, and call release() when the stream ends
func (h *Handler) acquireStream(c echo.Context, u *store.User) (release func(), err error) {
	release, ok, retry := h.limits.streams.Acquire(c.Request().Context(), userKey(u))
	if !ok {
		return nil, &tooMany{kind: limitStreams, limit: int64(h.limits.set.Streams), retryAfter: retry}
	}
	return release, nil
}

func userKey(u *store.User) string { return strconv.FormatInt(u.ID, 10) }

// accountKey is the per-account sign-in limit's key: the account name as
// typed, folded, and hashed so that a long one costs no more to keep.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:16])
}

// loginLimiter limits sign-in attempts per client address, counted as the
// other limits are (for every instance together, with Redis). It is not
// Echo's RateLimiter middleware: Echo's store interface has no context
// and no time to wait, which a shared count and Retry-After need.
func (h *Handler) loginLimiter() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, retry := h.limits.loginPerAddress.Allow(c.Request().Context(), c.RealIP()); !ok {
				setRetryAfter(c, retry)
				p := views.Page{Title: "Sign in", CSRF: csrfToken(c)}
				return render(c, http.StatusTooManyRequests, views.LoginPage(p, c.FormValue("email"), tooManyLogins))
			}
			return next(c)
		}
	}
}

// tooMany refuses a request over one of the user's limits; the error
// handler answers it with 429, Retry-After and the message, and nothing
// has changed.
type tooMany struct {
	kind       limitKind
	limit      int64
	retryAfter time.Duration
}

func (e *tooMany) Error() string {
	when := "Try again in " + inWords(e.retryAfter) + "."
	switch e.kind {
	case limitReports:
		return fmt.Sprintf("You have reported %s in the last hour, the most one person may. %s", count(e.limit, "issue"), when)
	case limitComments:
		return fmt.Sprintf("You have written %s in the last hour, the most one person may. %s", count(e.limit, "comment"), when)
	case limitMeToo:
		return fmt.Sprintf("You have said “me too” %s in the last hour, the most one person may. %s", count(e.limit, "time"), when)
	case limitAnnouncements:
		return fmt.Sprintf("You have posted %s in the last hour, the most one person may. %s", count(e.limit, "announcement"), when)
	case limitStreams:
		return fmt.Sprintf("You have %s open, the most one person may at once. Close one, or try again in %s.", count(e.limit, "live page"), inWords(e.retryAfter))
	}
	return "Too many requests. " + when
}

// count is n things, in words: "1 issue", "30 issues".
func count(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// retrySeconds is Retry-After: whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

func setRetryAfter(c echo.Context, d time.Duration) {
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.FormatInt(retrySeconds(d), 10))
}

// inWords says a wait as a person would: "40 seconds", "12 minutes", "1 hour".
func inWords(d time.Duration) string {
	s := retrySeconds(d)
	if s < 60 {
		return count(s, "second")
	}
	m := (s + 59) / 60
	if m < 60 {
		return count(m, "minute")
	}
	h, m := m/60, m%60
	if m == 0 {
		return count(h, "hour")
	}
	return count(h, "hour") + " and " + count(m, "minute")
}
