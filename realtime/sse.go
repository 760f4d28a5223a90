package realtime

// The Server-Sent Events wire format, in one place: what Serve writes and what
// the Decoder (tests, Go clients) reads back. See
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

import (
	"bufio"
	"bytes"
	"io"
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

// AppendFrame appends f in wire format, terminated by the blank line that
// dispatches it, and returns the extended buffer. Whatever the payload, the
// result is exactly one event: line breaks cannot escape a data line and at
// least one data line is written, so even empty data is dispatched.
func AppendFrame(b []byte, f Frame) []byte {
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

// WriteFrame writes f to w in one Write call.
func WriteFrame(w io.Writer, f Frame) error {
	_, err := w.Write(AppendFrame(nil, f))
	return err
}

// AppendRetry appends a "retry:" field telling the client how long to wait
// before reconnecting, in whole milliseconds (negative durations count as 0).
func AppendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, max(d.Milliseconds(), 0), 10)
	return append(b, "\n\n"...)
}

// AppendComment appends text as comment lines (": text"), which clients
// ignore; a line break in text starts another comment line. Heartbeats are
// comments: they keep proxies and the client's liveness checks satisfied.
func AppendComment(b []byte, text string) []byte {
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

// Decoder reads an event stream the way a browser's EventSource does: lines
// end in LF, CRLF or CR; a leading byte-order mark is skipped; "data" lines
// are joined with LF; an empty line dispatches the event unless no data
// arrived; the last event id persists from event to event; unknown fields
// and comments are ignored; an event cut off by the end of the stream is
// discarded.
type Decoder struct {
	// OnComment, if set, is called from Next with the text of every comment
	// line (after the colon and one optional space), e.g. "heartbeat".
	OnComment func(text string)

	r         *bufio.Reader
	line      []byte
	data      []byte
	event     string
	hasData   bool
	lastID    string
	retry     time.Duration
	skipLF    bool // the previous line ended in CR: an LF right after it belongs to it
	firstLine bool
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReader(r), firstLine: true}
}

// Next returns the next dispatched event. Its ID is the last event id in
// force, as a browser reports it (0 when there is none or it is not an
// integer), and its Event is "" for the default type "message". At the end
// of the stream Next returns io.EOF, discarding any unterminated event.
func (d *Decoder) Next() (Frame, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			return Frame{}, err
		}
		if len(line) == 0 {
			if f, ok := d.dispatch(); ok {
				return f, nil
			}
			continue
		}
		d.field(line)
	}
}

// LastEventID returns the last event id in force, as the string the client
// would send back in a Last-Event-ID header.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection delay the stream last asked for, or 0.
func (d *Decoder) Retry() time.Duration { return d.retry }

func (d *Decoder) dispatch() (Frame, bool) {
	if !d.hasData {
		d.event = ""
		return Frame{}, false
	}
	id, err := strconv.ParseInt(d.lastID, 10, 64)
	if err != nil {
		id = 0
	}
	f := Frame{ID: id, Event: d.event, Data: bytes.Clone(d.data[:len(d.data)-1])}
	d.data = d.data[:0]
	d.event = ""
	d.hasData = false
	return f, true
}

func (d *Decoder) field(line []byte) {
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "":
		if d.OnComment != nil {
			d.OnComment(string(value))
		}
	case "event":
		d.event = string(value)
	case "data":
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
		d.hasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.lastID = string(value)
		}
	case "retry":
		if len(value) > 0 && isDigits(value) {
			if ms, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				d.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// readLine returns the next line without its terminator. It never waits for
// the byte after a CR: a stream may legitimately pause right after one.
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(d.line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if d.skipLF {
			d.skipLF = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\r':
			d.skipLF = true
			return d.trimBOM(), nil
		case '\n':
			return d.trimBOM(), nil
		}
		d.line = append(d.line, c)
	}
}

func (d *Decoder) trimBOM() []byte {
	if d.firstLine {
		d.firstLine = false
		return bytes.TrimPrefix(d.line, []byte("\xef\xbb\xbf"))
	}
	return d.line
}
