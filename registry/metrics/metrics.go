package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// UnknownApp is the app_id label of what names an app id that is not configured (an HTTP API
// call to an unknown app, a connection with an unknown key).
const UnknownApp = "unknown"

// Params configures New.
type Params struct {
	// Prefix starts every metric name (REVERB_METRICS_PREFIX), e.g. "reverbd_".
	Prefix string
	// Port is the public listener's port, the port label of the soketi-compatible families.
	Port int
	// AppIDs are the configured apps; each gets its handles at once. SetApps replaces them.
	AppIDs []string
	// Version is the build's version, reported by build_info.
	Version string
}

// Metrics is the process's registry and metric families. Make it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg    *prometheus.Registry
	with   prometheus.Registerer // reg, with the prefix
	prefix string
	port   string

	apps    atomic.Pointer[map[string]*App] // replaced whole by SetApps, never changed
	appsMu  sync.Mutex                      // one SetApps at a time
	unknown *App
	// perApp are the families labelled app_id, whose series SetApps deletes for a removed app.
	perApp []interface{ DeletePartialMatch(prometheus.Labels) int }

	// soketi and Sockudo's families, labelled app_id and port.
	connected                                     *prometheus.GaugeVec
	newConnectionsTotal, disconnectionsTotal      *prometheus.CounterVec
	socketReceived, socketSent                    *prometheus.CounterVec
	wsReceived, wsSent                            *prometheus.CounterVec
	httpCalls, httpReceived, httpSent             *prometheus.CounterVec
	queueWait, fanout, delivery                   *prometheus.HistogramVec
	delivered, stale, fanoutFrames, slowConsumers *prometheus.CounterVec
	closes, limits, authFailures, httpRequests    *prometheus.CounterVec
	channels, subscriptions                       *prometheus.GaugeVec
	channelFrames, outsideCatalogue               *prometheus.CounterVec
	relayLag, redisCommands                       *prometheus.HistogramVec
	webhooksSent, webhookFailures, webhookRetries *prometheus.CounterVec
	webhooksDropped                               *prometheus.CounterVec
	webhookSeconds                                *prometheus.HistogramVec
}

// latencyBuckets are the bounds, in seconds, of the trigger-to-delivery histograms: from half
// a millisecond (a local fan-out) to the default delivery deadline.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// redisBuckets are the bounds, in seconds, of the Redis command latency histogram.
var redisBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New returns the metrics of a process: every family registered under p.Prefix, the Go
// runtime's and the process's included, and the handles of each configured app.
func New(p Params) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, with: prometheus.WrapRegistererWithPrefix(p.Prefix, reg), prefix: p.Prefix, port: strconv.Itoa(p.Port)}
	m.with.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	soketi := []string{"app_id", "port"}
	register := func(v interface {
		prometheus.Collector
		DeletePartialMatch(prometheus.Labels) int
	}, labels []string) {
		m.with.MustRegister(v)
		if slices.Contains(labels, "app_id") {
			m.perApp = append(m.perApp, v)
		}
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		register(v, labels)
		return v
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		register(v, labels)
		return v
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		register(v, labels)
		return v
	}

	m.connected = gauge("connected", "The number of currently connected sockets.", soketi...)
	m.newConnectionsTotal = counter("new_connections_total", "Total amount of connections accepted.", soketi...)
	m.disconnectionsTotal = counter("new_disconnections_total", "Total amount of disconnections.", soketi...)
	m.socketReceived = counter("socket_received_bytes", "Total amount of bytes received in WebSocket messages.", soketi...)
	m.socketSent = counter("socket_transmitted_bytes", "Total amount of bytes of the WebSocket frames queued for the connections.", soketi...)
	m.wsReceived = counter("ws_messages_received_total", "The total amount of WS messages received from connections by the server.", soketi...)
	m.wsSent = counter("ws_messages_sent_total", "The total amount of WS messages sent to the connections from the server.", soketi...)
	m.httpCalls = counter("http_calls_received_total", "Total amount of received REST API calls.", soketi...)
	m.httpReceived = counter("http_received_bytes", "Total amount of bytes that the REST API received.", soketi...)
	m.httpSent = counter("http_transmitted_bytes", "Total amount of bytes that the REST API sent back.", soketi...)

	m.queueWait = histogram("event_queue_seconds", "Time from a trigger's acceptance by the HTTP API to the start of its delivery by a worker (queue wait).", latencyBuckets, "app_id")
	m.fanout = histogram("event_fanout_seconds", "Time one node takes to queue an event's frames on its local subscribers (fan-out).", latencyBuckets, "app_id")
	m.delivery = histogram("event_delivery_seconds", "Time from a trigger's acceptance to its frames queued on this node's subscribers (trigger to delivery).", latencyBuckets, "app_id")
	m.delivered = counter("events_delivered_total", "Events the delivery workers of this process handed on for fan-out.", "app_id")
	m.stale = counter("events_stale_total", "Events discarded because their delivery deadline (REVERB_QUEUE_DEADLINE) passed before a worker reached them.", "app_id")
	m.fanoutFrames = counter("fanout_frames_total", "Frames of triggered events queued on this node's connections.", "app_id")
	m.slowConsumers = counter("slow_consumers_total", "Connections dropped as slow consumers (4100): their queued frames passed REVERB_WRITE_BUFFER_LIMIT.", "app_id")
	m.closes = counter("connections_closed_total", "Connections closed or refused, by WebSocket close code (1006: the connection ended without a close frame).", "app_id", "code")
	m.limits = counter("limits_hit_total", "Requests, messages and connections refused by a rate or size limit, by limit.", "app_id", "limit")
	m.authFailures = counter("auth_failures_total", "Signatures refused: HTTP API requests (http), private and presence subscriptions (subscribe), user sign-ins (signin).", "app_id", "source")
	m.httpRequests = counter("http_requests_total", "HTTP API requests by route and status.", "app_id", "route", "status")
	m.channels = gauge("channels", "Channels with a subscriber on this node, by kind and shape.", "app_id", "kind", "shape")
	m.subscriptions = gauge("channel_subscriptions", "Subscriptions of this node's connections, by channel kind and shape.", "app_id", "kind", "shape")
	m.channelFrames = counter("channel_frames_sent_total", "Frames published on channels (events, client events, member events) queued on this node's subscribers, by channel kind and shape.", "app_id", "kind", "shape")
	m.outsideCatalogue = counter("channels_outside_catalogue_total", "Triggers (source trigger, once per channel) and subscribes (source subscribe) naming a channel outside the app's channel catalogue in warn mode, by the channel's shape.", "app_id", "source", "shape")
	m.relayLag = histogram("relay_lag_seconds", "Time from a node publishing a message on the cluster relay to this node receiving it (clock differences between hosts included).", latencyBuckets, "kind")
	m.redisCommands = histogram("redis_command_seconds", "Redis command latency as this process sees it, by command (pipeline for a pipeline).", redisBuckets, "command")

	m.webhooksSent = counter("webhooks_sent_total", "Webhook POSTs a receiver accepted (2xx).", "app_id")
	m.webhookFailures = counter("webhook_failures_total", "Webhook POST attempts that failed: network errors, timeouts and non-2xx answers.", "app_id")
	m.webhookRetries = counter("webhook_retries_total", "Webhook POSTs scheduled to be tried again after a failed attempt.", "app_id")
	m.webhooksDropped = counter("webhooks_dropped_total", "Webhook POSTs given up: past REVERB_WEBHOOK_RETRY_FOR (budget), refused with a final 4xx (rejected), or waiting in the in-process queue when it stopped (shutdown).", "app_id", "reason")
	m.webhookSeconds = histogram("webhook_seconds", "Time of a successful webhook POST, from the request to the answer's status.", latencyBuckets, "app_id")

	info := gauge("build_info", "Always 1; the version label is the build's.", "version")
	info.WithLabelValues(p.Version).Set(1)

	m.unknown = m.newApp(UnknownApp)
	m.SetApps(p.AppIDs)
	return m
}

// SetApps makes ids the configured apps, as a reload (SIGHUP) changes them: an added app
// gets its handles and its series (at 0) at once and counts under its own app_id from then
// on; a removed app's series are deleted from every family, so Prometheus sees them end
// (marked stale at the next scrape) instead of holding flat values forever, and its id counts
// as UnknownApp from then on. An app removed and added again starts from 0, which
// Prometheus's rate and increase read as a counter reset. Kept apps keep their handles and
// values. A nil m does nothing.
func (m *Metrics) SetApps(ids []string) {
	if m == nil {
		return
	}
	m.appsMu.Lock()
	defer m.appsMu.Unlock()
	var old map[string]*App
	if p := m.apps.Load(); p != nil {
		old = *p
	}
	next := make(map[string]*App, len(ids))
	for _, id := range ids {
		if id == UnknownApp {
			next[id] = m.unknown // an app named so shares the unknown series, as it always has
			continue
		}
		if a := old[id]; a != nil {
			next[id] = a
		} else {
			next[id] = m.newApp(id)
		}
	}
	m.apps.Store(&next)
	for id, a := range old {
		if next[id] == nil && a != m.unknown {
			a.retire()
			for _, v := range m.perApp {
				v.DeletePartialMatch(prometheus.Labels{"app_id": id})
			}
		}
	}
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Families gathers every family in process, as a scrape does, keyed by its name without the
// prefix (connected, event_delivery_seconds, go_goroutines). Should a collector fail, the
// families gathered are returned with the error.
func (m *Metrics) Families() (map[string]*dto.MetricFamily, error) {
	fams, err := m.reg.Gather()
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[strings.TrimPrefix(f.GetName(), m.prefix)] = f
	}
	return out, err
}

// App returns the handles of the app with this id; an id that is not configured (or no longer
// is, after SetApps) gets the UnknownApp handles. With m nil it returns nil.
func (m *Metrics) App(id string) *App {
	if m == nil {
		return nil
	}
	if a := (*m.apps.Load())[id]; a != nil {
		return a
	}
	return m.unknown
}

// ObserveRelayLag records how long a relay message of kind ("event", "frame") took from its
// publisher to this node.
func (m *Metrics) ObserveRelayLag(kind string, lag float64) {
	if m == nil {
		return
	}
	m.relayLag.WithLabelValues(kind).Observe(max(lag, 0))
}
