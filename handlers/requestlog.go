package handlers

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// A request line is logged for every request, so in JSON (how hostelhub
// logs in production) it is appended by hand, in the very form slog's
// JSONHandler gives it, for a fraction of the cost; in text it goes
// through the logger.

// requestLine is what is logged of one request.
type requestLine struct {
	time      time.Time
	level     slog.Level
	method    string
	uri       string
	status    int
	latency   time.Duration
	requestID string
}

// requestLog writes request lines.
type requestLog struct {
	json   io.Writer // JSON lines go straight here when set
	logger *slog.Logger
	bufs   sync.Pool
}

func (l *requestLog) write(r requestLine) {
	if l.json == nil {
		l.logger.LogAttrs(context.Background(), r.level, "request", slog.String("method", r.method),
			slog.String("uri", r.uri), slog.Int("status", r.status), slog.Duration("latency", r.latency),
			slog.String("request_id", r.requestID))
		return
	}
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := appendRequestLine((*bp)[:0], r)
	l.json.Write(b) // as slog's handler, nowhere to report a failure to log
	*bp = b
	l.bufs.Put(bp)
}

// appendRequestLine appends r as slog's JSONHandler writes a record of it.
func appendRequestLine(b []byte, r requestLine) []byte {
	b = append(b, `{"time":"`...)
	b = r.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, r.level.String()...)
	b = append(b, `","msg":"request","method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, r.uri)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"latency":`...)
	b = strconv.AppendInt(b, int64(r.latency), 10)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, r.requestID)
	return append(b, "}\n"...)
}

// appendJSONString appends s quoted as slog escapes strings: the JSON
// escapes for '"', '\\' and control characters, U+FFFD for bytes that are
// not UTF-8, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xF])
		} else {
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
