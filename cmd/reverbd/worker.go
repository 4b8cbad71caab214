package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// work is `reverbd worker`: only the asynq workers, no sockets. Each delivery is stored in
// the cache channels' Redis cache and published to the socket nodes, for teams that scale
// workers apart from socket nodes. It needs the redis queue and scaling. With
// REVERB_WORKER_ADMIN_PORT it serves the admin listener, its metrics counting what it delivers and
// the webhook POSTs it makes.
func work(ctx context.Context, args []string, stderr io.Writer) error {
	// A SIGHUP meant for the socket nodes (kill -HUP $(pidof reverbd)) must not end a worker,
	// which is what SIGHUP does by default.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	f, _, err := parseFlags("worker", args, stderr)
	if err != nil {
		return err
	}
	load := func() (*config.Config, error) {
		cfg, err := config.Load(f.envFile, os.Environ())
		if err == nil && f.debug {
			cfg.Debug = true
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if !cfg.ScalingEnabled {
		return errors.New("reverbd worker needs REVERB_SCALING_ENABLED=true (and the redis queue): it only publishes to socket nodes")
	}
	log := newLogger(cfg, stderr)
	// A worker's admin listener is on REVERB_WORKER_ADMIN_PORT; REVERB_ADMIN_PORT, read from the
	// same .env, is the socket node's.
	cfg.AdminPort = cfg.WorkerAdminPort
	// The deliveries matter more than their metrics: a port that cannot be bound costs the
	// admin listener only.
	var (
		adminLn net.Listener
		m       *metrics.Metrics
	)
	if cfg.AdminPort != 0 {
		if adminLn, err = listen(cfg.AdminAddr(), "REVERB_WORKER_ADMIN_PORT"); err != nil {
			log.Error("admin listener not started: the worker runs without it (no metrics)", "err", err)
		} else {
			m = newMetrics(cfg)
		}
	}
	stop := onSignal(hup, func() { reloadWorker(m, load, log) })
	defer stop()
	return runWorker(ctx, cfg, log, m, adminLn)
}

// reloadWorker is a worker's SIGHUP: with the metrics on, the apps are read again for their
// app_id labels (an app added on the socket nodes by a reload counts under its own id);
// nothing else changes until a restart.
func reloadWorker(m *metrics.Metrics, load func() (*config.Config, error), log *slog.Logger) {
	if m == nil {
		log.Info("SIGHUP ignored: reverbd worker reloads nothing; restart it to apply a change")
		return
	}
	next, err := load()
	if err != nil {
		log.Error("reload failed: the metrics keep the apps they had", "err", err)
		return
	}
	m.SetApps(appIDs(next))
	log.Info("apps reloaded for the metrics; restart the worker to apply any other change", "apps", len(next.Apps))
}

// runWorker runs the delivery workers, and the admin listener on adminLn (nil: none) with m
// (nil: no metrics), until ctx ends or its turn at a `reverbd restart` comes, then shuts the
// queue down within REVERB_SHUTDOWN_TIMEOUT. It closes adminLn.
func runWorker(ctx context.Context, cfg *config.Config, log *slog.Logger, m *metrics.Metrics, adminLn net.Listener) error {
	if adminLn != nil {
		defer adminLn.Close()
	}
	rdb, err := newRedis(cfg, log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if m != nil {
		rdb.AddHook(m.RedisHook())
	}
	checkRedis(ctx, cfg, log)
	node := "worker-" + newNodeID()
	relay := jobs.NewRedisRelay(rdb, cfg.ScalingPubSubChannel(), node, nil, log.With("component", "relay"), m)
	worker := jobs.NewWorker(jobs.WorkerParams{
		Deliverer: relay,
		Cache:     registry.NewRedisCache(rdb, cfg.ScalingKeyPrefix()),
		CacheTTL:  cfg.CacheTTL,
		Rules:     jobs.Rules{Timeout: cfg.QueueTimeout, Deadline: cfg.QueueDeadline},
		Log:       log.With("component", "jobs"),
		Metrics:   m,
	})
	queue := newQueue(cfg, rdb, worker, log.With("component", "jobs"), false)
	// The webhook POSTs the socket nodes enqueue, on their own asynq server (see webhooks).
	hooks := newWebhookQueue(cfg, rdb, m, log.With("component", "webhooks"), false)
	registerQueueMetrics(m, queue, worker)
	registerRelayMetrics(m, relay)
	admin, closeUI, err := newAdminServer(cfg, m, nil) // no sockets: no presence lists
	if err != nil {
		return err
	}
	defer func() {
		if err := closeUI(); err != nil {
			log.Warn("web ui close", "err", err)
		}
	}()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		if err := hooks.Run(runCtx); err != nil {
			log.Error("webhook queue stopped", "err", err)
		}
	}()
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		if adminLn == nil {
			return
		}
		log.Info("admin listener started", "addr", adminLn.Addr().String())
		if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	turns := newRestartTurns(rdb, cfg.ScalingKeyPrefix(), node, false, cfg.ShutdownTimeout, log)
	turns.start(stopRun)
	log.Info("reverbd worker started", "queue", cfg.AsynqQueue(), "webhook_queue", cfg.AsynqWebhookQueue(), "node", node, "version", version)
	runErr := queue.Run(runCtx) // returns when ctx ends (SIGINT/SIGTERM) or at the restart turn
	stopRun()
	<-hooksDone
	turns.stop()
	log.Info("reverbd worker stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := queue.Shutdown(stopCtx); err != nil {
		log.Warn("queue shutdown", "err", err)
	}
	if err := hooks.Shutdown(stopCtx); err != nil {
		log.Warn("webhook queue shutdown", "err", err)
	}
	turns.release()
	// Last, so a scrape during the stop still sees the deliveries it finishes.
	if err := admin.Shutdown(stopCtx); err != nil {
		log.Warn("admin shutdown", "err", err)
	}
	<-adminDone
	log.Info("reverbd worker stopped")
	if runErr != nil {
		return fmt.Errorf("worker: %w", runErr)
	}
	return nil
}
