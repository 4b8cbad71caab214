package api

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// Enqueuer queues an accepted event for delivery and returns at once, without waiting for
// delivery (jobs.Queue satisfies it). An error means the event was not queued.
type Enqueuer interface {
	Enqueue(ctx context.Context, ev registry.Event) error
}

// Terminator closes every connection of a user of an app: connections signed in as userID
// and connections that joined a presence channel with that user_id (Pusher's user authentication docs).
type Terminator interface {
	TerminateUser(ctx context.Context, appID, userID string) error
}

// Params configures an API. Apps, Queue and Occupancy are required.
type Params struct {
	Apps      *registry.Apps
	Queue     Enqueuer
	Occupancy registry.Occupancy
	// Cache answers info=cache on a cache channel; nil reports no cached event.
	Cache registry.Cache
	// Terminator serves terminate_connections; nil answers that route with 501.
	Terminator Terminator
	// PathPrefix is REVERB_SERVER_PATH ("" or e.g. "/ws"), the prefix the routes are served
	// under. Signatures are accepted over the path without it and over the full path.
	PathPrefix string
	// MaxRequestSize is REVERB_MAX_REQUEST_SIZE. Zero (unset) caps the body at what a full
	// batch of events at every limit takes: DefaultMaxBody with the default limits, more when
	// they are raised. Otherwise it caps the whole request as Reverb does: request line,
	// headers and body together, 413 past it.
	MaxRequestSize int64
	// The limits of a trigger (REVERB_MAX_EVENT_DATA_SIZE and the like). Zero takes Pusher's
	// value, given after each; a negative value means no limit.
	MaxEventDataSize      int // bytes of an event's data (413 past it); 10240
	MaxEventNameLength    int // characters of an event name (400); 200
	MaxChannelsPerTrigger int // channels of one trigger (400); 100
	MaxBatchSize          int // events of one batch_events (400); 10
	MaxChannelNameLength  int // characters of a channel name (400); 200
	// TimestampWindow is how far auth_timestamp may be from now (401 past it); zero means
	// 600 s, a negative value that it is not checked (as Reverb).
	TimestampWindow time.Duration
	// Ready reports whether GET /up answers 200; nil means always ready.
	Ready func() bool
	// Draining reports that the server is stopping: GET /up answers 503 {"health":"draining"},
	// whatever Ready says; nil means never.
	Draining func() bool
	// Log receives one line per rejected request; nil discards.
	Log *slog.Logger
	// Now is the clock for auth_timestamp and Event.QueuedAt; nil means time.Now.
	Now func() time.Time
	// Metrics counts the calls, their bytes, refused signatures and limits; nil counts
	// nothing.
	Metrics *metrics.Metrics
	// Outsiders records the channels outside an app's catalogue that warn mode lets
	// through; nil makes one logging on Log and counting in Metrics.
	Outsiders *registry.Outsiders
}

// API serves the Pusher HTTP API. It keeps no state between requests and is safe for
// concurrent use; register it on a router with [API.Routes].
type API struct {
	apps       *registry.Apps
	queue      Enqueuer
	occupancy  registry.Occupancy
	cache      registry.Cache
	terminator Terminator
	prefix     string // normalised: "" or "/x" without a trailing slash
	maxRequest int64  // whole-request cap; 0: the body cap maxBody applies instead
	maxBody    int64  // body cap when maxRequest is 0
	limits     limits
	window     time.Duration // 0: auth_timestamp is not checked
	ready      func() bool
	draining   func() bool
	log        *slog.Logger
	now        func() time.Time
	metrics    *metrics.Metrics
	outsiders  *registry.Outsiders
}

// New returns an API; zero fields of p take the defaults documented on Params.
func New(p Params) *API {
	a := &API{
		apps:       p.Apps,
		queue:      p.Queue,
		occupancy:  p.Occupancy,
		cache:      p.Cache,
		terminator: p.Terminator,
		prefix:     normalizePrefix(p.PathPrefix),
		maxRequest: max(p.MaxRequestSize, 0),
		limits: limits{
			eventName:   registry.LimitOr(p.MaxEventNameLength, defaultMaxEventNameLength),
			eventData:   registry.LimitOr(p.MaxEventDataSize, defaultMaxEventDataSize),
			channels:    registry.LimitOr(p.MaxChannelsPerTrigger, defaultMaxChannels),
			batch:       registry.LimitOr(p.MaxBatchSize, defaultMaxBatchSize),
			channelName: registry.LimitOr(p.MaxChannelNameLength, registry.DefaultMaxChannelNameLength),
		},
		window:    p.TimestampWindow,
		ready:     p.Ready,
		draining:  p.Draining,
		log:       p.Log,
		now:       p.Now,
		metrics:   p.Metrics,
		outsiders: p.Outsiders,
	}
	a.maxBody = bodyCap(a.limits)
	switch {
	case a.window == 0:
		a.window = defaultTimestampWindow
	case a.window < 0:
		a.window = 0
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "api")
	if a.outsiders == nil {
		a.outsiders = registry.NewOutsiders(a.log, a.metrics)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// normalizePrefix turns "ws", "/ws/" and "/ws" into "/ws", and "/" into "".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}
