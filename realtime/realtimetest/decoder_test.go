package realtimetest

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

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
					t.Errorf("frames: got %s, want %s", fmt.Sprint(got), fmt.Sprint(tt.want))
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

// show formats frames for failure messages.
