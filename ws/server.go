package ws

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/ws/internal/netpoll"
)

// Publisher sends a frame payload made on this node (a client event) to the other nodes of
// a cluster, which deliver it with [Hub.DeliverFrame]. The Server calls it in the
// background, from a few goroutines at once, one call at a time for each channel in the
// order its frames were made, each call with a deadline.
type Publisher interface {
	PublishFrame(ctx context.Context, appID, channel, except string, payload []byte) error
}

// Params configures a Server.
type Params struct {
	Apps      *registry.Apps
	Occupancy registry.Occupancy
	Cache     registry.Cache
	Log       *slog.Logger
	// Publisher reaches the other nodes; nil on a single node.
	Publisher Publisher
	// Metrics counts connections, messages, channels and fan-outs; nil counts nothing.
	Metrics *metrics.Metrics
	// Outsiders records the channels outside an app's catalogue that warn mode lets
	// through; nil makes one logging on Log and counting in Metrics.
	Outsiders *registry.Outsiders
	// Webhooks takes the client_event and cache_miss webhook events of the apps that want
	// them; nil sends none.
	Webhooks registry.WebhookFeed

	// WriteLimit is the most bytes queued for one connection before it is dropped as a slow
	// consumer; zero means 1 MiB.
	WriteLimit int
	// MaxChannelNameLength caps a channel name in characters, on subscribe (an InvalidChannel
	// pusher:subscription_error past it) and in a client event (4200); MaxEventNameLength caps
	// a client event's name in characters (4301). Zero means 200, Pusher's limits, and a
	// negative value no limit (REVERB_MAX_CHANNEL_NAME_LENGTH, REVERB_MAX_EVENT_NAME_LENGTH).
	MaxChannelNameLength int
	MaxEventNameLength   int
	// WriteTimeout bounds one batched write to a socket; zero means 10 s.
	WriteTimeout time.Duration
	// ReadTimeout bounds the arrival of the rest of a frame once its first bytes are
	// readable; zero means 10 s.
	ReadTimeout time.Duration
	// SweepInterval is how often liveness (ping, pong timeout) is checked; zero means 1 s.
	SweepInterval time.Duration

	// HandshakeTimeout bounds a new connection's first request on the [Server.Listener]:
	// from accept until the 101 is written, or the connection is handed to the HTTP server;
	// zero means 10 s.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes bounds a handshake's request line and headers on the Listener (431 past
	// it); zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// TLS, when set, makes the [Server.Listener] serve TLS: wss:// and https:// on the same
	// port. Its GetCertificate (or Certificates) supplies the certificate; GetCertificate is
	// asked at each handshake, so a certificate it swaps applies to the next ones.
	TLS *tls.Config

	// MaxHandshakes is the most connections the Listener holds before they are upgraded or
	// handed to the HTTP server; past it a new connection waits up to 1 s for a slot, then
	// is closed. Zero means 16384: far more than a reconnect storm keeps in flight, so the
	// accept loop does not stall, while the bound still caps a flood (about 10 KiB each).
	MaxHandshakes int
}

// Server accepts Pusher WebSocket connections at /app/{key}, speaks protocol v7 on them, and
// owns this node's Hub. Create it with New, start it with Run, stop it with Shutdown.
type Server struct {
	apps      *registry.Apps
	occupancy registry.Occupancy
	cache     registry.Cache
	publisher Publisher
	log       *slog.Logger
	metrics   *metrics.Metrics
	outsiders *registry.Outsiders
	hub       *Hub

	webhooks        registry.WebhookFeed // nil: none
	webhooksFailing atomic.Bool          // the last Add failed (logged once)
	poller          *netpoll.Poller[*Conn]

	writeLimit    int
	maxChannel    int // characters of a channel name; 0: no limit
	maxEventName  int // characters of a client event's name; 0: no limit
	writeTimeout  time.Duration
	readTimeout   time.Duration
	sweepInterval time.Duration

	handshakeTimeout time.Duration // see Params
	maxHeaderBytes   int
	tlsConfig        *tls.Config // nil: plain

	// ctx is used for the occupancy calls made on behalf of connections; it is never
	// cancelled, so a connection that closes during shutdown still leaves cleanly.
	ctx context.Context
	// quit ends Run; stop cancels it (Shutdown).
	quit context.Context
	stop context.CancelFunc

	conns     connSet
	releases  releaser // the shared part of releases (see Conn.release)
	publishes publishQueue
	resyncs   resyncQueue
	counts    countThrottle
	watches   watchIndex     // the signed-in connections' watchlists
	deadlines sharedDeadline // of subscribes, unsubscribes and Connect: occupancyTimeout
	writers   writerPool
	readers   readerPool
	acceptMu  sync.RWMutex   // orders registrations (read-locked) and new listeners against Shutdown's flag change
	live      sync.WaitGroup // one count per registered connection, done when released
	accepted  atomic.Bool    // set by New, cleared by Shutdown: whether new sockets are taken
	debug     bool           // the logger takes debug records (debuglog.go); in accepted's padding, so no field moves
	wg        sync.WaitGroup
	running   chan struct{} // closed when Run returns

	listeners []*peekListener // guarded by acceptMu; closed by Shutdown
	hs        handshakes      // connections between accept and registration

	slowConsumers atomic.Uint64
}

// New returns a Server. It fails only if the poller cannot be created.
func New(p Params) (*Server, error) {
	poller, err := netpoll.New[*Conn]()
	if err != nil {
		return nil, err
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		apps: p.Apps, occupancy: p.Occupancy, cache: p.Cache, publisher: p.Publisher,
		log:           p.Log,
		metrics:       p.Metrics,
		outsiders:     p.Outsiders,
		webhooks:      p.Webhooks,
		poller:        poller,
		writeLimit:    orDefault(p.WriteLimit, 1<<20),
		maxChannel:    registry.LimitOr(p.MaxChannelNameLength, registry.DefaultMaxChannelNameLength),
		maxEventName:  registry.LimitOr(p.MaxEventNameLength, defaultMaxEventNameLength),
		debug:         p.Log.Enabled(context.Background(), slog.LevelDebug),
		writeTimeout:  orDefault(p.WriteTimeout, 10*time.Second),
		readTimeout:   orDefault(p.ReadTimeout, 10*time.Second),
		sweepInterval: orDefault(p.SweepInterval, time.Second),
		running:       make(chan struct{}),

		handshakeTimeout: orDefault(p.HandshakeTimeout, 10*time.Second),
		maxHeaderBytes:   orDefault(p.MaxHeaderBytes, DefaultMaxHeaderBytes),
		tlsConfig:        tlsConfig(p.TLS),
	}
	if s.outsiders == nil {
		s.outsiders = registry.NewOutsiders(p.Log, p.Metrics)
	}
	s.hs.init(orDefault(p.MaxHandshakes, 16384))
	s.hub = newHub(p.Metrics, p.Apps)
	s.registerMetrics()
	if s.debug {
		s.hub.log = s.log
	}
	s.resyncs.init()
	s.counts.init()
	if n, ok := p.Occupancy.(registry.MemberNotifier); ok {
		n.NotifyMembers(s.DeliverMember)
	}
	if n, ok := p.Occupancy.(registry.CountNotifier); ok {
		n.NotifyCounts(s.DeliverCount)
	}
	s.watches.init()
	if n, ok := p.Occupancy.(registry.OnlineNotifier); ok {
		n.NotifyOnline(s.DeliverOnline)
	}
	s.conns.init()
	s.releases.srv = s
	s.publishes.ctx, s.publishes.cancel = context.WithCancel(context.Background())
	s.writers.start(max(runtime.GOMAXPROCS(0), 2))
	s.readers.init(s)
	s.ctx = context.Background()
	s.deadlines = sharedDeadline{parent: s.ctx, d: occupancyTimeout}
	s.quit, s.stop = context.WithCancel(context.Background())
	s.accepted.Store(true)
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Hub returns the node's fan-out hub, the jobs.Deliverer of this node.
func (s *Server) Hub() *Hub { return s.hub }

// Routes registers the WebSocket endpoint /app/{key} on r.
func (s *Server) Routes(r chi.Router) {
	r.Get("/app/{key}", s.ServeHTTP)
}

// Run reads from every connection until ctx ends or Shutdown is called, and checks their
// liveness. It returns once its goroutines have stopped (idle readers included; a reader
// still busy with a wake-up ends with it); connections stay open until Shutdown closes
// them. Run owns the poller and releases it when it returns.
func (s *Server) Run(ctx context.Context) error {
	defer close(s.running)
	defer s.poller.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := context.AfterFunc(s.quit, cancel)
	defer stopped()

	var wg sync.WaitGroup
	wg.Go(func() { s.sweep(ctx) })
	wg.Go(func() { s.resyncs.run(ctx, s) })
	wg.Go(func() { s.counts.run(ctx, s.hub) })
	wg.Go(func() { s.watches.runResync(ctx, s) })
	s.readers.start()
	err := s.poller.Run(ctx, s.readers.run)
	s.readers.stop()
	cancel()
	wg.Wait()
	return err
}

// StopAccepting stops taking connections: it closes the listeners given to
// [Server.Listener] and the connections still in their handshake, and waits for those until
// ctx ends. Open connections stay served. Later calls do nothing.
func (s *Server) StopAccepting(ctx context.Context) error {
	s.acceptMu.Lock()
	s.accepted.Store(false)
	listeners := s.listeners
	s.listeners = nil
	s.acceptMu.Unlock()
	for _, l := range listeners {
		_ = l.Close()
	}
	s.hs.cut()
	// Every connection past its handshake is now registered (and is closed by Drain) or refused.
	return waitCtx(ctx, &s.hs.wg)
}

// Shutdown is Drain with no window: every connection is closed with 4200 at once.
func (s *Server) Shutdown(ctx context.Context) error { return s.Drain(ctx, 0, nil) }

// Drain stops taking connections (StopAccepting), then closes every open connection with
// 4200 so pusher-js reconnects at once (to another node, or to this one once restarted):
// spread evenly over window with jitter, those subscribed to nothing first (see
// closeSpread). The connections keep being served until their turn. The ones left are
// closed at once when hurry is closed (nil: never) or ctx ends. Then it waits for the close
// frames to be written and the connections removed from the shared occupancy, and for the
// frames queued for the other nodes to be published, until ctx ends; then it drops what is
// left, and stops Run and the writers. Call it once.
func (s *Server) Drain(ctx context.Context, window time.Duration, hurry <-chan struct{}) error {
	_ = s.StopAccepting(ctx)
	s.closeSpread(ctx, window, hurry)
	s.stop()
	select {
	case <-s.running:
	case <-ctx.Done():
	}
	// Until Run has returned, a reader may still re-arm a socket; that is harmless. A
	// connection closed above is closed once (close does nothing the second time).
	s.conns.each(func(c *Conn) { c.close(errShutdown) })
	var err error
	if err = waitCtx(ctx, &s.live); err != nil {
		s.conns.each(func(c *Conn) { c.release() })
	}
	s.writers.stop()
	// Readers, releasers and the publishing goroutine are counted in s.wg.
	if werr := waitCtx(ctx, &s.wg); err == nil {
		err = werr
	}
	if err != nil {
		s.publishes.cancel() // what is still queued for the other nodes fails at once
	}
	return err
}

// waitCtx waits for wg, or for ctx to end.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats counts connection-level events since start.
type Stats struct {
	Connections   int    // open connections on this node
	SlowConsumers uint64 // connections dropped because their queue was full
	// PublishesDropped counts frames made here (client events) not sent to the
	// other nodes because the publish queue was full; PublishesFailed those whose publish
	// failed. Local subscribers got them either way.
	PublishesDropped uint64
	PublishesFailed  uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.conns.len(), SlowConsumers: s.slowConsumers.Load(),
		PublishesDropped: s.publishes.dropped.Load(), PublishesFailed: s.publishes.failed.Load(),
	}
}

// spawn runs f on a goroutine the server waits for in Shutdown.
func (s *Server) spawn(f func()) { s.wg.Go(f) }

// closeOnPanic, deferred on a goroutine that handles a connection before it is registered,
// turns a panic into closing nc alone, logged once with its stack.
func (s *Server) closeOnPanic(where string, nc net.Conn) {
	if v := recover(); v != nil {
		s.log.Error("panic while serving a connection; it is closed", "in", where,
			"panic", v, "stack", string(debug.Stack()))
		_ = nc.Close()
	}
}

// closeOnPanic, deferred on a goroutine that works for c, turns a panic into releasing c
// alone, logged once with its stack. A lock the panicking code held stays held; the sections
// under c's locks only move slices and flags.
func (c *Conn) closeOnPanic(where string) {
	if v := recover(); v != nil {
		c.logPanic(where, v)
		c.release()
	}
}

// logPanic logs a recovered panic of c's with the stack of the goroutine that recovered it.
func (c *Conn) logPanic(where string, v any) {
	c.srv.log.Error("panic while serving a connection; it is closed", "in", where,
		"app_id", c.App().ID, "socket_id", c.id, "panic", v, "stack", string(debug.Stack()))
}

// ServeHTTP upgrades the request to a WebSocket and hands the socket to the poller; it
// returns at once so no goroutine stays with the connection (gobwas/ws: UpgradeHTTP hijacks the connection).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "key") // copied now: chi recycles its route context on return
	origin := r.Header.Get("Origin")
	protocol := r.URL.Query().Get("protocol")
	if !s.accepted.Load() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		s.log.Debug("websocket upgrade refused", "err", err)
		return
	}
	raw, ok := unwrapConn(nc)
	// The HTTP server's read and write deadlines no longer apply to the socket.
	if !s.hs.begin(raw, time.Time{}) {
		refuse(nc, nil, errShutdown)
		return
	}
	defer s.hs.end(raw)
	defer s.closeOnPanic("handshake", nc)
	if !ok || (rw != nil && rw.Reader.Buffered() > 0) {
		// Clients send nothing before the 101; bytes here break the framing.
		refuse(nc, nil, errInvalidMessage)
		return
	}
	s.accept(raw, nil, key, origin, protocol)
}

// accept runs the checks that come before the handshake (Pusher's WebSocket protocol docs) and
// registers the connection. head, when not empty, is the 101 response still to be written:
// it leaves in the same write as the first frame, the refusal or connection_established.
func (s *Server) accept(nc net.Conn, head []byte, key, origin, protocol string) {
	app, err := s.apps.ByKey(key)
	if err != nil {
		s.log.Info("connection refused: unknown app key")
		s.metrics.App(metrics.UnknownApp).Closed(errUnknownApp.Code)
		refuse(nc, head, errUnknownApp)
		return
	}
	stats := s.metrics.App(app.ID)
	if protocol != "" {
		if v, err := strconv.Atoi(protocol); err == nil && (v < 5 || v > 7) {
			s.log.Info("connection refused: unsupported protocol", "app_id", app.ID, "protocol", v)
			stats.Closed(errUnsupportedProto.Code)
			refuse(nc, head, errUnsupportedProto)
			return
		}
	}
	if !originAllowed(app.AllowedOrigins, origin) {
		s.log.Info("connection refused: origin not allowed", "app_id", app.ID, "origin", origin)
		stats.Closed(errOriginNotAllowed.Code)
		refuse(nc, head, errOriginNotAllowed)
		return
	}
	// The socket id comes first: the shared state records each connection by it.
	socketID := newSocketID()
	ctx := s.deadlines.context()
	if err := s.occupancy.Connect(ctx, app.ID, socketID, app.MaxConnections); err != nil {
		if errors.Is(err, registry.ErrOverQuota) {
			s.log.Info("connection refused: over quota", "app_id", app.ID)
			stats.LimitHit(metrics.LimitMaxConnections)
			stats.Closed(errOverQuota.Code)
			refuse(nc, head, errOverQuota)
		} else {
			s.log.Error("connection refused: occupancy unavailable", "app_id", app.ID, "err", err)
			stats.Closed(4100)
			refuse(nc, head, &Error{4100, "Server is unavailable, try again"})
		}
		return
	}
	socket, tlsSock := tlsSocketOf(nc)
	fd, err := netpoll.FD(socket)
	if err != nil {
		s.log.Error("connection refused: no file descriptor", "err", err)
		_ = s.occupancy.Disconnect(ctx, app.ID, socketID)
		_ = nc.Close()
		return
	}
	c := &Conn{srv: s, id: socketID, nc: nc, fd: fd, tls: tlsSock, stats: stats}
	c.app.Store(app)
	c.lastSeen.Store(time.Now().UnixNano())
	if app.UserAuthenticationTimeout > 0 {
		c.unauthorizedSince.Store(c.lastSeen.Load())
	}
	// Once registered, c is written by the writers only (Shutdown or a reload may close it
	// at once): a TLS connection's records are kept for them from now on.
	c.holdWrites(true)
	s.acceptMu.RLock()
	if !s.accepted.Load() {
		s.acceptMu.RUnlock()
		_ = s.occupancy.Disconnect(ctx, app.ID, socketID)
		c.holdWrites(false)
		stats.Closed(errShutdown.Code)
		refuse(nc, head, errShutdown)
		return
	}
	// Under acceptMu: Shutdown's close-all pass cannot miss it.
	if !s.conns.put(c) {
		// The id is already another connection's (odds of about 1 in 10^20): its record is
		// that connection's, so it stays.
		s.acceptMu.RUnlock()
		c.holdWrites(false)
		stats.Closed(4100)
		refuse(nc, head, &Error{4100, "Server is unavailable, try again"})
		return
	}
	s.live.Add(1)
	s.acceptMu.RUnlock()
	stats.Connected()
	data := `{"socket_id":"` + c.id + `","activity_timeout":` +
		strconv.Itoa(max(int(app.ActivityTimeout/time.Second), 1)) + `}`
	if s.debug {
		c.logOpened(origin)
	}
	// Written at once (the socket is empty), with the 101 when it is still to go.
	established := prefixedEventFrame(head, "pusher:connection_established", "", data)
	stats.Sent(1, len(established)-len(head))
	c.send(established, true)
	if err := c.watch(); err != nil {
		s.log.Error("connection dropped: poller", "err", err)
		c.release()
		return
	}
	// The apps may have been replaced since the look-up above, before AppsReplaced saw c.
	c.refreshApp()
}

// broadcast queues an event payload made on this node for the other nodes (see
// publishRemote) and on the local subscribers of channel (except the socket except). Neither
// waits for Redis. The remote queue comes first: a local subscriber that answers this frame
// makes its answer after this frame is queued for the other nodes, so they get the two in
// that order.
func (s *Server) broadcast(appID, channel string, payload []byte, except string) {
	s.publishRemote(appID, channel, except, payload)
	s.hub.publish(appID, channel, except, func() []byte { return textFrame(payload) })
}

// refuse writes e and a close frame with its code to a socket that was never registered,
// after head (the 101 response when it is still to be written), then closes it.
func refuse(nc net.Conn, head []byte, e *Error) {
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	bufs := net.Buffers{head, errorFrame(e), closeFrame(e.Code, e.Message)}
	_, _ = bufs.WriteTo(nc)
	_ = nc.Close()
}

// newSocketID returns a random socket id of the form "123.456" (Pusher's WebSocket protocol docs).
func newSocketID() string {
	b := strconv.AppendUint(nil, rand.Uint64N(1e10)+1, 10)
	b = append(b, '.')
	return string(strconv.AppendUint(b, rand.Uint64N(1e10)+1, 10))
}
