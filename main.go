// Command hostelhub is a hostel issue desk: students report problems,
// wardens work a page that updates itself, management reads one dashboard.
//
//	hostelhub [flags]              serve (the default)
//	hostelhub user add [flags]     add an account; the password is read from standard input
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"hostelhub/handlers"
)

// demoSecret keys sessions in demo mode, which is for a laptop only.
const demoSecret = "hostelhub demo mode: not a secret"

// config is everything hostelhub is told at start, by flag or environment.
type config struct {
	Addr          string
	DatabaseURL   string
	RedisURL      string
	SessionSecret string
	Demo          bool
	TLSCert       string
	TLSKey        string
	LogFormat     string
	ShutdownGrace time.Duration
	MetricsAddr   string          // where /metrics is served on its own; empty: on Addr, to management
	Limits        handlers.Limits // per user: writes per hour, streams open at once

	// Not settings: what tests change, left zero in a deployment.
	passwordCost    int           // bcrypt cost; 0 is bcrypt's default (tests lower it)
	streamHeartbeat time.Duration // a stream's longest silence; 0 is the handlers' default (tests shorten it)
	streamQueue     int           // each stream's queue; 0 is app.go's default (tests shrink it)
	limitsTimeout   time.Duration // bounds each Redis call of the limits; 0 is store/limits' default (tests of sharing lengthen it)
	testLog         io.Writer     // where the app logs JSON; nil: tests log nowhere
	sessionLifetime time.Duration // how long a sign-in lasts; 0 is the handlers' default (tests shorten it)
}

// parseConfig reads flags, each defaulting to its environment variable.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "address to listen on (ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", "hostelhub.db"), "SQLite file path or postgres:// URL (DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("REDIS_URL", ""), "Redis URL for the shared cache and events across instances (REDIS_URL); empty: in process")
	fs.StringVar(&c.SessionSecret, "session-secret", env("SESSION_SECRET", ""), "secret that keys session ids, at least 32 characters (SESSION_SECRET); required unless -demo")
	demo, _ := strconv.ParseBool(env("DEMO", "false"))
	fs.BoolVar(&c.Demo, "demo", demo, "demo mode: fill an empty database with demo hostels, issues and accounts (DEMO)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("TLS_CERT", ""), "TLS certificate file; with -tls-key, serve HTTPS and HTTP/2 (TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("TLS_KEY", ""), "TLS key file (TLS_KEY)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("METRICS_ADDR", ""), "address to serve /metrics on, for a scraper (METRICS_ADDR); empty: /metrics on -addr, for management only")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", ""), "text or json (LOG_FORMAT); default text in demo mode, json otherwise")
	grace, err := time.ParseDuration(env("SHUTDOWN_GRACE", "10s"))
	if err != nil {
		return c, fmt.Errorf("SHUTDOWN_GRACE: %w", err)
	}
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", grace, "how long in-flight requests may take to finish at shutdown (SHUTDOWN_GRACE)")
	limitSpec := fs.String("limits", env("LIMITS", ""), "the most one user may write per hour, by kind, and hold open as streams (LIMITS); kinds not named keep their default, "+handlers.DefaultLimits().String())
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Limits, err = handlers.ParseLimits(*limitSpec); err != nil {
		return c, fmt.Errorf("LIMITS: %w", err)
	}
	if c.SessionSecret == "" {
		if !c.Demo {
			return c, errors.New("SESSION_SECRET is required outside demo mode (at least 32 random characters; try: head -c 32 /dev/urandom | base64)")
		}
		c.SessionSecret = demoSecret
	}
	if len(c.SessionSecret) < 32 && !c.Demo {
		return c, errors.New("SESSION_SECRET must be at least 32 characters")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("TLS_CERT and TLS_KEY go together: set both or neither")
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
		if c.Demo {
			c.LogFormat = "text"
		}
	}
	return c, nil
}

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// hostelhub's heap is small and its requests allocate a few KB each: at
// Go's default of 100 % a cached dashboard hit spends a quarter of its
// CPU on collection. 400 % trades some memory for that CPU; GOMEMLIMIT,
// when set, still bounds the heap.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hostelhub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) >= 2 && args[0] == "user" && args[1] == "add" {
		return userAdd(ctx, args[2:], getenv, stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("hostelhub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	logs, logBuf := newLogs(cfg.LogFormat, stderr)
	defer logBuf.Close()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := newApp(ctx, cfg, logs, stdout)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	return app.Serve(ctx, ln)
}
