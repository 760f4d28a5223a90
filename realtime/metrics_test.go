package realtime

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	src := &memSource{}
	src.Append(1, "old", 0)
	hub := NewHub(HubOptions{QueueSize: 1, Logger: quietLog})
	defer hub.Close()
	f := NewFollower(src, deliverTo(hub, renderText), nil, FollowerOptions{PollInterval: 5 * time.Millisecond, Logger: quietLog})
	runFollower(t, f)
	eventually(t, 5*time.Second, "follower start", func() bool { return f.LastID() == 1 })
	subscribe(hub, []int64{1}, "student") // never reads: dropped at the second event
	subscribe(hub, []int64{2}, "student")
	src.Append(1, "new_issue", 0)
	src.Append(1, "new_issue", 0)
	eventually(t, 5*time.Second, "delivery", func() bool { return f.LastID() == 3 })

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(hub, f))
	got := gather(t, reg)
	want := map[string]float64{
		"hostelhub_realtime_subscribers":                  1,
		"hostelhub_realtime_events_total":                 2,
		"hostelhub_realtime_deliveries_total":             1,
		"hostelhub_realtime_dropped_slow_total":           1,
		"hostelhub_realtime_render_errors_total":          0,
		"hostelhub_realtime_follower_last_event_id":       3,
		"hostelhub_realtime_follower_source_errors_total": 0,
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s: got %v (present %v), want %v", name, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d metrics, want %d: %v", len(got), len(want), got)
	}

	// Without a follower, only the hub's.
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(NewCollector(hub, nil))
	if got := gather(t, reg2); len(got) != 5 {
		t.Errorf("hub only: got %d metrics, want 5: %v", len(got), got)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
