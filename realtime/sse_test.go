package realtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"hostelhub/realtime/realtimetest"
)

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"id event data", Frame{ID: 7, Event: "new_issue", Data: []byte("<li>x</li>")},
			"id: 7\nevent: new_issue\ndata: <li>x</li>\n\n"},
		{"no id", Frame{Event: "toast", Data: []byte("hi")}, "event: toast\ndata: hi\n\n"},
		{"no event", Frame{ID: 1, Data: []byte("hi")}, "id: 1\ndata: hi\n\n"},
		{"empty data still dispatches", Frame{ID: 2, Event: "ping"}, "id: 2\nevent: ping\ndata: \n\n"},
		{"LF", Frame{Data: []byte("a\nb")}, "data: a\ndata: b\n\n"},
		{"CRLF", Frame{Data: []byte("a\r\nb")}, "data: a\ndata: b\n\n"},
		{"CR", Frame{Data: []byte("a\rb")}, "data: a\ndata: b\n\n"},
		{"LFCR is two breaks", Frame{Data: []byte("a\n\rb")}, "data: a\ndata: \ndata: b\n\n"},
		{"blank line in payload", Frame{Data: []byte("a\n\nb")}, "data: a\ndata: \ndata: b\n\n"},
		{"trailing newline", Frame{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"leading space kept", Frame{Data: []byte(" a")}, "data:  a\n\n"},
		{"payload that looks like fields", Frame{Data: []byte("x\n\nid: 99\nevent: evil\ndata: y")},
			"data: x\ndata: \ndata: id: 99\ndata: event: evil\ndata: data: y\n\n"},
		{"event name CR LF removed", Frame{Event: "a\r\nevent: b\nc", Data: []byte("d")},
			"event: aevent: bc\ndata: d\n\n"},
		{"event name only line breaks", Frame{Event: "\r\n", Data: []byte("d")}, "data: d\n\n"},
		{"negative id", Frame{ID: -3, Data: []byte("d")}, "id: -3\ndata: d\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendFrame(nil, tt.f)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// Written in one Write call, as a stream writes it.
			var buf bytes.Buffer
			if _, err := buf.Write(appendFrame(nil, tt.f)); err != nil || buf.String() != tt.want {
				t.Errorf("Write: got %q, %v, want %q", buf.String(), err, tt.want)
			}
		})
	}
}

func TestAppendRetryAndComment(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"retry", string(appendRetry(nil, 3*time.Second)), "retry: 3000\n\n"},
		{"retry rounds down", string(appendRetry(nil, 1500*time.Microsecond)), "retry: 1\n\n"},
		{"retry negative", string(appendRetry(nil, -time.Second)), "retry: 0\n\n"},
		{"comment", string(appendComment(nil, "heartbeat")), ": heartbeat\n"},
		{"comment with line breaks", string(appendComment(nil, "a\r\nb\rc\nd")), ": a\n: b\n: c\n: d\n"},
		{"appends", string(appendComment([]byte("x"), "")), "x: \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// decodeAll reads r to the end as a browser would.
func decodeAll(t *testing.T, r io.Reader) ([]realtimetest.Frame, *realtimetest.Decoder) {
	t.Helper()
	d := realtimetest.NewDecoder(r)
	var frames []realtimetest.Frame
	for {
		f, err := d.Next()
		if errors.Is(err, io.EOF) {
			return frames, d
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		frames = append(frames, f)
	}
}

// Payloads full of line breaks, written back to back, come back as exactly
// the frames written.
func TestFramesBackToBack(t *testing.T) {
	in := []Frame{
		{ID: 1, Event: "new_issue", Data: []byte("<li>\r\n  a\r\n</li>")},
		{ID: 2, Event: "status", Data: []byte("\n\n")},
		{ID: 3, Event: "x", Data: []byte("\r")},
		{ID: 4, Event: "y", Data: []byte("")},
		{ID: 5, Data: []byte("data: fake\n\nid: 100\n\n")},
	}
	var buf []byte
	for _, f := range in {
		buf = appendFrame(buf, f)
	}
	buf = appendComment(buf, "heartbeat")
	got, _ := decodeAll(t, bytes.NewReader(buf))
	if len(got) != len(in) {
		t.Fatalf("got %d frames, want %d: %s", len(got), len(in), fmt.Sprint(got))
	}
	for i, f := range in {
		want := realtimetest.Frame{ID: f.ID, Event: f.Event, Data: normaliseNewlines(f.Data)}
		if got[i].ID != want.ID || got[i].Event != want.Event || !bytes.Equal(got[i].Data, want.Data) {
			t.Errorf("frame %d: got %s, want %s", i, got[i], want)
		}
	}
}

// show formats frames, as the client read them, for failure messages.

func normaliseNewlines(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}

func FuzzFrameRoundTrip(f *testing.F) {
	f.Add(int64(1), "new_issue", []byte("<li>hello</li>"))
	f.Add(int64(0), "", []byte(""))
	f.Add(int64(-1), "a\r\nb", []byte("x\r\n\r\ny\rz\n"))
	f.Add(int64(42), "event: x", []byte("\n\ndata: y\n\nid: 7\n\n"))
	f.Add(int64(9), " spaced", []byte(" leading\n trailing "))
	f.Add(int64(1<<62), "\xef\xbb\xbf", []byte("\xef\xbb\xbf\x00\r"))
	f.Fuzz(func(t *testing.T, id int64, event string, data []byte) {
		in := Frame{ID: id, Event: event, Data: data}
		wire := appendFrame(nil, in)
		d := realtimetest.NewDecoder(bytes.NewReader(wire))
		got, err := d.Next()
		if err != nil {
			t.Fatalf("Next: %v (wire %q)", err, wire)
		}
		want := realtimetest.Frame{ID: id, Event: stripLineBreaks(event), Data: normaliseNewlines(data)}
		if got.ID != want.ID || got.Event != want.Event || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("got %s, want %s (wire %q)", got, want, wire)
		}
		if extra, err := d.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("got a second event %s (err %v), want exactly one (wire %q)", extra, err, wire)
		}
	})
}
