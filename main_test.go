package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigRefusesInsecureDefaults(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"no secret outside demo", nil, nil, "SESSION_SECRET is required"},
		{"short secret", map[string]string{"SESSION_SECRET": "short"}, nil, "at least 32 characters"},
		{"cert without key", map[string]string{"DEMO": "1", "TLS_CERT": "c.pem"}, nil, "TLS_CERT and TLS_KEY go together"},
		{"demo needs no secret", map[string]string{"DEMO": "1"}, nil, ""},
		{"flag beats variable", map[string]string{"ADDR": "0.0.0.0:1"}, []string{"-demo", "-addr", "127.0.0.1:9"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(flag.NewFlagSet("t", flag.ContinueOnError), tc.args, env(tc.env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if tc.args != nil && cfg.Addr != "127.0.0.1:9" {
					t.Errorf("got addr %q, want the flag's", cfg.Addr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
	cfg, _ := parseConfig(flag.NewFlagSet("t", flag.ContinueOnError), nil, env(map[string]string{"DEMO": "true"}))
	if cfg.Addr != "127.0.0.1:8080" || cfg.DatabaseURL != "hostelhub.db" || cfg.LogFormat != "text" {
		t.Errorf("defaults: got %+v", cfg)
	}
}

// startApp serves hostelhub on a free port until the test ends.
func startApp(t *testing.T, cfg config) (string, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	a, err := newApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return "http://" + ln.Addr().String(), &out
}

func testConfig(t *testing.T, demo bool) config {
	return config{Addr: "127.0.0.1:0", DatabaseURL: filepath.Join(t.TempDir(), "hostelhub.db"), Demo: demo,
		SessionSecret: "a test secret that is long enough..", LogFormat: "text", ShutdownGrace: 5 * time.Second,
		passwordCost: bcrypt.MinCost}
}

func TestDemoModeFillsAnEmptyDatabaseOnce(t *testing.T) {
	cfg := testConfig(t, true)
	base, out := startApp(t, cfg)
	for _, want := range []string{"admin@demo.test", "warden3@demo.test", "student1@demo.test", `password "demo"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo start did not print %q:\n%s", want, out)
		}
	}
	c := newClient()
	signIn(t, c, base, "warden2@demo.test", "demo")
	res, err := c.Get(base + "/issues")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("warden's list: %v %v", res.StatusCode, err)
	}
	res.Body.Close()

	// A second start on the same database keeps its data.
	_, out2 := startApp(t, cfg)
	if !strings.Contains(out2.String(), "already has data") {
		t.Errorf("second demo start: got %q", out2)
	}
}

func TestUserAddFromTheCommandLine(t *testing.T) {
	cfg := testConfig(t, false)
	getenv := env(map[string]string{"DATABASE_URL": cfg.DatabaseURL})
	var out, errOut bytes.Buffer
	run := func(stdin string, args ...string) error {
		out.Reset()
		return run(context.Background(), append([]string{"user", "add"}, args...), getenv, strings.NewReader(stdin), &out, &errOut)
	}
	if err := run("a long password\n", "-email", "Head@College.edu", "-name", "Head", "-role", "management"); err != nil {
		t.Fatal(err)
	}
	if err := run("warden password\n", "-email", "w@college.edu", "-name", "W", "-role", "warden", "-hostels", "Aravali, Nilgiri"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"short\n", []string{"-email", "s@college.edu", "-name", "S", "-role", "student", "-hostels", "Aravali"}, "8 to 72 bytes"},
		{"long enough\n", []string{"-email", "s@college.edu", "-name", "S", "-role", "student"}, "exactly one hostel"},
		{"long enough\n", []string{"-email", "s@college.edu", "-name", "S", "-role", "admin"}, "-role must be"},
		{"long enough\n", []string{"-email", "w@college.edu", "-name", "W", "-role", "warden", "-hostels", "Aravali"}, "already exists"},
	} {
		if err := run(bad.stdin, bad.args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("user add %v: got %v, want %q", bad.args, err, bad.want)
		}
	}
	base, _ := startApp(t, cfg)
	c := newClient()
	signIn(t, c, base, "head@college.edu", "a long password")
	res, err := c.Get(base + "/hostels")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "Nilgiri") {
		t.Errorf("management's hostels page: got %d", res.StatusCode)
	}
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// formToken is c's CSRF token for base: the value of the cookie that the
// first page sets, and that forms and the X-CSRF-Token header repeat.
func formToken(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for range 2 {
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "_csrf" {
				return ck.Value
			}
		}
		res, err := c.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	t.Fatal("no CSRF cookie from " + base)
	return ""
}

func signIn(t *testing.T, c *http.Client, base, email, password string) {
	t.Helper()
	res, err := c.PostForm(base+"/login", url.Values{"_csrf": {formToken(t, c, base)}, "email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: got %d, want 303", email, res.StatusCode)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
