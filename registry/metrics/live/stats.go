package live

import (
	"cmp"
	"slices"
	"time"
)

// Stats is the JSON of GET /stats.json. Counts are this process's (per node), except the
// presence channels' sizes, which are the occupancy's (every node's in a cluster), and the
// queue's with the redis queue (the shared queue's). A rate or percentile that cannot be
// known yet is null.
type Stats struct {
	// Time is when the metrics were read.
	Time time.Time `json:"time"`
	// Version is the build's version.
	Version string `json:"version"`
	// UptimeSeconds is the time since the process started.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// IntervalSeconds is the time since the reading before, which the rates cover; null on
	// the first reading.
	IntervalSeconds *float64 `json:"interval_seconds"`
	// WindowSeconds is the trailing window the latency percentiles cover (about 10 s; since
	// the process started on the first reading).
	WindowSeconds float64 `json:"window_seconds"`
	// Process is the process's own figures.
	Process Process `json:"process"`
	// Queue is the delivery queue's backlog; null when it could not be read.
	Queue *Queue `json:"queue"`
	// All sums every app; its shapes and presence channels are the top ones of all apps.
	All AppStats `json:"all"`
	// Apps are the configured apps (and "unknown", once something was counted for it).
	Apps []AppStats `json:"apps"`
	// PresenceError says why the presence channels could not be listed at the last try
	// (the lists shown are then older); empty when they were.
	PresenceError string `json:"presence_error,omitempty"`
	// Series is the last two minutes of readings, for the charts.
	Series Series `json:"series"`
}

// Process is the process's own figures.
type Process struct {
	Goroutines          float64  `json:"goroutines"`
	ResidentMemoryBytes float64  `json:"resident_memory_bytes"`
	CPUCores            *float64 `json:"cpu_cores"` // CPU seconds per second over the interval
}

// Queue is the delivery queue's backlog.
type Queue struct {
	Events                float64 `json:"events"`
	OldestEventAgeSeconds float64 `json:"oldest_event_age_seconds"`
}

// AppStats is one app's figures (or every app's, in Stats.All).
type AppStats struct {
	AppID                string   `json:"app_id,omitempty"`
	Connections          float64  `json:"connections"`
	ConnectionsTotal     float64  `json:"connections_total"`
	DisconnectionsTotal  float64  `json:"disconnections_total"`
	MessagesInTotal      float64  `json:"messages_in_total"`
	MessagesOutTotal     float64  `json:"messages_out_total"`
	MessagesInPerSecond  *float64 `json:"messages_in_per_second"`
	MessagesOutPerSecond *float64 `json:"messages_out_per_second"`
	BytesInPerSecond     *float64 `json:"bytes_in_per_second"`
	BytesOutPerSecond    *float64 `json:"bytes_out_per_second"`
	EventsDeliveredTotal float64  `json:"events_delivered_total"`
	EventsPerSecond      *float64 `json:"events_per_second"`
	StaleTotal           float64  `json:"stale_total"`
	StalePerSecond       *float64 `json:"stale_per_second"`
	SlowConsumersTotal   float64  `json:"slow_consumers_total"`
	// Delivery is trigger to delivery; QueueWait and Fanout its two parts.
	Delivery  Latency `json:"delivery"`
	QueueWait Latency `json:"queue_wait"`
	Fanout    Latency `json:"fanout"`
	// Shapes are the busiest channel shapes: most frames per second, then most
	// subscriptions (at most 10).
	Shapes []Shape `json:"shapes"`
	// Presence are the largest presence channels by distinct users (at most 10).
	Presence []PresenceChannel `json:"presence"`
}

// Latency is percentiles of a latency histogram over the window, in seconds; null without
// observations in the window.
type Latency struct {
	Count float64  `json:"count"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
	P99   *float64 `json:"p99"`
}

// Shape is a channel shape's figures (see registry.Shape).
type Shape struct {
	AppID           string   `json:"app_id"`
	Kind            string   `json:"kind"`
	Shape           string   `json:"shape"`
	Channels        float64  `json:"channels"`
	Subscriptions   float64  `json:"subscriptions"`
	FramesTotal     float64  `json:"frames_total"`
	FramesPerSecond *float64 `json:"frames_per_second"`
}

// PresenceChannel is one presence channel's size.
type PresenceChannel struct {
	AppID       string `json:"app_id"`
	Channel     string `json:"channel"`
	Users       int    `json:"users"`
	Connections int    `json:"connections"`
}

// top is the most rows a list of shapes or presence channels holds.
const top = 10

// compute makes the Stats of cur: rates against prev, percentiles against base (either may
// be nil), presence from rooms (by app).
func compute(cur, prev, base *reading, rooms map[string][]PresenceChannel) Stats {
	st := Stats{Time: cur.at, Version: cur.version, Apps: []AppStats{}}
	if !cur.started.IsZero() {
		st.UptimeSeconds = cur.at.Sub(cur.started).Seconds()
	}
	var dt float64
	if prev != nil {
		dt = cur.at.Sub(prev.at).Seconds()
		st.IntervalSeconds = &dt
	}
	if base != nil {
		st.WindowSeconds = cur.at.Sub(base.at).Seconds()
	} else {
		st.WindowSeconds = st.UptimeSeconds
	}
	st.Process = Process{Goroutines: cur.goroutines, ResidentMemoryBytes: cur.memory}
	if prev != nil {
		st.Process.CPUCores = rate(cur.cpu, prev.cpu, dt)
	}
	if cur.queueKnown {
		st.Queue = &Queue{Events: cur.queueEvents, OldestEventAgeSeconds: cur.queueAge}
	}

	var sum, sumPrev, sumBase appReading
	var shapes []Shape
	var presence []PresenceChannel
	for _, id := range cur.order {
		if !cur.shown(id) {
			continue
		}
		a, pa, ba := cur.apps[id], prev.app(id), base.app(id)
		as := appStats(a, pa, ba, dt)
		as.AppID = id
		for i := range as.Shapes {
			as.Shapes[i].AppID = id
		}
		shapes = append(shapes, as.Shapes...)
		as.Shapes = first(as.Shapes)
		as.Presence = first(rooms[id])
		presence = append(presence, rooms[id]...)
		st.Apps = append(st.Apps, as)

		sum.add(a)
		sumPrev.add(pa)
		sumBase.add(ba)
	}
	var pp, pb *appReading
	if prev != nil {
		pp = &sumPrev
	}
	if base != nil {
		pb = &sumBase
	}
	st.All = appStats(&sum, pp, pb, dt)
	sortShapes(shapes)
	st.All.Shapes = first(shapes)
	sortPresence(presence)
	st.All.Presence = first(presence)
	return st
}

// appStats is the figures of one app's (or the sum's) readings, every busy shape included.
func appStats(a, prev, base *appReading, dt float64) AppStats {
	as := AppStats{
		Connections:          a.connected,
		ConnectionsTotal:     a.connections,
		DisconnectionsTotal:  a.disconnects,
		MessagesInTotal:      a.messagesIn,
		MessagesOutTotal:     a.messagesOut,
		EventsDeliveredTotal: a.delivered,
		StaleTotal:           a.stale,
		SlowConsumersTotal:   a.slow,
		Shapes:               []Shape{},
		Presence:             []PresenceChannel{},
	}
	if prev != nil {
		as.MessagesInPerSecond = rate(a.messagesIn, prev.messagesIn, dt)
		as.MessagesOutPerSecond = rate(a.messagesOut, prev.messagesOut, dt)
		as.BytesInPerSecond = rate(a.bytesIn, prev.bytesIn, dt)
		as.BytesOutPerSecond = rate(a.bytesOut, prev.bytesOut, dt)
		as.EventsPerSecond = rate(a.delivered, prev.delivered, dt)
		as.StalePerSecond = rate(a.stale, prev.stale, dt)
	}
	var bd, bq, bf *histogram
	if base != nil {
		bd, bq, bf = &base.delivery, &base.queueWait, &base.fanout
	}
	as.Delivery = latency(a.delivery.since(bd))
	as.QueueWait = latency(a.queueWait.since(bq))
	as.Fanout = latency(a.fanout.since(bf))

	for k, s := range a.shapes {
		sh := Shape{Kind: k.kind, Shape: k.shape, Channels: s.channels, Subscriptions: s.subscriptions, FramesTotal: s.frames}
		if prev != nil {
			before := 0.0
			if p := prev.shapes[k]; p != nil {
				before = p.frames
			}
			sh.FramesPerSecond = rate(s.frames, before, dt)
		}
		if sh.Channels > 0 || sh.Subscriptions > 0 || value0(sh.FramesPerSecond) > 0 {
			as.Shapes = append(as.Shapes, sh)
		}
	}
	sortShapes(as.Shapes)
	return as
}

// latency is the percentiles of h.
func latency(h histogram) Latency {
	l := Latency{Count: h.count()}
	for q, p := range map[float64]**float64{.5: &l.P50, .95: &l.P95, .99: &l.P99} {
		if v, ok := h.quantile(q); ok {
			*p = &v
		}
	}
	return l
}

// rate is the change per second of a counter over dt seconds.
func rate(cur, before, dt float64) *float64 {
	if dt <= 0 {
		return nil
	}
	r := max(cur-before, 0) / dt
	return &r
}

func value0(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// first returns the list cut to its first top rows, never nil.
func first[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list[:min(len(list), top)]
}

// sortShapes puts the busiest first: frames per second, subscriptions, frames, then names.
func sortShapes(list []Shape) {
	slices.SortFunc(list, func(a, b Shape) int {
		return cmp.Or(
			cmp.Compare(value0(b.FramesPerSecond), value0(a.FramesPerSecond)),
			cmp.Compare(b.Subscriptions, a.Subscriptions),
			cmp.Compare(b.FramesTotal, a.FramesTotal),
			cmp.Compare(a.AppID, b.AppID),
			cmp.Compare(a.Shape, b.Shape),
			cmp.Compare(a.Kind, b.Kind),
		)
	})
}

// sortPresence puts the largest first: users, connections, then names.
func sortPresence(list []PresenceChannel) {
	slices.SortFunc(list, func(a, b PresenceChannel) int {
		return cmp.Or(
			cmp.Compare(b.Users, a.Users),
			cmp.Compare(b.Connections, a.Connections),
			cmp.Compare(a.AppID, b.AppID),
			cmp.Compare(a.Channel, b.Channel),
		)
	})
}

// app returns the app's reading: nil when r is nil, zero when r has not seen the app yet.
func (r *reading) app(id string) *appReading {
	if r == nil {
		return nil
	}
	if a := r.apps[id]; a != nil {
		return a
	}
	return &appReading{}
}

// add sums o (nil: nothing) into a, shapes left out: the sum's shapes are the apps' own.
func (a *appReading) add(o *appReading) {
	if o == nil {
		return
	}
	a.connected += o.connected
	a.connections += o.connections
	a.disconnects += o.disconnects
	a.messagesIn += o.messagesIn
	a.messagesOut += o.messagesOut
	a.bytesIn += o.bytesIn
	a.bytesOut += o.bytesOut
	a.delivered += o.delivered
	a.stale += o.stale
	a.slow += o.slow
	a.delivery = a.delivery.plus(o.delivery)
	a.queueWait = a.queueWait.plus(o.queueWait)
	a.fanout = a.fanout.plus(o.fanout)
}
