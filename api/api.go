package api

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// Limits of a trigger, as Pusher documents them
// (https://pusher.com/docs/channels/library_auth_reference/rest-api/).
const (
	maxEventNameLength = 200       // characters
	maxEventDataSize   = 10 * 1024 // bytes of the data string; past it 413
	maxChannels        = 100       // channels of one trigger
	maxBatchSize       = 10        // events of one batch

	defaultTimestampWindow = 600 * time.Second
)

// Body cap when REVERB_MAX_REQUEST_SIZE is unset: it fits a batch_events body of maxBatchSize
// items that are each at every limit and in the costliest JSON a client may send:
//
//	data       maxEventDataSize bytes, each escaped as \u00XX (6 bytes)   61,440
//	name       maxEventNameLength characters, each a surrogate pair
//	           \uXXXX\uXXXX (12 bytes; PHP's json_encode escapes so)     2,400
//	channel    registry.MaxChannelNameLength (no escaping needed)          200
//	socket_id  two 20-digit numbers and a dot                              41
//	info       user_count,subscription_count                               29
//	keys, quotes, braces and commas of the item                            59
//
// That is 64,169 bytes an item and 641,711 for the batch with its wrapper. The cap rounds it
// up to 640 KiB (655,360 bytes), which leaves room for whitespace. One event on 100 channels
// at every limit takes about 85 KB.
const (
	fullItemSize  = len(`{"name":"","data":"","channel":"","socket_id":"","info":""}`) + 6*maxEventDataSize + 12*maxEventNameLength + registry.MaxChannelNameLength + 41 + len("user_count,subscription_count")
	fullBatchSize = len(`{"batch":[]}`) + maxBatchSize*fullItemSize + maxBatchSize - 1
	// DefaultMaxBody is the body cap in bytes when Params.MaxRequestSize is zero.
	DefaultMaxBody = 640 << 10
)

// The cap must hold the batch; this line does not compile otherwise.
var _ [DefaultMaxBody - fullBatchSize]struct{}

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
	// MaxRequestSize is REVERB_MAX_REQUEST_SIZE. Zero (unset) caps the body at DefaultMaxBody,
	// which fits a full batch of events at every limit. Otherwise it caps the whole request
	// as Reverb does: request line, headers and body together, 413 past it.
	MaxRequestSize int64
	// TimestampWindow is how far auth_timestamp may be from now; zero means 600 s.
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
	maxRequest int64  // whole-request cap; 0: the body cap DefaultMaxBody applies instead
	window     time.Duration
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
		window:     p.TimestampWindow,
		ready:      p.Ready,
		draining:   p.Draining,
		log:        p.Log,
		now:        p.Now,
		metrics:    p.Metrics,
		outsiders:  p.Outsiders,
	}
	if a.window <= 0 {
		a.window = defaultTimestampWindow
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
