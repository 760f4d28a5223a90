package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedWriter counts the writes that reach it.
type lockedWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *lockedWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

// Log lines are gathered into few writes, reach the output within the
// interval, keep their order, and none is lost at Close.
func TestLogBufferGathersLines(t *testing.T) {
	out := &lockedWriter{}
	b := newLogBuffer(out, 1<<10, 50*time.Millisecond)
	var want strings.Builder
	for i := range 200 {
		line := strings.Repeat("x", i%40) + "\n"
		want.WriteString(line)
		b.Write([]byte(line))
	}
	got, writes := out.state()
	if writes == 0 || writes > 10 {
		t.Errorf("%d writes for 200 lines of a 1 KB buffer; want a few, at once when full", writes)
	}
	waitUntil(t, time.Second, "the interval's flush", func() bool { s, _ := out.state(); return s == want.String() })
	b.Write([]byte("last\n"))
	b.Close()
	if got, _ = out.state(); got != want.String()+"last\n" {
		t.Errorf("after Close: %d bytes, want %d", len(got), want.Len()+5)
	}
	b.Write([]byte("after\n")) // straight through once closed
	if got, _ = out.state(); !strings.HasSuffix(got, "after\n") {
		t.Error("a line after Close was held back")
	}
}
