package handlers

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// The dashboard is cached compressed as well as plain, so that a hit costs
// no compression either. A browser's page is the cached fragment inside a
// page of its own (its name, its CSRF token), so it is sent as one gzip
// member stitched together: the page's own bytes as stored deflate blocks,
// the fragment's deflate stream as cached, and a CRC over the whole. Any
// deflate stream may be cut at a sync flush and continued with blocks from
// elsewhere; nothing in a member refers back across the cut.

// packed is a cached body: the plain bytes, and the same bytes compressed
// as a deflate stream ending in a sync flush, not final.
type packed struct {
	plain, deflated []byte
}

const packMagic = "\x00hhz1"

// pack compresses body once, for every hit after.
func pack(body []byte) ([]byte, error) {
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil { // a sync flush: byte-aligned, not final
		return nil, err
	}
	out := make([]byte, 0, len(packMagic)+2*binary.MaxVarintLen64+len(body)+z.Len())
	out = append(out, packMagic...)
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, z.Bytes()...), nil
}

var errPacked = errors.New("dashboard cache: malformed entry")

// unpack reads what pack wrote. A plain body (cached before bodies were
// packed) comes back plain, with nothing compressed.
func unpack(b []byte) (packed, error) {
	if !bytes.HasPrefix(b, []byte(packMagic)) {
		return packed{plain: b}, nil
	}
	b = b[len(packMagic):]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return packed{}, errPacked
	}
	return packed{plain: b[w : w+int(n)], deflated: b[w+int(n):]}, nil
}

// acceptsGzip reports whether the client takes gzip, as Echo's Gzip
// middleware decides it.
func acceptsGzip(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAcceptEncoding), "gzip")
}

// gzipHeader: no name, no time, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// appendGzip appends one gzip member of prefix+middle+suffix to dst, with
// middle already compressed as deflated (see pack).
func appendGzip(dst, prefix, middle, deflated, suffix []byte) []byte {
	dst = append(dst, gzipHeader...)
	dst = appendStored(dst, prefix, false)
	dst = append(dst, deflated...)
	dst = appendStored(dst, suffix, true)
	crc := crc32.Update(crc32.ChecksumIEEE(prefix), crc32.IEEETable, middle)
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, uint32(len(prefix)+len(middle)+len(suffix)))
}

// appendStored appends p as stored (uncompressed) deflate blocks, starting
// byte-aligned; final ends the stream, with an empty block if p is empty.
func appendStored(dst, p []byte, final bool) []byte {
	for len(p) > 0 || final {
		n := min(len(p), 0xffff)
		last := final && n == len(p)
		var head byte // BFINAL, then BTYPE 00, padded to the byte
		if last {
			head = 1
		}
		dst = append(dst, head)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
		dst = binary.LittleEndian.AppendUint16(dst, ^uint16(n))
		dst = append(dst, p[:n]...)
		p = p[n:]
		if last {
			break
		}
	}
	return dst
}

// writeGzip sends body as gzip with its length. Routes that call it are
// skipped by the Gzip middleware (compressesItself).
func writeGzip(c echo.Context, contentType string, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentEncoding, "gzip")
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(http.StatusOK, contentType, body)
}

// fragmentMark stands in for the fragment when a page is rendered to be
// stitched around it: random per process, so no text on the page (a name,
// an issue title) can be taken for it.
var fragmentMark = func() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte("<!--hostelhub-fragment-" + hex.EncodeToString(b) + "-->")
}()

// compressesItself lists the routes that answer with bodies compressed
// once, in the cache: the Gzip middleware leaves them alone.
var compressesItself = map[string]bool{"/dashboard": true, "/api/dashboard/summary": true}
