package main

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

// logs is where an app logs: its logger and, when that writes JSON, the
// writer request lines go straight to (handlers.Options.RequestLog).
type logs struct {
	logger   *slog.Logger
	requests io.Writer
}

// newLogs logs in format (json or text) to w, through a buffer: a busy
// instance writes a request line per request, and one write a line would
// cost a system call each. Close the buffer last.
func newLogs(format string, w io.Writer) (logs, *logBuffer) {
	buf := newLogBuffer(w, 32<<10, 100*time.Millisecond)
	if format == "json" {
		return logs{logger: slog.New(slog.NewJSONHandler(buf, nil)), requests: buf}, buf
	}
	return logs{logger: slog.New(slog.NewTextHandler(buf, nil))}, buf
}

// logBuffer gathers log lines and writes them out together: when size
// bytes are waiting, and at least every interval. Close writes what is
// left. A crash loses at most the lines of the last interval.
type logBuffer struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	size int
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer, size int, every time.Duration) *logBuffer {
	b := &logBuffer{w: w, buf: make([]byte, 0, size), size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(every)
	return b
}

// Write keeps p (slog writes one whole line per call) for the next flush.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.size {
		b.flushLocked()
	}
	if len(p) > b.size {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes out what is waiting.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) > 0 {
		b.w.Write(b.buf) // nowhere to report a failure to write the log
		b.buf = b.buf[:0]
	}
}

func (b *logBuffer) flushEvery(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			b.Flush()
			return
		case <-t.C:
			b.Flush()
		}
	}
}

// Close stops the flushing and writes what is left; later lines are
// written at once.
func (b *logBuffer) Close() error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
		<-b.done
	}
	b.mu.Lock()
	b.size = 0 // from now on every line goes straight out
	b.mu.Unlock()
	return nil
}
