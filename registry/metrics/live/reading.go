package live

import (
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/reverbd/reverbd/registry/metrics"
)

// reading is what one gathering of the metrics holds that the page shows.
type reading struct {
	at      time.Time
	version string
	started time.Time // the process's start, zero when unknown

	goroutines, memory, cpu float64 // cpu: process_cpu_seconds_total
	queueEvents, queueAge   float64
	queueKnown              bool // the queue's backlog could be read

	apps  map[string]*appReading
	order []string // app ids in the order gathered
}

// appReading is one app's values in a reading.
type appReading struct {
	connected                   float64
	connections, disconnects    float64
	messagesIn, messagesOut     float64
	bytesIn, bytesOut           float64
	delivered, stale, slow      float64
	delivery, queueWait, fanout histogram
	shapes                      map[shapeKey]*shapeReading
}

type shapeKey struct{ kind, shape string }

// shapeReading is one channel shape's values in a reading.
type shapeReading struct {
	channels, subscriptions, frames float64
}

// histogram is a Prometheus histogram's cumulative counts: counts[i] observations at most
// bounds[i], and the last count, of every observation, for the +Inf bucket.
type histogram struct {
	bounds []float64
	counts []float64 // len(bounds)+1
}

// read takes the page's values out of gathered families (named without the prefix).
func read(at time.Time, fams map[string]*dto.MetricFamily) *reading {
	r := &reading{at: at, apps: map[string]*appReading{}}
	app := func(m *dto.Metric) *appReading {
		id := label(m, "app_id")
		a := r.apps[id]
		if a == nil {
			a = &appReading{shapes: map[shapeKey]*shapeReading{}}
			r.apps[id] = a
			r.order = append(r.order, id)
		}
		return a
	}
	each(fams["connected"], func(m *dto.Metric) { app(m) }) // every app, in the order gathered

	perApp := map[string]func(*appReading) *float64{
		"connected":                  func(a *appReading) *float64 { return &a.connected },
		"new_connections_total":      func(a *appReading) *float64 { return &a.connections },
		"new_disconnections_total":   func(a *appReading) *float64 { return &a.disconnects },
		"ws_messages_received_total": func(a *appReading) *float64 { return &a.messagesIn },
		"ws_messages_sent_total":     func(a *appReading) *float64 { return &a.messagesOut },
		"socket_received_bytes":      func(a *appReading) *float64 { return &a.bytesIn },
		"socket_transmitted_bytes":   func(a *appReading) *float64 { return &a.bytesOut },
		"events_delivered_total":     func(a *appReading) *float64 { return &a.delivered },
		"events_stale_total":         func(a *appReading) *float64 { return &a.stale },
		"slow_consumers_total":       func(a *appReading) *float64 { return &a.slow },
	}
	for name, field := range perApp {
		each(fams[name], func(m *dto.Metric) { *field(app(m)) += value(m) })
	}
	perHistogram := map[string]func(*appReading) *histogram{
		"event_delivery_seconds": func(a *appReading) *histogram { return &a.delivery },
		"event_queue_seconds":    func(a *appReading) *histogram { return &a.queueWait },
		"event_fanout_seconds":   func(a *appReading) *histogram { return &a.fanout },
	}
	for name, field := range perHistogram {
		each(fams[name], func(m *dto.Metric) { field(app(m)).add(m.GetHistogram()) })
	}
	perShape := map[string]func(*shapeReading) *float64{
		"channels":                  func(s *shapeReading) *float64 { return &s.channels },
		"channel_subscriptions":     func(s *shapeReading) *float64 { return &s.subscriptions },
		"channel_frames_sent_total": func(s *shapeReading) *float64 { return &s.frames },
	}
	for name, field := range perShape {
		each(fams[name], func(m *dto.Metric) {
			a := app(m)
			k := shapeKey{label(m, "kind"), label(m, "shape")}
			s := a.shapes[k]
			if s == nil {
				s = &shapeReading{}
				a.shapes[k] = s
			}
			*field(s) += value(m)
		})
	}

	each(fams["queue_events"], func(m *dto.Metric) { r.queueEvents, r.queueKnown = value(m), true })
	each(fams["queue_oldest_event_age_seconds"], func(m *dto.Metric) { r.queueAge = value(m) })
	each(fams["go_goroutines"], func(m *dto.Metric) { r.goroutines = value(m) })
	each(fams["process_resident_memory_bytes"], func(m *dto.Metric) { r.memory = value(m) })
	each(fams["process_cpu_seconds_total"], func(m *dto.Metric) { r.cpu = value(m) })
	each(fams["process_start_time_seconds"], func(m *dto.Metric) {
		r.started = time.Unix(0, int64(value(m)*1e9))
	})
	each(fams["build_info"], func(m *dto.Metric) { r.version = label(m, "version") })
	return r
}

// shown reports whether the app belongs on the page: every configured app does; the
// metrics' "unknown" app only once something was counted for it.
func (r *reading) shown(id string) bool {
	if id != metrics.UnknownApp {
		return true
	}
	a := r.apps[id]
	return a.connections+a.messagesIn+a.messagesOut+a.delivered+a.stale > 0
}

// add sums a gathered histogram into h.
func (h *histogram) add(g *dto.Histogram) {
	if g == nil {
		return
	}
	if h.bounds == nil {
		for _, b := range g.GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
		}
		h.counts = make([]float64, len(h.bounds)+1)
	}
	for i, b := range g.GetBucket() {
		if i < len(h.bounds) {
			h.counts[i] += float64(b.GetCumulativeCount())
		}
	}
	h.counts[len(h.bounds)] += float64(g.GetSampleCount())
}

// each calls f with every metric of the family; a missing family has none.
func each(f *dto.MetricFamily, fn func(*dto.Metric)) {
	if f == nil {
		return
	}
	for _, m := range f.GetMetric() {
		fn(m)
	}
}

// label returns the value of the metric's label name, or "".
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value is a counter's, gauge's or untyped metric's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
