package cache

import (
	"hostelhub/store/redisguard"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the collectors. The labelled children are resolved once, so
// the hit path does one atomic add.
type metrics struct {
	hitMemory      prometheus.Counter
	hitRedis       prometheus.Counter
	misses         prometheus.Counter
	renders        prometheus.Counter
	renderErrors   prometheus.Counter
	renderSeconds  prometheus.Observer
	redisGetErrors prometheus.Counter
	redisSetErrors prometheus.Counter
}

// newMetrics makes the metrics of the cache called name: hostelhub_{name}_cache_….
func newMetrics(name string, reg prometheus.Registerer) *metrics {
	metricPrefix := "hostelhub_" + name + "_cache_"
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "hits_total",
		Help: "Cache hits, by tier (memory: in-process copy; redis: shared copy).",
	}, []string{"tier"})
	misses := prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricPrefix + "misses_total",
		Help: "Cache lookups that had to wait for a render (their own or a concurrent one), or failed.",
	})
	renders := prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricPrefix + "renders_total",
		Help: "Renders started by the cache (at most one per version and variant at a time per instance).",
	})
	renderErrors := prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricPrefix + "render_errors_total",
		Help: "Renders that returned an error or panicked; nothing was cached.",
	})
	renderSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricPrefix + "render_seconds",
		Help:    "Time spent rendering on a cache miss.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	redisErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "redis_errors_total",
		Help: "Redis calls of the cache that failed or timed out, by operation; the fragment was served anyway.",
	}, []string{"op"})

	if reg != nil {
		hits = redisguard.Register(reg, hits)
		misses = redisguard.Register(reg, misses)
		renders = redisguard.Register(reg, renders)
		renderErrors = redisguard.Register(reg, renderErrors)
		renderSeconds = redisguard.Register(reg, renderSeconds)
		redisErrors = redisguard.Register(reg, redisErrors)
	}
	return &metrics{
		hitMemory:      hits.WithLabelValues("memory"),
		hitRedis:       hits.WithLabelValues("redis"),
		misses:         misses,
		renders:        renders,
		renderErrors:   renderErrors,
		renderSeconds:  renderSeconds,
		redisGetErrors: redisErrors.WithLabelValues("get"),
		redisSetErrors: redisErrors.WithLabelValues("set"),
	}
}
