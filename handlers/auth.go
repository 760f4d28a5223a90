package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"hostelhub/store"
	"hostelhub/views"
)

const (
	badLogin      = "That email and password do not match an account."
	tooManyLogins = "Too many sign-in attempts. Wait a minute and try again."
)

// showLogin is the sign-in page.
func (h *Handler) showLogin(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return render(c, http.StatusOK, views.LoginPage(h.page(c, "Sign in"), "", ""))
}

// login signs a user in. Unknown emails and wrong passwords get the same
// answer after the same work, and both count against the limits.
func (h *Handler) login(c echo.Context) error {
	ctx := c.Request().Context()
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	fail := func(status int, msg string) error {
		return render(c, status, views.LoginPage(h.page(c, "Sign in"), email, msg))
	}
	if ok, retry := h.limits.loginPerAccount.Allow(ctx, accountKey(email)); !ok {
		setRetryAfter(c, retry)
		return fail(http.StatusTooManyRequests, tooManyLogins)
	}
	u, err := h.store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash := h.dummyHash
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if u == nil || !match || u.Disabled {
		return fail(http.StatusUnauthorized, badLogin)
	}
	// A new session id at sign-in, so a planted one is worth nothing.
	ctx, err = h.openSession(c)
	if err != nil {
		return err
	}
	if err := h.sessions.RenewToken(ctx); err != nil {
		return err
	}
	h.rotateCSRF(c) // and a new CSRF token with it
	h.sessions.Put(ctx, sessionUserKey, u.ID)
	return c.Redirect(http.StatusSeeOther, home(u))
}

// logout signs the user out.
func (h *Handler) logout(c echo.Context) error {
	ctx, err := h.openSession(c)
	if err != nil {
		return err
	}
	if err := h.sessions.Destroy(ctx); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// showHome sends a user to where their work is.
func (h *Handler) showHome(c echo.Context) error {
	u := currentUser(c)
	if u == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return c.Redirect(http.StatusSeeOther, home(u))
}

func home(u *store.User) string {
	if u.Role == store.Management {
		return "/dashboard"
	}
	return "/issues"
}
