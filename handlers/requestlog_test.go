package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A request line appended by hand is, byte for byte, what slog's
// JSONHandler writes for the same record, whatever the URI holds.
func TestRequestLineIsSlogsJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 54, 59, 123456789, time.FixedZone("IST", 5*3600+1800))
	for _, uri := range []string{
		"/issues?q=tap&page=2",
		`/a"b\c`,
		"/tab\tnew\nline\rcr\x00\x1f\x7f",
		"/ünïcödé/€/😀",
		"/bad\xff\xfeutf8",
		"/line\u2028para\u2029sep",
		"",
	} {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
			r := requestLine{time: at, level: level, method: "GET", uri: uri, status: 404, latency: 1234567 * time.Nanosecond, requestID: "R3EV-b"}
			var want bytes.Buffer
			rec := slog.NewRecord(at, level, "request", 0)
			rec.AddAttrs(slog.String("method", r.method), slog.String("uri", r.uri), slog.Int("status", r.status),
				slog.Duration("latency", r.latency), slog.String("request_id", r.requestID))
			if err := slog.NewJSONHandler(&want, nil).Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if got := appendRequestLine(nil, r); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("uri %q:\ngot  %s\nwant %s", uri, got, want.Bytes())
			}
		}
	}
}

// A request line carries at most the first 512 bytes of a URI, however
// long the URI.
func TestLongURIsAreClippedInTheLog(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var log syncBuffer
			ts := newTestServer(t, func(o *testOptions) {
				if format == "json" {
					o.requestLog = &log
				} else {
					o.logger = slog.New(slog.NewTextHandler(&log, nil))
				}
			})
			long := "/issues?q=" + strings.Repeat("a", 60<<10)
			res := ts.client(t).Get(long)
			if res.StatusCode == http.StatusRequestURITooLong || res.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("the server refused the URI itself (%d): nothing to log", res.StatusCode)
			}
			var line string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "/issues?q=aaaa") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no request line for the long URI:\n%.1000s", log.String())
			}
			if len(line) > 1024 {
				t.Errorf("the request line is %d bytes, want at most 1 KB", len(line))
			}
			if !strings.Contains(line, strings.Repeat("a", 400)) {
				t.Errorf("the request line lost the URI's start: %s", line)
			}
		})
	}
}
