// Package realtimetest holds what hostelhub's tests use to check its live
// streams: a Decoder that reads an event stream as a browser's EventSource
// does, and an in-process transport for a single instance.
package realtimetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Frame is one dispatched event, as a browser's EventSource exposes it.
type Frame struct {
	ID    int64  // the last event id in force (0 when none, or not an integer)
	Event string // the event type; "" for the default "message"
	Data  []byte // the data lines, joined with LF
}

// String shows every field, quoted, for test failures.
func (f Frame) String() string {
	return fmt.Sprintf("{id=%d event=%q data=%q}", f.ID, f.Event, f.Data)
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
