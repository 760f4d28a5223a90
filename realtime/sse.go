package realtime

// The Server-Sent Events wire format that Serve writes, in one place; the
// realtimetest package reads it back as a browser does. See
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

import (
	"bytes"
	"strconv"
	"time"
)

// Frame is one SSE event: the fields a browser's EventSource exposes.
type Frame struct {
	// ID is written as the "id:" field and becomes the browser's
	// Last-Event-ID; 0 writes no id line, so the browser keeps the previous one.
	ID int64
	// Event is the event type ("event:" field); "" means the default
	// "message". CR and LF are removed when writing: they would end the field.
	Event string
	// Data is the payload. Every line break in it (LF, CRLF or CR) starts a
	// new "data:" line, which the client joins back with LF.
	Data []byte
}

// appendFrame appends f in wire format, terminated by the blank line that
// dispatches it, and returns the extended buffer. Whatever the payload, the
// result is exactly one event: line breaks cannot escape a data line and at
// least one data line is written, so even empty data is dispatched.
func appendFrame(b []byte, f Frame) []byte {
	if f.ID != 0 {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, f.ID, 10)
		b = append(b, '\n')
	}
	if ev := stripLineBreaks(f.Event); ev != "" {
		b = append(b, "event: "...)
		b = append(b, ev...)
		b = append(b, '\n')
	}
	data := f.Data
	for {
		// The space after the colon is always written because the reader
		// strips exactly one: a payload line starting with a space survives.
		b = append(b, "data: "...)
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// appendRetry appends a "retry:" field telling the client how long to wait
// before reconnecting, in whole milliseconds (negative durations count as 0).
func appendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, max(d.Milliseconds(), 0), 10)
	return append(b, "\n\n"...)
}

// appendComment appends text as comment lines (": text"), which clients
// ignore; a line break in text starts another comment line. Heartbeats are
// comments: they keep proxies and the client's liveness checks satisfied.
func appendComment(b []byte, text string) []byte {
	for {
		b = append(b, ": "...)
		i := indexLineBreak(text)
		if i < 0 {
			b = append(b, text...)
			return append(b, '\n')
		}
		b = append(b, text[:i]...)
		b = append(b, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

func indexLineBreak(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return i
		}
	}
	return -1
}

func stripLineBreaks(s string) string {
	if indexLineBreak(s) < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\r' && s[i] != '\n' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
