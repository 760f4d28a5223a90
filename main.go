// Command hostelhub is a hostel issue desk: students report problems,
// wardens work a page that updates itself, management reads one dashboard.
//
//	hostelhub [flags]              serve (the default)
//	hostelhub user add [flags]     add an account; the password is read from standard input
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"hostelhub/handlers"
	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/cache"
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

	passwordCost int // bcrypt cost; 0 is bcrypt's default (tests lower it)
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
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", ""), "text or json (LOG_FORMAT); default text in demo mode, json otherwise")
	grace, err := time.ParseDuration(env("SHUTDOWN_GRACE", "10s"))
	if err != nil {
		return c, fmt.Errorf("SHUTDOWN_GRACE: %w", err)
	}
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", grace, "how long in-flight requests may take to finish at shutdown (SHUTDOWN_GRACE)")
	if err := fs.Parse(args); err != nil {
		return c, err
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
	logger := newLogger(cfg.LogFormat, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := newApp(ctx, cfg, logger, stdout)
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

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// app is a running hostelhub: the store, the event path out of it (the
// follower feeding the hub and the dashboard cache), and the server.
type app struct {
	cfg      config
	logger   *slog.Logger
	store    *store.Store
	redis    redis.UniversalClient // nil without REDIS_URL
	hub      *realtime.Hub
	follower *realtime.Follower
	cache    *cache.Cache // the dashboard's
	notify   chan int64   // the newest committed event id, for other instances; nil without Redis
	server   *http.Server
}

// newApp opens the database (filling it in demo mode), connects to Redis
// when told to, and wires the one path every change takes: store commit →
// event → follower → hub (streams), dashboard cache, and the sessions and
// accounts the store keeps in memory.
func newApp(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) (*app, error) {
	a := &app{cfg: cfg, logger: logger}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Logger: logger, OnCommit: a.committed, PasswordCost: cfg.passwordCost})
	if err != nil {
		return nil, err
	}
	a.store = st
	if cfg.Demo {
		if err := a.seedDemo(ctx, stdout); err != nil {
			st.Close()
			return nil, err
		}
	}
	epoch, err := st.Epoch(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	latest, err := st.LatestEventID(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	var transport realtime.Transport
	if cfg.RedisURL == "" {
		logger.Warn("no REDIS_URL: the dashboard cache and live events stay inside this one process; run one instance only")
	} else {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		a.redis = redis.NewClient(opts)
		transport = realtime.NewRedisTransport(a.redis, "hostelhub:"+epoch+":events", logger)
		if err := a.redis.Ping(ctx).Err(); err != nil {
			logger.Warn("Redis does not answer yet; serving without it until it does", "err", err)
		}
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dashboard := cache.New(cache.Options{Redis: a.redis, Prefix: "hostelhub:" + epoch + ":", Registerer: registry, Logger: logger})
	dashboard.Advance(latest)
	a.cache = dashboard
	// A stream writes straight to its socket, so a short queue is enough
	// to ride out a burst; one that overflows replays on reconnect.
	a.hub = realtime.NewHub(handlers.Fragments{Store: st}.Render, realtime.HubOptions{Logger: logger, QueueSize: 32})
	a.follower = realtime.NewFollower(handlers.EventSource{Store: st}, a.hub, transport, realtime.FollowerOptions{
		Logger: logger,
		// Every event, this instance's and others': the dashboard's
		// version moves on, and a session or account changed elsewhere
		// is forgotten here.
		OnMessage: func(m realtime.Message) {
			e := store.Event{ID: m.ID, Kind: store.EventKind(m.Kind), RefID: m.Ref}
			a.advanceDashboard(e.ID, e.Kind)
			st.Observe(e)
		},
	})
	registry.MustRegister(realtime.NewCollector(a.hub, a.follower))
	if transport != nil {
		a.notify = make(chan int64, 1)
		go a.notifyOthers(transport)
	}

	h := handlers.New(handlers.Options{
		Store:         st,
		Logger:        logger,
		Registry:      registry,
		Dashboard:     dashboard,
		Hub:           a.hub,
		Ready:         a.ready,
		Secure:        cfg.TLSCert != "",
		SessionSecret: []byte(cfg.SessionSecret),
	})
	a.server = &http.Server{
		Handler:           h.Echo(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second, // streams lift both for themselves
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	// Streams never go idle, so Shutdown alone would wait them out: end
	// them as it starts, and browsers reconnect to another instance.
	a.server.RegisterOnShutdown(a.hub.Close)
	return a, nil
}

// committed hears every commit: this instance's follower reads the new
// events at once, and other instances are told through Redis. It never
// blocks the request that committed.
func (a *app) committed(evs []store.Event) {
	// This instance's next dashboard is a miss at once, not when the
	// follower gets there: whoever made the change sees it. Other
	// instances advance from the same events as their followers read them.
	for _, e := range evs {
		a.advanceDashboard(e.ID, e.Kind)
	}
	id := evs[len(evs)-1].ID
	if a.follower != nil {
		a.follower.Wake(id)
	}
	// One waiting notification is enough: another instance reads every
	// event up to the newest, whichever id wakes it.
	select {
	case a.notify <- id:
	default:
	}
}

// advanceDashboard makes event id the dashboard's data version when an
// event of its kind can change a figure.
func (a *app) advanceDashboard(id int64, kind store.EventKind) {
	if a.cache != nil && kind.ChangesDashboard() {
		a.cache.Advance(id)
	}
}

func (a *app) notifyOthers(t realtime.Transport) {
	for id := range a.notify {
		if err := t.Notify(context.Background(), id); err != nil {
			a.logger.Warn("other instances not told of an event; they will find it within a second", "id", id, "err", err)
		}
	}
}

// The event log keeps what a reconnecting page could still replay: two days,
// and never fewer than the newest 10,000 events. A page that was away longer
// reloads instead.
const (
	keepEventsFor = 48 * time.Hour
	keepEvents    = 10_000
)

// housekeep deletes expired sessions and prunes the event log at start and
// every so often until ctx ends. Instances may all do it: each delete is
// idempotent.
func (a *app) housekeep(ctx context.Context, every time.Duration) {
	a.sweep(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.sweep(ctx)
		}
	}
}

func (a *app) sweep(ctx context.Context) {
	if err := a.store.Sessions([]byte(a.cfg.SessionSecret)).DeleteExpired(ctx); err != nil && ctx.Err() == nil {
		a.logger.Warn("deleting expired sessions", "err", err)
	}
	n, err := a.store.PruneEvents(ctx, time.Now().Add(-keepEventsFor), keepEvents)
	if err != nil && ctx.Err() == nil {
		a.logger.Warn("pruning the event log", "err", err)
	}
	if n > 0 {
		a.logger.Info("event log pruned", "deleted", n)
	}
}

// ready is /healthz: the database must answer. Redis is reported but is
// not required: without it this instance still serves everything.
func (a *app) ready(ctx context.Context) error {
	if err := a.store.Ping(ctx); err != nil {
		return err
	}
	if a.redis != nil {
		ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		defer cancel()
		if err := a.redis.Ping(ctx).Err(); err != nil {
			a.logger.Warn("healthz: Redis does not answer", "err", err)
		}
	}
	return nil
}

func (a *app) seedDemo(ctx context.Context, stdout io.Writer) error {
	empty, err := a.store.Empty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		fmt.Fprintln(stdout, "Demo mode: the database already has data; the demo accounts (password \"demo\") are those printed when it was filled.")
		return nil
	}
	accounts, err := a.store.Seed(ctx, store.SeedOptions{Hostels: 3, Issues: 600, Days: 90, Password: "demo", Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Demo mode: filled the database with 3 hostels and 600 issues over 90 days. Accounts, all with the password \"demo\":")
	for _, acc := range accounts {
		where := acc.Hostel
		if where == "" {
			where = "every hostel"
		}
		fmt.Fprintf(stdout, "  %-22s %-11s %s\n", acc.Email, acc.Role, where)
	}
	return nil
}

// Serve serves on ln until ctx ends, then shuts down within the grace period.
func (a *app) Serve(ctx context.Context, ln net.Listener) error {
	scheme := "http"
	if a.cfg.TLSCert != "" {
		scheme = "https"
	}
	a.logger.Info("hostelhub listening", "url", scheme+"://"+ln.Addr().String(), "database", a.store.Dialect())
	fctx, stopFollower := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		if err := a.follower.Run(fctx); err != nil {
			a.logger.Error("event follower stopped", "err", err)
		}
	}()
	defer func() {
		stopFollower()
		<-followed
	}()
	go a.housekeep(fctx, time.Hour)
	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCert != "" {
			errc <- a.server.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
		} else {
			errc <- a.server.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.logger.Info("shutting down", "grace", a.cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
	defer cancel()
	if err := a.server.Shutdown(sctx); err != nil {
		a.logger.Warn("shutdown: requests still running were cut", "err", err)
		a.server.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close releases what the app holds, after Serve has returned.
func (a *app) Close() error {
	a.hub.Close()
	if a.notify != nil {
		close(a.notify)
	}
	if a.redis != nil {
		a.redis.Close()
	}
	return a.store.Close()
}

// userAdd adds an account from the command line, for real deployments.
func userAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hostelhub user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", orDefault(getenv("DATABASE_URL"), "hostelhub.db"), "SQLite file path or postgres:// URL (DATABASE_URL)")
	email := fs.String("email", "", "the account's email (required)")
	name := fs.String("name", "", "the person's name (required)")
	role := fs.String("role", "", "student, warden or management (required)")
	room := fs.String("room", "", "a student's room")
	hostelList := fs.String("hostels", "", "comma-separated hostel names or ids: one for a student, one or more for a warden; a hostel named here that does not exist yet is created")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hostelhub user add -email E -name N -role R [-hostels H1,H2] [-room R] < password-file")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	r := store.Role(*role)
	switch {
	case *email == "" || *name == "":
		return errors.New("user add: -email and -name are required")
	case !r.Valid():
		return fmt.Errorf("user add: -role must be student, warden or management, not %q", *role)
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user add: reading the password: %w", err)
	}
	password = strings.TrimRight(password, "\r\n")
	if len(password) < 8 || len(password) > 72 {
		return errors.New("user add: the password (first line of standard input) must be 8 to 72 bytes")
	}
	st, err := store.Open(ctx, *dbURL, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	var hostelIDs []int64
	for _, ref := range strings.Split(*hostelList, ",") {
		if ref = strings.TrimSpace(ref); ref == "" {
			continue
		}
		id, err := st.HostelRef(ctx, ref)
		if err != nil {
			return fmt.Errorf("user add: hostel %q: %w", ref, err)
		}
		hostelIDs = append(hostelIDs, id)
	}
	switch {
	case r == store.Student && len(hostelIDs) != 1:
		return errors.New("user add: a student belongs to exactly one hostel (-hostels)")
	case r == store.Warden && len(hostelIDs) == 0:
		return errors.New("user add: a warden looks after at least one hostel (-hostels)")
	case r == store.Management && len(hostelIDs) > 0:
		return errors.New("user add: management sees every hostel; leave -hostels out")
	}
	id, err := st.CreateUser(ctx, store.NewUser{Email: *email, Name: *name, Password: password, Role: r, Room: *room, HostelIDs: hostelIDs})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s), user %d\n", *email, r, id)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
