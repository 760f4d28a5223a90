package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// A flash message rides in a cookie of its own from the change that sets
// it to the next page the browser shows, which takes it off. The session
// is never written for it, so a session's data changes only at sign-in
// and every instance may keep it in memory. The cookie is signed with the
// session secret: nobody else can put words on a hostelhub page.
const (
	flashCookie = "hostelhub_flash"
	flashMaxAge = 300 // seconds: long enough for any redirect, short enough to forget
)

// flash keeps a message for the next page the user sees.
func (h *Handler) flash(c echo.Context, msg string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(msg))
	h.setFlashCookie(c, v+"."+h.flashMAC(v), flashMaxAge)
}

// popFlash returns the message waiting for this page, if any, and takes it off.
func (h *Handler) popFlash(c echo.Context) string {
	ck, err := c.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	h.setFlashCookie(c, "", -1)
	v, mac, ok := strings.Cut(ck.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(h.flashMAC(v))) {
		return ""
	}
	msg, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(msg)
}

func (h *Handler) flashMAC(v string) string {
	m := hmac.New(sha256.New, h.flashKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) setFlashCookie(c echo.Context, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// flashKey derives the flash cookie's key from the session secret, so the
// one secret never signs two kinds of thing.
func flashKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("hostelhub flash cookie"))
	return m.Sum(nil)
}
