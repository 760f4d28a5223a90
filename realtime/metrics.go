package realtime

import "github.com/prometheus/client_golang/prometheus"

const metricPrefix = "hostelhub_realtime_"

// collector reads the hub's and follower's counters at scrape time, so the
// delivery path pays nothing for metrics beyond its own atomic adds.
type collector struct {
	hub      *Hub
	follower *Follower

	subscribers, events, deliveries, dropped, renderErrors *prometheus.Desc
	lastID, sourceErrors                                   *prometheus.Desc
}

// NewCollector returns a Prometheus collector for hub and, if not nil, its
// follower; register it once, e.g. reg.MustRegister(NewCollector(hub, f)).
func NewCollector(hub *Hub, follower *Follower) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(metricPrefix+name, help, nil, nil)
	}
	return &collector{
		hub:          hub,
		follower:     follower,
		subscribers:  d("subscribers", "Open event streams (hub subscriptions)."),
		events:       d("events_total", "Events fanned out by the hub."),
		deliveries:   d("deliveries_total", "Events queued to streams, one per stream per event."),
		dropped:      d("dropped_slow_total", "Streams disconnected because their queue was full; they reconnect and replay."),
		renderErrors: d("render_errors_total", "Fragment renders that failed; that audience missed the event live."),
		lastID:       d("follower_last_event_id", "Id of the last event the follower handed to the hub."),
		sourceErrors: d("follower_source_errors_total", "Failed reads of the event table by the follower (retried)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.subscribers
	ch <- c.events
	ch <- c.deliveries
	ch <- c.dropped
	ch <- c.renderErrors
	if c.follower != nil {
		ch <- c.lastID
		ch <- c.sourceErrors
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.CounterValue, float64(st.Delivered))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(c.renderErrors, prometheus.CounterValue, float64(st.RenderErrors))
	if c.follower != nil {
		ch <- prometheus.MustNewConstMetric(c.lastID, prometheus.GaugeValue, float64(c.follower.LastID()))
		ch <- prometheus.MustNewConstMetric(c.sourceErrors, prometheus.CounterValue, float64(c.follower.SourceErrors()))
	}
}
