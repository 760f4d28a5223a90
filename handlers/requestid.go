package handlers

import (
	"crypto/rand"
	"encoding/base32"
	"strconv"
	"sync/atomic"
)

// requestIDs returns a generator of request ids unique to this process
// and cheap to make: a random prefix and a counter. A request id names a
// request in the logs; it is not a secret, so it needs no randomness of
// its own (Echo's default draws 32 random characters per request).
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
