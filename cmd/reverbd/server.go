package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/ws"
)

// publicTimeouts bound how long a client may take to send a request on the public port, so
// that a slow or stalled client is cut off instead of holding a connection forever. A
// WebSocket connection is free of them once upgraded.
type publicTimeouts struct {
	handshake time.Duration // a new connection's first request, until the 101 or the hand-off to HTTP
	header    time.Duration // the request line and headers of each HTTP request
	request   time.Duration // each whole HTTP request, body included
}

var defaultTimeouts = publicTimeouts{handshake: 10 * time.Second, header: 10 * time.Second, request: 30 * time.Second}

// server is the whole object graph of one reverbd process; newServer wires it.
type server struct {
	cfg      *config.Config
	log      *slog.Logger
	ready    atomic.Bool
	draining atomic.Bool // from the first moment of the stop: /up answers 503 "draining"
	// restarts receives a restart request (the control socket, the cluster's restart turn);
	// serve then stops as on SIGTERM.
	restarts chan string
	// hardStop, when closed, cuts the stop short (the second signal); nil: never.
	hardStop <-chan struct{}
	control  *controlSocket // nil when it could not be bound
	turns    *restartTurns  // nil on a single node

	ws       *ws.Server
	worker   *jobs.Worker
	queue    jobs.Queue
	redis    redis.UniversalClient // nil with the memory queue and no scaling
	cluster  *cluster              // nil on a single node
	webhooks *webhooks
	metrics  *metrics.Metrics // nil when metrics are off
	http     *http.Server
	admin    *http.Server
	closeUI  func() error

	// What a reload (SIGHUP) changes: see reload.go.
	apps     *registry.Apps
	cert     *certificate   // nil without TLS
	level    *slog.LevelVar // the logger's level; nil: not reloaded
	reloads  atomic.Int64   // reloads asked for so far
	reloadMu sync.Mutex     // one reload at a time
}

// newServer wires the rooms together: api and ws meet the queue and the shared state only
// through registry values and the small interfaces each room declares.
func newServer(cfg *config.Config, log *slog.Logger) (*server, error) {
	return newServerTimeouts(cfg, log, defaultTimeouts)
}

// newServerTimeouts is newServer with the given public timeouts.
func newServerTimeouts(cfg *config.Config, log *slog.Logger, timeouts publicTimeouts) (*server, error) {
	apps := registry.NewApps(cfg.Apps)
	var cert *certificate
	if cfg.TLS() {
		var err error
		if cert, err = loadCertificate(cfg, log); err != nil {
			return nil, err
		}
	}
	m := newMetrics(cfg)
	rdb, err := newRedis(cfg, log)
	if err != nil {
		return nil, err
	}
	if rdb != nil && m != nil {
		rdb.AddHook(m.RedisHook())
	}
	var (
		occupancy registry.Occupancy = registry.NewMemoryOccupancy()
		cache     registry.Cache     = registry.NewMemoryCache()
		publisher ws.Publisher
		cl        *cluster
		hooks     *webhooks
	)
	if cfg.ScalingEnabled {
		cl = newCluster(cfg, apps, rdb, log)
		occupancy, cache, publisher = cl.occupancy, cl.cache, cl.publisher()
		hooks = newWebhooks(cfg, cl.hooks, apps, rdb, m, log)
	} else {
		feed := newMemoryWebhookFeed(cfg, apps, occupancy.(*registry.MemoryOccupancy), log)
		hooks = newWebhooks(cfg, feed, apps, rdb, m, log)
	}

	// One record of the channels outside the catalogues: a shape is logged once, whether a
	// trigger or a subscribe names it first.
	outsiders := registry.NewOutsiders(log.With("component", "catalogue"), m)
	wsSrv, err := ws.New(ws.Params{
		Apps: apps, Occupancy: occupancy, Cache: cache, Publisher: publisher,
		Webhooks:   hooks.feed,
		Metrics:    m,
		Outsiders:  outsiders,
		Log:        log.With("component", "ws"),
		WriteLimit: cfg.WriteBufferLimit,
		// The API's limit on channel names holds on subscribes and client events too.
		MaxChannelNameLength: paramLimit(cfg.MaxChannelNameLength),
		MaxEventNameLength:   paramLimit(cfg.MaxEventNameLength),
		HandshakeTimeout:     timeouts.handshake,
		TLS:                  cert.tlsConfig(),
	})
	if err != nil {
		return nil, err
	}
	// On one node the worker hands events to this node's hub; in a cluster it publishes them
	// to every node, and terminate requests go to every node too.
	var (
		deliverer jobs.Deliverer = wsSrv.Hub()
		term      api.Terminator = terminator{wsSrv}
	)
	if cl != nil {
		cl.attach(rdb, cfg, wsSrv, m)
		deliverer, term = cl.relay, cl.relay
	}
	worker := jobs.NewWorker(jobs.WorkerParams{
		Deliverer: deliverer,
		Cache:     cache,
		CacheTTL:  cfg.CacheTTL,
		Rules:     jobs.Rules{Timeout: cfg.QueueTimeout, Deadline: cfg.QueueDeadline},
		Log:       log.With("component", "jobs"),
		Metrics:   m,
	})
	queue := newQueue(cfg, rdb, worker, log.With("component", "jobs"), !cfg.QueueWorkers)

	s := &server{cfg: cfg, log: log, ws: wsSrv, worker: worker, queue: queue, redis: rdb, cluster: cl, webhooks: hooks, metrics: m,
		restarts: make(chan string, 1), apps: apps, cert: cert}
	s.registerMetrics()
	apiSrv := api.New(api.Params{
		Apps: apps, Queue: queue, Occupancy: occupancy, Cache: cache,
		Terminator:            term,
		PathPrefix:            cfg.ServerPath,
		MaxRequestSize:        cfg.MaxRequestSize,
		MaxEventDataSize:      paramLimit(cfg.MaxEventDataSize),
		MaxEventNameLength:    paramLimit(cfg.MaxEventNameLength),
		MaxChannelsPerTrigger: paramLimit(cfg.MaxChannelsPerTrigger),
		MaxBatchSize:          paramLimit(cfg.MaxBatchSize),
		MaxChannelNameLength:  paramLimit(cfg.MaxChannelNameLength),
		TimestampWindow:       paramWindow(cfg.HTTPTimestampWindow),
		Ready:                 s.isReady,
		Draining:              s.draining.Load,
		Log:                   log, // api adds component=api itself
		Metrics:               m,
		Outsiders:             outsiders,
	})

	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	// Unknown paths and wrong methods answer with the API's JSON error body, under the prefix
	// (the subrouter inherits them) and outside it. WebSocket upgrades never get here unless
	// their path is wrong (see ws.Server.Listener).
	r.NotFound(apiSrv.NotFound)
	r.MethodNotAllowed(apiSrv.MethodNotAllowed)
	routes := func(r chi.Router) {
		apiSrv.Routes(r)
		wsSrv.Routes(r)
	}
	if prefix := routePrefix(cfg.ServerPath); prefix != "" {
		r.Route(prefix, routes)
	} else {
		routes(r)
	}
	s.http = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: timeouts.header,
		ReadTimeout:       timeouts.request, // ServeHTTP clears it on an upgraded socket
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    ws.DefaultMaxHeaderBytes, // the Listener's bound (net/http allows 4 KiB more)
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if s.admin, s.closeUI, err = newAdminServer(cfg, m, occupancy); err != nil {
		return nil, err
	}
	return s, nil
}

// serve runs every component, the public listener on ln and the admin listener on adminLn
// (nil: none), until ctx ends or a restart is asked, then stops them in order (see stop).
// The ws server owns ln: its Drain closes it.
func (s *server) serve(ctx context.Context, ln, adminLn net.Listener) error {
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	// WebSocket upgrades are taken off the listener before net/http sees them.
	public := s.ws.Listener(ln, routePrefix(s.cfg.ServerPath))

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Go(func() {
		if err := s.ws.Run(runCtx); err != nil {
			errs <- fmt.Errorf("ws: %w", err)
		}
	})
	wg.Go(func() {
		if err := s.queue.Run(runCtx); err != nil {
			errs <- fmt.Errorf("jobs: %w", err)
		}
	})
	wg.Go(func() {
		if err := s.http.Serve(public); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http: %w", err)
		}
	})
	if s.cluster != nil {
		s.cluster.start(s.ws, s.redis)
		s.turns = newRestartTurns(s.redis, s.cfg.ScalingKeyPrefix(), s.cluster.node, true, s.cfg.ShutdownTimeout, s.log)
		s.turns.start(func() { s.requestRestart("restart turn") })
	}
	s.webhooks.start()
	s.startControl(ln)
	if adminLn != nil {
		wg.Go(func() {
			if err := s.admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("admin: %w", err)
			}
		})
		s.log.Info("admin listener started", "addr", adminLn.Addr().String())
	}
	s.ready.Store(true)
	s.log.Info("reverbd started", "addr", listenAddr(s.cfg, ln), "path", s.cfg.ServerPath,
		"apps", len(s.cfg.Apps), "queue", s.cfg.QueueConnection, "version", version)

	var runErr error
	reason := "signal"
	select {
	case <-ctx.Done():
	case reason = <-s.restarts:
	case runErr = <-errs:
		reason = "error"
	}
	s.stop(reason)
	cancelRun()
	wg.Wait()
	return runErr
}

// listenAddr is the address ln is bound to, written with the configured host: 0.0.0.0:8080
// stays that, not [::]:8080. The port is the bound one, which REVERB_SERVER_PORT=0 leaves to
// the kernel.
func listenAddr(cfg *config.Config, ln net.Listener) string {
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		return net.JoinHostPort(cfg.ServerHost, strconv.Itoa(tcp.Port))
	}
	return cfg.Addr()
}

// isReady is GET /up: started, the queue can take triggers and, in a cluster, the relay's
// subscription is confirmed.
func (s *server) isReady() bool {
	return s.ready.Load() && healthy(s.queue) && (s.cluster == nil || s.cluster.subscribed.Load())
}

// routePrefix normalizes REVERB_SERVER_PATH to "" or "/prefix".
func routePrefix(path string) string {
	prefix := strings.TrimRight(path, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	return prefix
}

// paramLimit turns a limit of the configuration, where 0 means no limit, into one of api.Params
// and ws.Params, where 0 takes the default and a negative value means no limit.
func paramLimit(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

// paramWindow is paramLimit for REVERB_HTTP_TIMESTAMP_WINDOW: 0 there means not checked.
func paramWindow(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// terminator adapts ws.Server to api.Terminator.
type terminator struct{ ws *ws.Server }

func (t terminator) TerminateUser(_ context.Context, appID, userID string) error {
	t.ws.TerminateUser(appID, userID)
	return nil
}
