package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"strings"
	"testing"

	"hostelhub/handlers/webtest"
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
	if cfg.Addr != "127.0.0.1:8080" || cfg.DatabaseURL != "hostelhub.db" || cfg.LogFormat != "text" || cfg.MetricsAddr != "" {
		t.Errorf("defaults: got %+v", cfg)
	}
	cfg, _ = parseConfig(flag.NewFlagSet("t", flag.ContinueOnError), nil, env(map[string]string{"DEMO": "1", "METRICS_ADDR": "127.0.0.1:9100"}))
	if cfg.MetricsAddr != "127.0.0.1:9100" {
		t.Errorf("METRICS_ADDR: got %q", cfg.MetricsAddr)
	}
	cfg, _ = parseConfig(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-metrics-addr", "10.0.0.1:9100"}, env(map[string]string{"DEMO": "1", "METRICS_ADDR": "127.0.0.1:9100"}))
	if cfg.MetricsAddr != "10.0.0.1:9100" {
		t.Errorf("-metrics-addr: got %q, want the flag's", cfg.MetricsAddr)
	}
}

func TestDemoModeFillsAnEmptyDatabaseOnce(t *testing.T) {
	cfg := testConfig(t)
	a := startApp(t, cfg)
	for _, want := range []string{"admin@demo.test", "warden3@demo.test", "student1@demo.test", `password "demo"`} {
		if !strings.Contains(a.Out.String(), want) {
			t.Errorf("demo start did not print %q:\n%s", want, a.Out)
		}
	}
	webtest.WantStatus(t, a.login("warden2@demo.test").Get("/issues"), http.StatusOK)

	// A second start on the same database keeps its data.
	if again := startApp(t, cfg); !strings.Contains(again.Out.String(), "already has data") {
		t.Errorf("second demo start: got %q", again.Out)
	}
}

func TestUserAddFromTheCommandLine(t *testing.T) {
	cfg := testConfig(t, withoutDemo())
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
	c := startApp(t, cfg).client()
	c.SignIn("head@college.edu", "a long password")
	res := c.Get("/hostels")
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "Nilgiri") {
		t.Errorf("management's hostels page: got %d", res.StatusCode)
	}
}
