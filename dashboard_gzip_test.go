package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The dashboard's page and JSON reach a client that takes gzip compressed,
// from a cache that compressed them once; unpacked, they are the very
// bytes a client without gzip gets.
func TestDashboardIsSentCompressed(t *testing.T) {
	// Both reads come from one cached body (the app's in-process cache):
	// rendered apart, the two would differ in the "as of" second.
	a := newTestApp(t)
	admin := a.login("admin@demo.test")
	admin.HTTP.Transport = &http.Transport{DisableCompression: true} // see the bytes as sent
	for _, path := range []string{"/dashboard", "/api/dashboard/summary"} {
		get := func(encoding string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, a.Base+path, nil)
			if encoding != "" {
				req.Header.Set("Accept-Encoding", encoding)
			}
			res, err := admin.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		plainRes := get("")
		plain, _ := io.ReadAll(plainRes.Body)
		plainRes.Body.Close()
		for _, enc := range []string{"gzip", "gzip, deflate, br, zstd"} {
			res := get(enc)
			z, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("GET %s with %q: %d, Content-Encoding %q", path, enc, res.StatusCode, res.Header.Get("Content-Encoding"))
			}
			if x := res.Header.Get("X-Cache"); x != "HIT" {
				t.Errorf("GET %s with %q: X-Cache %q after a plain read, want HIT", path, enc, x)
			}
			if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept-Encoding") ||
				!strings.Contains(strings.Join(plainRes.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("GET %s: no Vary: Accept-Encoding", path)
			}
			if n, _ := strconv.Atoi(res.Header.Get("Content-Length")); n != len(z) {
				t.Errorf("GET %s: Content-Length %d, body %d bytes", path, n, len(z))
			}
			zr, err := gzip.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			got, err := io.ReadAll(zr) // checks the CRC and the length
			if err != nil {
				t.Fatalf("GET %s: gunzip: %v", path, err)
			}
			if !bytes.Equal(got, plain) {
				i := 0
				for i < len(got) && i < len(plain) && got[i] == plain[i] {
					i++
				}
				lo, hi := max(i-80, 0), min(i+80, len(got), len(plain))
				t.Errorf("GET %s: gunzipped %d bytes differ from the plain %d at byte %d:\n%s\n---\n%s", path, len(got), len(plain), i, got[lo:hi], plain[lo:hi])
			}
			if len(z) >= len(plain)/2 {
				t.Errorf("GET %s: %d bytes compressed of %d", path, len(z), len(plain))
			}
			t.Logf("GET %s: %d bytes plain, %d gzip", path, len(plain), len(z))
		}
	}
}
