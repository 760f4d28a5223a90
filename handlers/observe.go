package handlers

import (
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// observe is the first thing every request meets and the last it leaves:
// it gives the request an id, has the error handler answer whatever error
// comes back (so the status is known), and then logs one line and counts
// the request in the metrics. One clock read at each end serves both.
func (h *Handler) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req, res := c.Request(), c.Response()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !goodRequestID(id) {
			id = h.requestID()
		}
		res.Header()[echo.HeaderXRequestID] = []string{id}
		reqSize := approximateSize(req)
		if err := next(c); err != nil {
			c.Error(err)
		}
		end := time.Now()
		elapsed := end.Sub(start)
		h.metrics.observe(c, reqSize, elapsed)
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		h.requests.write(requestLine{time: end, level: level, method: requestMethod(c), uri: clip(req.RequestURI, maxLoggedURI),
			status: res.Status, latency: elapsed, requestID: id})
		return nil
	}
}

// maxLoggedURI is as much of a URI as a log line carries: enough for any
// URI hostelhub makes, not a client's 64 KB.
const maxLoggedURI = 512

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// goodRequestID accepts a request id a proxy in front set: short, and of
// characters that read the same in any log.
func goodRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// requestIDs returns a generator of request ids unique to this process
// and cheap to make: a random prefix and a counter. A request id names a
// request in the logs; it is not a secret, so it needs no randomness of
// its own.
func requestIDs() func() string {
	var b [10]byte
	rand.Read(b[:])
	prefix := base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"
	var n atomic.Uint64
	return func() string {
		var buf [40]byte
		out := append(buf[:0], prefix...)
		return string(strconv.AppendUint(out, n.Add(1), 36))
	}
}
