package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"hostelhub/handlers"
	"hostelhub/realtime"
	"hostelhub/store"
	"hostelhub/store/cache"
	"hostelhub/store/limits"
)

// app is a running hostelhub: the store, the one path every change takes
// out of it, and the server.
//
// The path: a handler changes rows through the store, which appends an
// event row in the same transaction. After the commit,
//
//   - committed runs on this instance, at once: its dashboard moves on,
//     so whoever made the change sees it on their next page; its follower
//     is woken; other instances are told, through Redis.
//   - observe runs on every instance, for every event in id order, as its
//     follower reads the event log: sessions and accounts kept in memory
//     are forgotten, the dashboard moves on, and the hub renders the event
//     once per audience and queues it to the streams that may see it.
//
// Handlers never touch the cache, the memory or the streams by hand.
type app struct {
	cfg        config
	logger     *slog.Logger
	requestLog io.Writer // request lines, when the logger writes JSON
	store      *store.Store
	redis      redis.UniversalClient // nil without REDIS_URL
	dashboard  *cache.Cache
	limits     *limits.Backend // the per-user and sign-in limits' counts
	hub        *realtime.Hub
	web        *handlers.Handler
	follower   *realtime.Follower
	following  chan struct{} // closed once the follower knows where it starts
	notify     chan int64    // the newest committed event id, for other instances; nil without Redis
	server     *http.Server

	// With METRICS_ADDR, /metrics is served on an address of its own,
	// for a scraper that signs in to nothing; the app's own has none.
	metricsListener net.Listener // nil without METRICS_ADDR
	metricsServer   *http.Server
}

// newApp opens the database (filling it in demo mode), connects to Redis
// when told to, and wires the path.
func newApp(ctx context.Context, cfg config, logs logs, stdout io.Writer) (*app, error) {
	a := &app{cfg: cfg, logger: logs.logger, requestLog: logs.requests}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Logger: a.logger, OnCommit: a.committed, PasswordCost: cfg.passwordCost})
	if err != nil {
		return nil, err
	}
	a.store = st
	if err := a.start(ctx, stdout); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) start(ctx context.Context, stdout io.Writer) error {
	if a.cfg.Demo {
		if err := seedDemo(ctx, a.store, stdout); err != nil {
			return err
		}
	}
	epoch, err := a.store.Epoch(ctx)
	if err != nil {
		return err
	}
	latest, err := a.store.LatestEventID(ctx)
	if err != nil {
		return err
	}
	var transport realtime.Transport
	if a.cfg.RedisURL == "" {
		a.logger.Warn("no REDIS_URL: the dashboard cache, live events and limits stay inside this one process; run one instance only")
	} else {
		opts, err := redis.ParseURL(a.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		a.redis = redis.NewClient(opts)
		transport = realtime.NewRedisTransport(a.redis, "hostelhub:"+epoch+":events", a.logger)
		if err := a.redis.Ping(ctx).Err(); err != nil {
			a.logger.Warn("Redis does not answer yet; serving without it until it does", "err", err)
		}
		a.notify = make(chan int64, 1)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.dashboard = cache.New(cache.Options{Name: "dashboard", Redis: a.redis, Prefix: "hostelhub:" + epoch + ":", Registerer: registry, Logger: a.logger})
	a.dashboard.Advance(latest)
	a.limits = limits.New(limits.Options{Redis: a.redis, Prefix: "hostelhub:" + epoch + ":limits:", Timeout: a.cfg.limitsTimeout,
		Registerer: registry, Logger: a.logger})
	// A stream writes straight to its socket, so a short queue is enough
	// to ride out a burst; one that overflows replays on reconnect.
	queue := a.cfg.streamQueue
	if queue == 0 {
		queue = 32
	}
	a.hub = realtime.NewHub(realtime.HubOptions{Logger: a.logger, QueueSize: queue})
	a.web = handlers.New(handlers.Options{
		Store:            a.store,
		Logger:           a.logger,
		RequestLog:       a.requestLog,
		Registry:         registry,
		MetricsElsewhere: a.cfg.MetricsAddr != "",
		Dashboard:        a.dashboard,
		Hub:              a.hub,
		Heartbeat:        a.cfg.streamHeartbeat,
		SessionLifetime:  a.cfg.sessionLifetime,
		Ready:            a.ready,
		Secure:           a.cfg.TLSCert != "",
		SessionSecret:    []byte(a.cfg.SessionSecret),
		Limits:           a.cfg.Limits,
		LimitBackend:     a.limits,
	})
	a.following = make(chan struct{})
	a.follower = realtime.NewFollower(a.store, a.observe, transport, realtime.FollowerOptions{Logger: a.logger,
		OnStart: func(id int64) { a.hub.Seen(id); close(a.following) }})
	registry.MustRegister(realtime.NewCollector(a.hub, a.follower))
	if transport != nil {
		go a.notifyOthers(transport)
	}

	a.server = &http.Server{
		Handler:           a.web.Echo(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second, // streams lift both for themselves
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	// Streams never go idle, so Shutdown alone would wait them out: end
	// them as it starts, and browsers reconnect to another instance.
	a.server.RegisterOnShutdown(a.hub.Close)

	if a.cfg.MetricsAddr != "" {
		// Listened on now, so that an address in use stops the start.
		if a.metricsListener, err = net.Listen("tcp", a.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.web.Metrics())
		a.metricsServer = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		}
	}
	return nil
}

// committed hears this instance's commits, with the events each appended.
// It never blocks the request that committed.
func (a *app) committed(evs []store.Event) {
	// A stated choice: this instance's dashboard moves on now, not when the
	// follower gets there, so that whoever made the change sees it on
	// their next view. Other instances move on in observe.
	for _, e := range evs {
		a.advanceDashboard(e)
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

// observe is every committed event, this instance's and others', in id
// order, as this instance's follower reads it from the log.
func (a *app) observe(ctx context.Context, e store.Event) {
	a.store.Forget(e) // sessions and accounts kept in memory
	a.advanceDashboard(e)
	a.hub.Deliver(ctx, e, a.web.Frames) // the streams, each audience's frames rendered once
}

// advanceDashboard makes e's id the dashboard's data version when e can
// change a figure.
func (a *app) advanceDashboard(e store.Event) {
	if a.dashboard != nil && e.Kind.ChangesDashboard() {
		a.dashboard.Advance(e.ID)
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
	if err := a.store.DeleteExpiredSessions(ctx); err != nil && ctx.Err() == nil {
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
	if a.metricsServer != nil {
		a.logger.Info("metrics listening", "url", "http://"+a.metricsListener.Addr().String()+"/metrics")
		go func() {
			if err := a.metricsServer.Serve(a.metricsListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("metrics server stopped", "err", err)
			}
		}()
	}
	// A stream replays up to where the hub starts (Hub.Seen): serve once
	// the follower knows where that is.
	select {
	case <-a.following:
	case <-ctx.Done():
		if a.metricsServer != nil {
			a.metricsServer.Close()
		}
		return nil
	}
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
	// The metrics last as long as the requests, so a shutdown can be watched.
	if a.metricsServer != nil && a.metricsServer.Shutdown(sctx) != nil {
		a.metricsServer.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close releases what the app holds, after Serve has returned.
func (a *app) Close() error {
	if a.metricsListener != nil {
		a.metricsServer.Close()
		a.metricsListener.Close() // in case it was never served
	}
	if a.hub != nil {
		a.hub.Close()
	}
	if a.notify != nil {
		close(a.notify)
	}
	if a.limits != nil {
		a.limits.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
	return a.store.Close()
}
