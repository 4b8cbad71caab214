package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
)

// work is `reverbd worker`: only the asynq workers, no sockets. Each delivery is stored in
// the cache channels' Redis cache and published to the socket nodes, for teams that scale
// workers apart from socket nodes. It needs the redis queue and scaling.
func work(ctx context.Context, args []string, stderr io.Writer) error {
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
	return runWorker(ctx, cfg, newLogger(cfg, stderr))
}

// runWorker runs the delivery workers until ctx ends, then shuts the queue down.
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
	log.Info("reverbd worker started", "queue", cfg.AsynqQueue(), "node", node, "version", version)
	runErr := queue.Run(ctx) // returns when ctx ends (SIGINT/SIGTERM)
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := queue.Shutdown(stopCtx); err != nil {
		log.Warn("queue shutdown", "err", err)
	}
	log.Info("reverbd worker stopped")
	if runErr != nil {
		return fmt.Errorf("worker: %w", runErr)
	}
	return nil
}
