package main

// The streams and the reporter of BenchmarkSSEFanout (bench_sse_test.go):
// many streams read with little work each, and one student reporting at a
// steady rate.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"hostelhub/handlers/webtest"
	"hostelhub/realtime/realtimetest"
)

// sseUser is one signed-in user, whose session many streams share (many tabs).
type sseUser struct {
	email  string
	hostel int
	cookie string // Cookie header: session and CSRF cookies
	csrf   string
}

// sseSignIn signs in like a browser and returns the cookies to share.
func sseSignIn(b *testing.B, base, email string, hostel int) sseUser {
	c := webtest.NewClient(b, base)
	c.SignIn(email, ssePassword)
	u := sseUser{email: email, hostel: hostel, csrf: c.CSRF()}
	baseURL, _ := url.Parse(base)
	var parts []string
	for _, ck := range c.HTTP.Jar.Cookies(baseURL) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	u.cookie = strings.Join(parts, "; ")
	if !strings.Contains(u.cookie, "hostelhub_session=") {
		b.Fatalf("sse: sign in as %s: cookies %q", email, u.cookie)
	}
	return u
}

// sseWarmRequest GETs a page, or opens a stream and reads its first bytes.
func sseWarmRequest(c *http.Client, url, cookie string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Cookie", cookie)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", res.Status)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		_, err = res.Body.Read(make([]byte, 64))
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	return err
}

// open opens one stream and starts its reader; it returns once the
// response headers are in, i.e. once the server has subscribed it.
func (r *sseRun) open(ctx context.Context, s *sseStream, url, cookie string) error {
	sctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return err
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	res, err := r.client.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 1 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		res.Body.Close()
		cancel()
		return fmt.Errorf("GET %s: %s %s %q", req.URL.Path, res.Proto, res.Status, body)
	}
	s.opened.Store(true)
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		defer cancel()
		var err error
		if r.decoder {
			err = r.readDecoder(s, res.Body)
		} else {
			err = r.readScan(s, res.Body)
		}
		res.Body.Close()
		s.err = err
		s.closed.Store(true)
	}()
	return nil
}

var (
	sseNewIssueLine = []byte("\nevent: new_issue\n")
	sseFrameEnd     = []byte("\n\n")
	sseMarkerBytes  = []byte(sseMarker)
	sseHeartbeatEnd = []byte("heartbeat\n")
)

// readScan splits the stream into frames at blank lines (the server ends
// every line with LF) and looks only at new_issue frames: no per-byte work
// and no allocation per frame.
func (r *sseRun) readScan(s *sseStream, body io.Reader) error {
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		now := r.now()
		if n > 0 {
			fresh := buf[len(buf) : len(buf)+n]
			if c := bytes.Count(fresh, sseHeartbeatEnd); c > 0 {
				r.heartbeats.Add(int64(c))
			}
			buf = buf[:len(buf)+n]
			start := 0
			for {
				end := bytes.Index(buf[start:], sseFrameEnd)
				if end < 0 {
					break
				}
				frame := buf[start : start+end+1]
				start += end + 2
				if bytes.HasPrefix(frame, sseNewIssueLine[1:]) || bytes.Contains(frame, sseNewIssueLine) {
					r.record(s, frame, now)
				}
			}
			buf = buf[:copy(buf, buf[start:])]
		}
		if err != nil {
			return err
		}
	}
}

// readDecoder reads with realtimetest.Decoder, as a browser would.
func (r *sseRun) readDecoder(s *sseStream, body io.Reader) error {
	dec := realtimetest.NewDecoder(body)
	dec.OnComment = func(text string) {
		if text == "heartbeat" {
			r.heartbeats.Add(1)
		}
	}
	for {
		f, err := dec.Next()
		if err != nil {
			return err
		}
		if f.Event == "new_issue" {
			r.record(s, f.Data, r.now())
		}
	}
}

// record matches a new_issue frame to its report by the marker in the title.
func (r *sseRun) record(s *sseStream, data []byte, now int64) {
	i := bytes.Index(data, sseMarkerBytes)
	if i < 0 {
		s.foreign++
		return
	}
	seq, j := 0, i+len(sseMarkerBytes)
	for ; j < len(data) && data[j] >= '0' && data[j] <= '9'; j++ {
		seq = seq*10 + int(data[j]-'0')
	}
	if j == i+len(sseMarkerBytes) || seq >= len(r.sendAt) || seq%sseHostels != s.hostel-1 {
		s.foreign++
		return
	}
	sent := r.sendAt[seq].Load()
	k := seq / sseHostels
	if sent == 0 || k >= len(s.lat) {
		s.foreign++
		return
	}
	if s.lat[k] != 0 {
		s.dups++
		return
	}
	s.lat[k] = int32(min((now-sent)/1000, math.MaxInt32-1)) + 1
	r.received.Add(1)
}

func (r *sseRun) countOpen() int {
	n := 0
	for _, s := range r.streams {
		if s.opened.Load() && !s.closed.Load() {
			n++
		}
	}
	return n
}

// report POSTs total issues at a steady rate from one goroutine, hostel
// i%3+1 for report i, as that hostel's student, through the JSON API.
func (r *sseRun) report(users [sseHostels][]sseUser, total int, rate float64) ([]time.Duration, *sseErrors) {
	var reporters [sseHostels]sseUser
	for h := range users {
		for _, u := range users[h] {
			if strings.HasPrefix(u.email, "student") {
				reporters[h] = u
			}
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	defer client.CloseIdleConnections()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	durs := make([]time.Duration, 0, total)
	errs := &sseErrors{}
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		u := reporters[i%sseHostels]
		body := fmt.Sprintf(`{"title":"Load test %s%06d","description":"Reported by the SSE load benchmark.","category":"electrical","priority":"normal","location":"Block %d"}`,
			sseMarker, i, i%sseHostels+1)
		req, _ := http.NewRequest(http.MethodPost, r.base+"/api/issues", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", u.csrf)
		req.Header.Set("Cookie", u.cookie)
		sent := time.Now()
		r.sendAt[i].Store(int64(sent.Sub(r.t0)))
		res, err := client.Do(req)
		if err != nil {
			errs.add(err)
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		res.Body.Close()
		durs = append(durs, time.Since(sent))
		r.postDur[i] = int32(time.Since(sent).Microseconds())
		if res.StatusCode != http.StatusCreated {
			errs.add(fmt.Errorf("POST /api/issues: %s %.200s", res.Status, msg))
			continue
		}
		r.postOK[i] = true
	}
	return durs, errs
}

// sseRaiseFileLimit raises RLIMIT_NOFILE to the hard limit (the server,
// started later, inherits it) and lowers n if even that is too few: each
// process needs a descriptor per stream and some to spare.
func sseRaiseFileLimit(n int) (int, string) {
	const spare = 256
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n, fmt.Sprintf("cannot read the file-descriptor limit (%v); keeping N=%d", err, n)
	}
	soft := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n, fmt.Sprintf("cannot raise the file-descriptor limit from %d to %d (%v); keeping N=%d", soft, lim.Max, err, n)
	}
	note := fmt.Sprintf("file descriptors: soft limit %d raised to the hard limit %d (inherited by the server)", soft, lim.Max)
	if need := uint64(n + spare); need > lim.Max {
		was := n
		n = max(int(lim.Max)-spare, sseHostels)
		note += fmt.Sprintf("; N=%d needs %d per process: N LOWERED TO %d", was, need, n)
	} else {
		note += fmt.Sprintf("; N=%d needs about %d per process: enough", n, need)
	}
	return n, note
}

func ssePortRange() (int, int, error) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, errors.New("unexpected ip_local_port_range")
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, errors.Join(err1, err2)
}
