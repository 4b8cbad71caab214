package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
)

// work is `reverbd worker`: only the asynq workers, no sockets. Each delivery is stored in
// the cache channels' Redis cache and published to the socket nodes, for teams that scale
// workers apart from socket nodes. It needs the redis queue and scaling.
func work(ctx context.Context, args []string, stderr io.Writer) error {
	// A SIGHUP meant for the socket nodes (kill -HUP $(pidof reverbd)) must not end a worker,
	// which is what SIGHUP does by default; a worker has nothing to reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	f, _, err := parseFlags("worker", args, stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.envFile, os.Environ())
	if err != nil {
		return err
	}
	if f.debug {
		cfg.Debug = true
	}
	if !cfg.ScalingEnabled {
		return errors.New("reverbd worker needs REVERB_SCALING_ENABLED=true (and the redis queue): it only publishes to socket nodes")
	}
	log := newLogger(cfg, stderr)
	stop := onSignal(hup, func() {
		log.Info("SIGHUP ignored: reverbd worker reloads nothing; restart it to apply a change")
	})
	defer stop()
	return runWorker(ctx, cfg, log)
}

// runWorker runs the delivery workers until ctx ends or its turn at a `reverbd restart`
// comes, then shuts the queue down within REVERB_SHUTDOWN_TIMEOUT.
func runWorker(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	rdb, err := newRedis(cfg, log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	checkRedis(ctx, cfg, log)
	node := "worker-" + newNodeID()
	relay := jobs.NewRedisRelay(rdb, cfg.ScalingPubSubChannel(), node, nil, log.With("component", "relay"), nil)
	worker := jobs.NewWorker(jobs.WorkerParams{
		Deliverer: relay,
		Cache:     registry.NewRedisCache(rdb, cfg.ScalingKeyPrefix()),
		CacheTTL:  cfg.CacheTTL,
		Rules:     jobs.Rules{Timeout: cfg.QueueTimeout, Deadline: cfg.QueueDeadline},
		Log:       log.With("component", "jobs"),
	})
	queue := newQueue(cfg, rdb, worker, log.With("component", "jobs"), false)
	// The webhook POSTs the socket nodes enqueue, on their own asynq server (see webhooks).
	hooks := newWebhookQueue(cfg, rdb, nil, log.With("component", "webhooks"), false)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		if err := hooks.Run(runCtx); err != nil {
			log.Error("webhook queue stopped", "err", err)
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
	log.Info("reverbd worker stopped")
	if runErr != nil {
		return fmt.Errorf("worker: %w", runErr)
	}
	return nil
}
