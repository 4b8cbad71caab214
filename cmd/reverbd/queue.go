package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
)

// newRedis returns the Redis client the redis queue and the cluster share, or nil when
// neither is configured. The caller closes it after both have stopped.
func newRedis(cfg *config.Config, log *slog.Logger) (redis.UniversalClient, error) {
	if cfg.QueueConnection != "redis" && !cfg.ScalingEnabled {
		return nil, nil
	}
	opt, err := cfg.RedisUniversalOptions()
	if err != nil {
		return nil, err
	}
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	return redis.NewUniversalClient(opt), nil
}

// newQueue builds the delivery queue REVERB_QUEUE_CONNECTION names; with enqueueOnly, the
// redis queue runs no workers (REVERB_QUEUE_WORKERS=false).
func newQueue(cfg *config.Config, rdb redis.UniversalClient, worker *jobs.Worker, log *slog.Logger, enqueueOnly bool) jobs.Queue {
	if cfg.QueueConnection != "redis" {
		return jobs.NewMemoryQueue(worker, cfg.QueueConcurrency, cfg.QueueSize)
	}
	return jobs.NewAsynqQueue(jobs.AsynqParams{
		Redis:        rdb,
		Worker:       worker,
		Rules:        jobs.Rules{Timeout: cfg.QueueTimeout, Deadline: cfg.QueueDeadline},
		Queue:        cfg.AsynqQueue(),
		Concurrency:  cfg.QueueConcurrency,
		PollInterval: cfg.QueuePollInterval,
		EnqueueOnly:  enqueueOnly,
		Log:          log,
	})
}

// healthy reports whether q can take triggers; the memory queue always can.
func healthy(q jobs.Queue) bool {
	if h, ok := q.(interface{ Healthy() bool }); ok {
		return h.Healthy()
	}
	return true
}

// redisLogger routes go-redis's own messages (dial failures while Redis is away) to slog
// at debug level; the queue's health check reports outages once, at error level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
