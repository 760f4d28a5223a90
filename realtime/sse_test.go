package realtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
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
			if got := string(AppendFrame(nil, tt.f)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tt.f); err != nil || buf.String() != tt.want {
				t.Errorf("WriteFrame: got %q, %v, want %q", buf.String(), err, tt.want)
			}
		})
	}
}

func TestAppendRetryAndComment(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"retry", string(AppendRetry(nil, 3*time.Second)), "retry: 3000\n\n"},
		{"retry rounds down", string(AppendRetry(nil, 1500*time.Microsecond)), "retry: 1\n\n"},
		{"retry negative", string(AppendRetry(nil, -time.Second)), "retry: 0\n\n"},
		{"comment", string(AppendComment(nil, "heartbeat")), ": heartbeat\n"},
		{"comment with line breaks", string(AppendComment(nil, "a\r\nb\rc\nd")), ": a\n: b\n: c\n: d\n"},
		{"appends", string(AppendComment([]byte("x"), "")), "x: \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func decodeAll(t *testing.T, r io.Reader) ([]Frame, *Decoder) {
	t.Helper()
	d := NewDecoder(r)
	var frames []Frame
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

func TestDecoder(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []Frame
		comments []string
		retry    time.Duration
		lastID   string
	}{
		{"basic", "id: 1\nevent: a\ndata: x\n\n", []Frame{{1, "a", []byte("x")}}, nil, 0, "1"},
		{"multi-line data", "data: a\ndata:b\ndata:  c\n\n", []Frame{{0, "", []byte("a\nb\n c")}}, nil, 0, ""},
		{"CRLF", "id: 2\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\n", []Frame{{2, "a", []byte("x\ny")}}, nil, 0, "2"},
		{"CR only", "id: 3\revent: a\rdata: x\rdata: y\r\r", []Frame{{3, "a", []byte("x\ny")}}, nil, 0, "3"},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []Frame{{0, "", []byte("a\nb\nc")}}, nil, 0, ""},
		{"comments and retry", ": hello\nretry: 2500\n:heartbeat\n\ndata: x\n\n",
			[]Frame{{0, "", []byte("x")}}, []string{"hello", "heartbeat"}, 2500 * time.Millisecond, ""},
		{"bad retry ignored", "retry: 2s\nretry: -1\ndata: x\n\n", []Frame{{0, "", []byte("x")}}, nil, 0, ""},
		{"no data is not dispatched", "id: 4\nevent: a\n\ndata: x\n\n", []Frame{{4, "", []byte("x")}}, nil, 0, "4"},
		{"empty data is dispatched", "event: a\ndata:\n\n", []Frame{{0, "a", []byte{}}}, nil, 0, ""},
		{"id persists", "id: 5\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n",
			[]Frame{{5, "", []byte("a")}, {5, "", []byte("b")}, {0, "", []byte("c")}}, nil, 0, ""},
		{"id with NUL ignored", "id: 6\ndata: a\n\nid: 7\x00\ndata: b\n\n",
			[]Frame{{6, "", []byte("a")}, {6, "", []byte("b")}}, nil, 0, "6"},
		{"non-numeric id", "id: abc\ndata: a\n\n", []Frame{{0, "", []byte("a")}}, nil, 0, "abc"},
		{"field without colon", "data\ndata\n\n", []Frame{{0, "", []byte("\n")}}, nil, 0, ""},
		{"unknown field", "foo: bar\ndata: a\n\n", []Frame{{0, "", []byte("a")}}, nil, 0, ""},
		{"event resets after dispatch", "event: a\ndata: x\n\ndata: y\n\n",
			[]Frame{{0, "a", []byte("x")}, {0, "", []byte("y")}}, nil, 0, ""},
		{"BOM skipped", "\xef\xbb\xbfdata: a\n\n", []Frame{{0, "", []byte("a")}}, nil, 0, ""},
		{"unterminated event discarded", "data: a\n\ndata: b\n", []Frame{{0, "", []byte("a")}}, nil, 0, ""},
		{"unterminated line discarded", "data: a\n\ndata: b", []Frame{{0, "", []byte("a")}}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time, so a CR and its LF arrive in separate reads.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				d := NewDecoder(r)
				var comments []string
				d.OnComment = func(s string) { comments = append(comments, s) }
				var got []Frame
				for {
					f, err := d.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatalf("Next: %v", err)
					}
					got = append(got, f)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("frames: got %s, want %s", show(got...), show(tt.want...))
				}
				if !reflect.DeepEqual(comments, tt.comments) {
					t.Errorf("comments: got %q, want %q", comments, tt.comments)
				}
				if d.Retry() != tt.retry {
					t.Errorf("retry: got %v, want %v", d.Retry(), tt.retry)
				}
				if d.LastEventID() != tt.lastID {
					t.Errorf("last event id: got %q, want %q", d.LastEventID(), tt.lastID)
				}
			}
		})
	}
}

// A CR at the end of what has arrived so far must not hold the event back
// while the decoder waits to see whether an LF follows.
func TestDecoderDoesNotWaitAfterCR(t *testing.T) {
	pr, pw := io.Pipe()
	d := NewDecoder(pr)
	go pw.Write([]byte("data: x\r\r"))
	got := make(chan Frame, 1)
	go func() {
		f, _ := d.Next()
		got <- f
	}()
	select {
	case f := <-got:
		if string(f.Data) != "x" {
			t.Errorf("got %q, want %q", f.Data, "x")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next blocked after a CR")
	}
	pw.Close()
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
		buf = AppendFrame(buf, f)
	}
	buf = AppendComment(buf, "heartbeat")
	got, _ := decodeAll(t, bytes.NewReader(buf))
	if len(got) != len(in) {
		t.Fatalf("got %d frames, want %d: %s", len(got), len(in), show(got...))
	}
	for i, f := range in {
		want := Frame{ID: f.ID, Event: f.Event, Data: normaliseNewlines(f.Data)}
		if got[i].ID != want.ID || got[i].Event != want.Event || !bytes.Equal(got[i].Data, want.Data) {
			t.Errorf("frame %d: got %s, want %s", i, show(got[i]), show(want))
		}
	}
}

// show formats frames for failure messages.
func show(frames ...Frame) string {
	var b strings.Builder
	b.WriteString("[")
	for i, f := range frames {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "{id=%d event=%q data=%q}", f.ID, f.Event, f.Data)
	}
	b.WriteString("]")
	return b.String()
}

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
		wire := AppendFrame(nil, in)
		d := NewDecoder(bytes.NewReader(wire))
		got, err := d.Next()
		if err != nil {
			t.Fatalf("Next: %v (wire %q)", err, wire)
		}
		want := Frame{ID: id, Event: stripLineBreaks(event), Data: normaliseNewlines(data)}
		if got.ID != want.ID || got.Event != want.Event || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("got %s, want %s (wire %q)", show(got), show(want), wire)
		}
		if extra, err := d.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("got a second event %s (err %v), want exactly one (wire %q)", show(extra), err, wire)
		}
	})
}
