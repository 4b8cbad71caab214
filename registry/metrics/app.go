package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// App is the handles of one app's metrics. Its methods are safe for concurrent use and do
// nothing on a nil *App.
type App struct {
	m  *Metrics
	id string

	connected                   prometheus.Gauge
	connections, disconnections prometheus.Counter
	socketReceived, socketSent  prometheus.Counter
	wsReceived, wsSent          prometheus.Counter
	httpCalls                   prometheus.Counter
	httpReceived, httpSent      prometheus.Counter
	queueWait, fanout, delivery prometheus.Observer
	delivered, stale            prometheus.Counter
	fanoutFrames, slowConsumers prometheus.Counter
	webhooksSent, webhookFails  prometheus.Counter
	webhookRetries              prometheus.Counter
	webhookSeconds              prometheus.Observer

	mu     sync.Mutex
	shapes map[shapeKey]*Channels // guarded by mu
	named  int                    // guarded by mu: shapes other than "other"

	// retired is set when the app is removed (SetApps): from then on the handles still held
	// (by a connection accepted before) count into series no longer exported, and nothing
	// makes a new series of the app. Held for reading while a series is made.
	retireMu sync.RWMutex
	retired  bool // guarded by retireMu
}

// retire marks the app removed; once it returns, no new series of the app is made.
func (a *App) retire() {
	a.retireMu.Lock()
	a.retired = true
	a.retireMu.Unlock()
}

// labelled calls f, which makes or looks up a series labelled with the app's id, unless the
// app was removed: its series are deleted and must not come back.
func (a *App) labelled(f func()) {
	a.retireMu.RLock()
	defer a.retireMu.RUnlock()
	if !a.retired {
		f()
	}
}

func (m *Metrics) newApp(id string) *App {
	l := prometheus.Labels{"app_id": id, "port": m.port}
	one := prometheus.Labels{"app_id": id}
	return &App{
		m: m, id: id,
		connected:      m.connected.With(l),
		connections:    m.newConnectionsTotal.With(l),
		disconnections: m.disconnectionsTotal.With(l),
		socketReceived: m.socketReceived.With(l),
		socketSent:     m.socketSent.With(l),
		wsReceived:     m.wsReceived.With(l),
		wsSent:         m.wsSent.With(l),
		httpCalls:      m.httpCalls.With(l),
		httpReceived:   m.httpReceived.With(l),
		httpSent:       m.httpSent.With(l),
		queueWait:      m.queueWait.With(one),
		fanout:         m.fanout.With(one),
		delivery:       m.delivery.With(one),
		delivered:      m.delivered.With(one),
		stale:          m.stale.With(one),
		fanoutFrames:   m.fanoutFrames.With(one),
		slowConsumers:  m.slowConsumers.With(one),
		webhooksSent:   m.webhooksSent.With(one),
		webhookFails:   m.webhookFailures.With(one),
		webhookRetries: m.webhookRetries.With(one),
		webhookSeconds: m.webhookSeconds.With(one),
		shapes:         map[shapeKey]*Channels{},
	}
}

// ID returns the app_id label value.
func (a *App) ID() string {
	if a == nil {
		return ""
	}
	return a.id
}

// Connected counts a connection accepted: connected and new_connections_total.
func (a *App) Connected() {
	if a == nil {
		return
	}
	a.connected.Inc()
	a.connections.Inc()
}

// Disconnected counts an accepted connection gone: connected and new_disconnections_total.
func (a *App) Disconnected() {
	if a == nil {
		return
	}
	a.connected.Dec()
	a.disconnections.Inc()
}

// Closed counts a connection closed or refused with a WebSocket close code.
func (a *App) Closed(code int) {
	if a == nil {
		return
	}
	a.labelled(func() { a.m.closes.WithLabelValues(a.id, strconv.Itoa(code)).Inc() })
}

// Received counts one WebSocket message of size bytes from a client.
func (a *App) Received(size int) {
	if a == nil {
		return
	}
	a.wsReceived.Inc()
	a.socketReceived.Add(float64(size))
}

// Sent counts frames queued for the app's connections, bytes in all.
func (a *App) Sent(frames, bytes int) {
	if a == nil || frames == 0 {
		return
	}
	a.wsSent.Add(float64(frames))
	a.socketSent.Add(float64(bytes))
}

// HTTPCall counts one HTTP API call of the app: its route (the pattern, such as
// /apps/{app_id}/events), status, and the bytes of its body and of the answer's.
func (a *App) HTTPCall(route string, status, received, sent int) {
	if a == nil {
		return
	}
	a.httpCalls.Inc()
	a.httpReceived.Add(float64(received))
	a.httpSent.Add(float64(sent))
	a.labelled(func() { a.m.httpRequests.WithLabelValues(a.id, route, strconv.Itoa(status)).Inc() })
}

// Limits named by LimitHit.
const (
	LimitMaxConnections        = "max_connections"
	LimitMaxMessageSize        = "max_message_size"
	LimitRateLimit             = "rate_limit"
	LimitClientEventsPerSecond = "max_client_events_per_second"
	LimitMaxSubscriptions      = "max_subscriptions"
	LimitMaxPresenceMembers    = "max_presence_members"
	LimitMaxPresenceMemberSize = "max_presence_member_size"
	LimitMaxUserIDLength       = "max_user_id_length"
	LimitMaxWatchlistSize      = "max_watchlist_size"
	LimitMaxRequestSize        = "max_request_size"
	LimitEventDataSize         = "event_data_size"
	LimitQueueFull             = "queue_size"
	// LimitChannelCatalogue is a trigger or subscribe refused in strict mode for a channel
	// outside the app's channel catalogue.
	LimitChannelCatalogue = "channel_catalogue"
)

// LimitHit counts one refusal by limit (one of the Limit constants).
func (a *App) LimitHit(limit string) {
	if a == nil {
		return
	}
	a.labelled(func() { a.m.limits.WithLabelValues(a.id, limit).Inc() })
}

// Sources of AuthFailed.
const (
	AuthHTTP      = "http"
	AuthSubscribe = "subscribe"
	AuthSignin    = "signin"
)

// AuthFailed counts a signature refused, by source (one of the Auth constants).
func (a *App) AuthFailed(source string) {
	if a == nil {
		return
	}
	a.labelled(func() { a.m.authFailures.WithLabelValues(a.id, source).Inc() })
}

// SlowConsumer counts a connection dropped as a slow consumer.
func (a *App) SlowConsumer() {
	if a == nil {
		return
	}
	a.slowConsumers.Inc()
}

// Dequeued records that a worker starts delivering an event that waited wait in the queue.
func (a *App) Dequeued(wait time.Duration) {
	if a == nil {
		return
	}
	a.queueWait.Observe(max(wait, 0).Seconds())
}

// Delivered counts an event a worker handed on for fan-out.
func (a *App) Delivered() {
	if a == nil {
		return
	}
	a.delivered.Inc()
}

// Stale counts an event discarded past its delivery deadline.
func (a *App) Stale() {
	if a == nil {
		return
	}
	a.stale.Inc()
}

// FannedOut records one node's fan-out of one event: the frames it queued, how long that
// took, and the time since the trigger was accepted.
func (a *App) FannedOut(frames int, took, sinceAccepted time.Duration) {
	if a == nil {
		return
	}
	a.fanoutFrames.Add(float64(frames))
	a.fanout.Observe(took.Seconds())
	a.delivery.Observe(max(sinceAccepted, 0).Seconds())
}

// Sources of OutsideCatalogue.
const (
	SourceTrigger   = "trigger"
	SourceSubscribe = "subscribe"
)

// OutsideCatalogue counts a channel outside the app's channel catalogue, named by a trigger
// or a subscribe (one of the Source constants), under its shape (registry.Shape; the caller
// bounds the shapes of an app).
func (a *App) OutsideCatalogue(source, shape string) {
	if a == nil {
		return
	}
	a.labelled(func() { a.m.outsideCatalogue.WithLabelValues(a.id, source, shape).Inc() })
}

// Reasons of WebhookDropped.
const (
	WebhookDroppedBudget   = "budget"   // REVERB_WEBHOOK_RETRY_FOR passed
	WebhookDroppedRejected = "rejected" // a 4xx that is not tried again
	WebhookDroppedShutdown = "shutdown" // the in-process queue stopped while it waited
)

// WebhookSent records a webhook POST the receiver accepted, and how long it took.
func (a *App) WebhookSent(took time.Duration) {
	if a == nil {
		return
	}
	a.webhooksSent.Inc()
	a.webhookSeconds.Observe(took.Seconds())
}

// WebhookFailed counts a webhook POST attempt that failed.
func (a *App) WebhookFailed() {
	if a == nil {
		return
	}
	a.webhookFails.Inc()
}

// WebhookRetried counts a webhook POST scheduled to be tried again.
func (a *App) WebhookRetried() {
	if a == nil {
		return
	}
	a.webhookRetries.Inc()
}

// WebhookDropped counts a webhook POST given up, by reason (one of the WebhookDropped
// constants).
func (a *App) WebhookDropped(reason string) {
	if a == nil {
		return
	}
	a.labelled(func() { a.m.webhooksDropped.WithLabelValues(a.id, reason).Inc() })
}
