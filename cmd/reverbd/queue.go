package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
)

// newQueue builds the delivery queue REVERB_QUEUE_CONNECTION names. For the redis queue it
// also returns the Redis client, which the caller closes after the queue has shut down.
func newQueue(cfg *config.Config, worker *jobs.Worker, log *slog.Logger) (jobs.Queue, *redis.Client, error) {
	if cfg.QueueConnection != "redis" {
		return jobs.NewMemoryQueue(worker, cfg.QueueConcurrency, cfg.QueueSize), nil, nil
	}
	opt, err := cfg.RedisOptions()
	if err != nil {
		return nil, nil, err
	}
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	rdb := redis.NewClient(opt)
	q := jobs.NewAsynqQueue(jobs.AsynqParams{
		Redis:        rdb,
		Worker:       worker,
		Rules:        jobs.Rules{Timeout: cfg.QueueTimeout, Deadline: cfg.QueueDeadline},
		Queue:        cfg.QueueName,
		Concurrency:  cfg.QueueConcurrency,
		PollInterval: cfg.QueuePollInterval,
		Log:          log,
	})
	return q, rdb, nil
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
