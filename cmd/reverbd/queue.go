package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

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

// redisCheckTimeout bounds the Redis ping at start.
const redisCheckTimeout = 2 * time.Second

// checkRedis pings Redis once at start, when the redis queue or scaling needs it. When it
// does not answer, one error names the setting in use (never the password) and what to
// check. The process keeps running, as while Redis is away later: triggers and /up answer
// 503 until Redis answers, and the queue logs when it is reachable again.
func checkRedis(ctx context.Context, cfg *config.Config, log *slog.Logger) {
	if cfg.QueueConnection != "redis" && !cfg.ScalingEnabled {
		return
	}
	opt, err := cfg.RedisUniversalOptions()
	if err != nil {
		return // config.Validate reports it
	}
	opt.MaxRetries = -1 // one try: go-redis's retries would only delay start-up
	opt.DialTimeout = redisCheckTimeout
	rdb := redis.NewUniversalClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, redisCheckTimeout)
	defer cancel()
	if err = rdb.Ping(ctx).Err(); err == nil {
		return
	}
	setting, check := redisSetting(cfg)
	log.Error("redis does not answer: triggers and /up answer 503 until it does (reverbd keeps trying)",
		"redis", setting, "err", err, "check", check)
}

// redisSetting describes where the Redis settings came from, for an operator, with the
// password masked, and what to check when that Redis does not answer.
func redisSetting(cfg *config.Config) (setting, check string) {
	const running = "that Redis runs and accepts connections from this host, "
	switch {
	case cfg.RedisAddrs != "" && cfg.RedisSentinelMaster != "":
		return fmt.Sprintf("REDIS_ADDRS=%s REDIS_SENTINEL_MASTER=%s", cfg.RedisAddrs, cfg.RedisSentinelMaster),
			running + "that REDIS_ADDRS lists the sentinels, and REDIS_PASSWORD"
	case cfg.RedisAddrs != "":
		return "REDIS_ADDRS=" + cfg.RedisAddrs, running + "that REDIS_ADDRS lists the cluster nodes, and REDIS_PASSWORD"
	case cfg.RedisURL != "":
		masked := "(unparsable)"
		if u, err := url.Parse(cfg.RedisURL); err == nil {
			masked = u.Redacted()
		}
		return "REDIS_URL=" + masked, running + "and the host, port, password and database in REDIS_URL (it replaces REDIS_HOST and REDIS_PORT)"
	default:
		return fmt.Sprintf("REDIS_HOST=%s REDIS_PORT=%d REDIS_DB=%d", cfg.RedisHost, cfg.RedisPort, cfg.RedisDB),
			running + "and REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_DB (or set REDIS_URL)"
	}
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
		// On one node nobody else delivers what is left: the stop delivers it first.
		DrainOnShutdown: !cfg.ScalingEnabled,
		Log:             log,
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
