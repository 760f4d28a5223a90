package cache

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// An Entry is a cached fragment, kept plain and compressed, so that a hit
// costs no compression either. A page is usually the fragment inside a page
// of its own (the viewer's name, a CSRF token), so AppendGzip sends it as
// one gzip member stitched together: the page's own bytes as stored deflate
// blocks, the fragment's deflate stream as cached, and a CRC over the
// whole. Any deflate stream may be cut at a sync flush and continued with
// blocks from elsewhere; nothing in a member refers back across the cut.
type Entry struct {
	// Plain is the fragment as rendered. It is shared: never modify it.
	Plain    []byte
	deflated []byte // Plain as a deflate stream ending in a sync flush, not final
	crc      uint32 // Plain's CRC-32
	shift    uint32 // x^(8·len(Plain)) mod the CRC's polynomial: moves a CRC past Plain
}

// newEntry compresses body once, for every hit after.
func newEntry(body []byte) (*Entry, error) {
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
	// Plain's capacity ends at its length: an append to a shared Plain
	// copies instead of writing into the render's spare capacity.
	return newEntryOf(body[:len(body):len(body)], z.Bytes()), nil
}

func newEntryOf(plain, deflated []byte) *Entry {
	return &Entry{Plain: plain, deflated: deflated, crc: crc32.ChecksumIEEE(plain), shift: crcShift(int64(len(plain)))}
}

// The form an entry is stored in, in Redis: the magic, the plain length as
// a uvarint, the plain bytes, then the deflate stream.
const entryMagic = "\x00hhz1"

var errEntry = errors.New("cache: malformed entry")

func (e *Entry) marshal() []byte {
	out := make([]byte, 0, len(entryMagic)+binary.MaxVarintLen64+len(e.Plain)+len(e.deflated))
	out = append(out, entryMagic...)
	out = binary.AppendUvarint(out, uint64(len(e.Plain)))
	out = append(out, e.Plain...)
	return append(out, e.deflated...)
}

// unmarshalEntry reads what marshal wrote; the entry shares b's bytes. Plain's
// capacity ends at its length, so that an append to it cannot overwrite the
// deflate stream that follows it in b.
func unmarshalEntry(b []byte) (*Entry, error) {
	if !bytes.HasPrefix(b, []byte(entryMagic)) {
		return nil, errEntry
	}
	b = b[len(entryMagic):]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, errEntry
	}
	end := w + int(n)
	return newEntryOf(b[w:end:end], b[end:]), nil
}

// gzipHeader: no name, no time, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// AppendGzip appends to dst one gzip member of prefix + e.Plain + suffix,
// with e's part compressed as cached: the cost of a hit is a copy, and a
// CRC of prefix and suffix (e's own is kept).
func (e *Entry) AppendGzip(dst, prefix, suffix []byte) []byte {
	dst = append(dst, gzipHeader...)
	dst = appendStored(dst, prefix, false)
	dst = append(dst, e.deflated...)
	dst = appendStored(dst, suffix, true)
	crc := crcMul(e.shift, crc32.ChecksumIEEE(prefix)) ^ e.crc // the CRC of prefix + Plain
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, uint32(len(prefix)+len(e.Plain)+len(suffix)))
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

// NewEntry makes an entry of body outside any cache, for a fragment that
// is served as an entry but rendered on every request.
func NewEntry(body []byte) (*Entry, error) { return newEntry(body) }

// Combining CRCs, as zlib's crc32_combine does: the CRC-32 of A+B is
// CRC(A)·x^(8·len(B)) + CRC(B), in the field of polynomials modulo the
// CRC's, in its reflected bit order.
const crcPoly = 0xedb88320

// crcMul is a·b modulo the polynomial.
func crcMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcShift is x^(8n) modulo the polynomial, by squaring.
func crcShift(n int64) uint32 {
	p := uint32(1) << 31 // x^0
	x := uint32(1) << 23 // x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = crcMul(x, p)
		}
		x = crcMul(x, x)
	}
	return p
}
