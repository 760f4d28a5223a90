package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// SessionCodec keeps session data (an scs.Codec) in a small binary form. A
// hostelhub session holds a few plain values (the user id), and every
// signed-in request decodes it, so decoding is a few bounds-checked reads:
// a fraction of gob, which builds its type machinery anew on every request.
//
// The form: the magic "\x00hh1", the deadline in Unix nanoseconds as 8
// bytes big-endian, then each value as a kind byte ('i' int64, 's' string,
// 'b' bool), the key as a uvarint length and bytes, and the value (a
// varint; a uvarint length and bytes; one byte).
type SessionCodec struct{}

const sessionMagic = "\x00hh1"

// Encode writes deadline and values; a value of another type is an error.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, sessionMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(deadline.UnixNano()))
	for k, v := range values {
		var kind byte
		switch v.(type) {
		case int64, int:
			kind = 'i'
		case string:
			kind = 's'
		case bool:
			kind = 'b'
		default:
			return nil, fmt.Errorf("store: session: cannot keep %q of type %T", k, v)
		}
		b = append(b, kind)
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		switch v := v.(type) {
		case int64:
			b = binary.AppendVarint(b, v)
		case int:
			b = binary.AppendVarint(b, int64(v))
		case string:
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case bool:
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	}
	return b, nil
}

var errSessionData = errors.New("store: session: malformed data")

// Decode reads what Encode wrote; anything else is an error.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) < len(sessionMagic) || string(b[:len(sessionMagic)]) != sessionMagic {
		return time.Time{}, nil, errSessionData
	}
	b = b[len(sessionMagic):]
	if len(b) < 8 {
		return time.Time{}, nil, errSessionData
	}
	deadline := time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	b = b[8:]
	values := make(map[string]any, 2)
	for len(b) > 0 {
		kind := b[0]
		key, rest, ok := readBytes(b[1:])
		if !ok {
			return time.Time{}, nil, errSessionData
		}
		b = rest
		switch kind {
		case 'i':
			v, n := binary.Varint(b)
			if n <= 0 {
				return time.Time{}, nil, errSessionData
			}
			values[string(key)], b = v, b[n:]
		case 's':
			v, rest, ok := readBytes(b)
			if !ok {
				return time.Time{}, nil, errSessionData
			}
			values[string(key)], b = string(v), rest
		case 'b':
			if len(b) < 1 || b[0] > 1 {
				return time.Time{}, nil, errSessionData
			}
			values[string(key)], b = b[0] == 1, b[1:]
		default:
			return time.Time{}, nil, errSessionData
		}
	}
	return deadline, values, nil
}

// readBytes reads a uvarint length and that many bytes.
func readBytes(b []byte) (v, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}
