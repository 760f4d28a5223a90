package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// requestMetrics counts requests as echoprometheus would count them for
// hostelhub (hostelhub_http_requests_total, _request_duration_seconds,
// _request_size_bytes and _response_size_bytes, by code, method, host and
// route; the host is the client's to choose, so it is always empty), but
// finds each label set's four series once and keeps them, rather than
// hashing the labels four times on every request.
type requestMetrics struct {
	count                      *prometheus.CounterVec
	duration, reqSize, resSize *prometheus.HistogramVec
	series                     sync.Map // seriesKey → *series
}

type seriesKey struct {
	code          int
	method, route string
}

type series struct {
	count                      prometheus.Counter
	duration, reqSize, resSize prometheus.Observer
}

// sizeBuckets run from 1 KB to 10 MB, as echoprometheus's do.
var sizeBuckets = []float64{1 << 10, 2 << 10, 5 << 10, 10 << 10, 100 << 10, 500 << 10, 1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	labels := []string{"code", "method", "host", "url"}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "hostelhub", Subsystem: "http", Name: name, Help: help}
	}
	hist := func(name, help string, buckets []float64) *prometheus.HistogramVec {
		o := opts(name, help)
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets}, labels)
	}
	m := &requestMetrics{
		count:    prometheus.NewCounterVec(prometheus.CounterOpts(opts("requests_total", "How many HTTP requests processed, partitioned by status code and HTTP method.")), labels),
		duration: hist("request_duration_seconds", "The HTTP request latencies in seconds.", prometheus.DefBuckets),
		reqSize:  hist("request_size_bytes", "The HTTP request sizes in bytes.", sizeBuckets),
		resSize:  hist("response_size_bytes", "The HTTP response sizes in bytes.", sizeBuckets),
	}
	reg.MustRegister(m.count, m.duration, m.reqSize, m.resSize)
	return m
}

// observe counts one answered request.
func (m *requestMetrics) observe(c echo.Context, reqSize int, elapsed time.Duration) {
	s := m.seriesOf(seriesKey{code: c.Response().Status, method: methodLabel(requestMethod(c)), route: c.Path()})
	s.count.Inc()
	s.duration.Observe(elapsed.Seconds())
	s.reqSize.Observe(float64(reqSize))
	s.resSize.Observe(float64(c.Response().Size))
}

func (m *requestMetrics) seriesOf(k seriesKey) *series {
	if s, ok := m.series.Load(k); ok {
		return s.(*series)
	}
	code := strconv.Itoa(k.code)
	s := &series{
		count:    m.count.WithLabelValues(code, k.method, "", k.route),
		duration: m.duration.WithLabelValues(code, k.method, "", k.route),
		reqSize:  m.reqSize.WithLabelValues(code, k.method, "", k.route),
		resSize:  m.resSize.WithLabelValues(code, k.method, "", k.route),
	}
	actual, _ := m.series.LoadOrStore(k, s)
	return actual.(*series)
}

// Metrics serves the app's metrics in Prometheus's formats: the route
// /metrics, for management, or on an address of its own (METRICS_ADDR).
func (h *Handler) Metrics() http.Handler {
	return promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{})
}

// methodLabel keeps the label set bounded whatever methods clients invent.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// approximateSize is a request's size as echoprometheus reckons it: the
// path, method, protocol, headers, host and body length.
func approximateSize(r *http.Request) int {
	n := len(r.URL.Path) + len(r.Method) + len(r.Proto) + len(r.Host)
	for name, values := range r.Header {
		n += len(name)
		for _, v := range values {
			n += len(v)
		}
	}
	if r.ContentLength > 0 {
		n += int(r.ContentLength)
	}
	return n
}
